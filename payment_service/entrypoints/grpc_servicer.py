"""PaymentService over gRPC: translates protobuf to commands and errors to status codes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeAlias

import grpc

from paygrant.common.v1 import common_pb2
from paygrant.grpc_errors import translate_errors, translate_stream_errors
from paygrant.payment.v1 import payment_pb2, payment_pb2_grpc
from paygrant.request_id import current_request_id
from paygrant.timestamps import to_timestamp
from payment_service.domain import errors
from payment_service.domain.catalog import ItemRef, Product
from payment_service.domain.checkout import CheckoutLine, CheckoutSession
from payment_service.domain.outbox import OutboxStatus
from payment_service.domain.outbox_listing import require_event_ids
from payment_service.domain.payment import Payment
from payment_service.domain.refund import RefundRequest
from payment_service.entrypoints.outbox_messages import outbox_event, outbox_query
from payment_service.entrypoints.payment_listing_messages import list_query, payment_batch_message, stream_query
from payment_service.service_layer import catalog
from payment_service.service_layer.checkout import Checkouts, CreateCheckout
from payment_service.service_layer.checkout_cancellation import CheckoutCancellation
from payment_service.service_layer.outbox_admin import (
    list_outbox_events,
    outbox_report,
    resend_payment_event,
    retry_dead,
)
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from payment_service.service_layer.payment_listing import list_payments, stream_payments
from payment_service.service_layer.payment_refunds import PaymentRefunds
from payment_service.service_layer.queries import get_payment, payments_by_qpay_ids
from payment_service.service_layer.session_cache import NO_SESSION_CACHE, SessionCache
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

ERRORS: dict[type[Exception], grpc.StatusCode] = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyRecorded: grpc.StatusCode.ABORTED,  # a concurrent write won; retrying succeeds
    errors.Conflict: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.InvalidTransition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    errors.UpstreamUnavailable: grpc.StatusCode.UNAVAILABLE,
    errors.UpstreamRejected: grpc.StatusCode.INTERNAL,
    errors.PaymentServiceError: grpc.StatusCode.INTERNAL,
}
handles_errors = translate_errors(ERRORS)
handles_stream_errors = translate_stream_errors(ERRORS)


def item_ref(message: common_pb2.ItemRef) -> ItemRef:
    """The domain ItemRef of a protobuf one."""
    return ItemRef(message.kind, message.id)


def _item(item: ItemRef) -> common_pb2.ItemRef:
    return common_pb2.ItemRef(kind=item.kind, id=item.id)


def _product(product: Product) -> payment_pb2.Product:
    return payment_pb2.Product(
        item=_item(product.item),
        title=product.title,
        amount=product.amount,
        currency=product.currency,
        active=product.active,
        updated_at=to_timestamp(product.updated_at),
    )


def _lines(lines: Sequence[CheckoutLine]) -> list[payment_pb2.CheckoutLine]:
    return [payment_pb2.CheckoutLine(item=_item(line.item), title=line.title, amount=line.amount) for line in lines]


def _checkout(session: CheckoutSession) -> payment_pb2.Checkout:
    invoice = None
    if session.invoice is not None:
        invoice = payment_pb2.Invoice(
            invoice_id=session.invoice.invoice_id,
            qr_text=session.invoice.qr_text,
            qr_image=session.invoice.qr_image,
            short_url=session.invoice.short_url,
            deeplinks=[payment_pb2.Deeplink(name=d["name"], link=d["link"]) for d in session.invoice.deeplinks],
        )
    return payment_pb2.Checkout(
        session_id=session.id,
        status=payment_pb2.CheckoutStatus.Value(f"CHECKOUT_STATUS_{session.status.value}"),
        amount=session.amount,
        currency=session.currency,
        invoice=invoice,
        expires_at=to_timestamp(session.expires_at),
        user_id=session.user_id,
        lines=_lines(session.lines),
        created_at=to_timestamp(session.created_at),
        payment_id=session.payment_id or "",
        received_amount=session.received_amount,
        cancelled_at=to_timestamp(session.cancelled_at) if session.cancelled_at is not None else None,
    )


def _payment(payment: Payment, lines: Sequence[CheckoutLine] = ()) -> payment_pb2.Payment:
    """A Payment message; its lines are its session's, given (listings leave them empty)."""
    return payment_pb2.Payment(
        payment_id=payment.id,
        qpay_payment_id=payment.qpay_payment_id or "",
        session_id=payment.session_id,
        user_id=payment.user_id,
        status=payment_pb2.PaymentStatus.Value(f"PAYMENT_STATUS_{payment.status.value}"),
        amount=payment.amount,
        currency=payment.currency,
        lines=_lines(lines),
        paid_at=to_timestamp(payment.paid_at),
        outcome=payment_pb2.PaymentOutcome.Value(f"PAYMENT_OUTCOME_{payment.outcome.value}"),
        late=payment.late,
        overpaid=payment.overpaid,
        refund_due=payment.refund_due,
        refund=_refund(payment),
    )


def _refund(payment: Payment) -> payment_pb2.Refund | None:
    record, at = payment.refund_record, payment.refunded_at
    if record is None or at is None:
        return None
    return payment_pb2.Refund(
        refunded_at=to_timestamp(at), reason=record.reason, refunded_by=record.refunded_by, external=record.external
    )


class PaymentServicer(payment_pb2_grpc.PaymentServiceServicer):
    """The PaymentService RPCs."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        checkouts: Checkouts,
        confirmation: PaymentConfirmation,
        cancellation: CheckoutCancellation,
        refunds: PaymentRefunds,
        session_cache: SessionCache = NO_SESSION_CACHE,
    ) -> None:
        self._uow_factory = uow_factory
        self._checkouts = checkouts
        self._confirmation = confirmation
        self._cancellation = cancellation
        self._refunds = refunds
        self._session_cache = session_cache

    @handles_errors
    async def PutProduct(self, request: payment_pb2.PutProductRequest, context: Context) -> payment_pb2.Product:
        if not request.HasField("product"):
            raise errors.InvalidRequest("product", "is required")
        p = request.product
        command = catalog.PutProduct(item_ref(p.item), p.title, p.amount, p.currency, p.active)
        return _product(await catalog.put_product(command, self._uow_factory))

    @handles_errors
    async def ListProducts(
        self, request: payment_pb2.ListProductsRequest, context: Context
    ) -> payment_pb2.ListProductsResponse:
        products = await catalog.list_products(request.kind, request.include_inactive, self._uow_factory)
        return payment_pb2.ListProductsResponse(products=[_product(p) for p in products])

    @handles_errors
    async def CreateCheckout(
        self, request: payment_pb2.CreateCheckoutRequest, context: Context
    ) -> payment_pb2.Checkout:
        items = tuple(item_ref(i) for i in request.items)
        command = CreateCheckout(request.idempotency_key, request.user_id, items, current_request_id())
        return _checkout(await self._checkouts.create(command))

    @handles_errors
    async def GetCheckout(self, request: payment_pb2.GetCheckoutRequest, context: Context) -> payment_pb2.Checkout:
        return _checkout(await self._checkouts.get(request.session_id))

    @handles_errors
    async def CheckPayment(self, request: payment_pb2.CheckPaymentRequest, context: Context) -> payment_pb2.Checkout:
        return _checkout(await self._confirmation.check(request.session_id))

    @handles_errors
    async def CancelCheckout(
        self, request: payment_pb2.CancelCheckoutRequest, context: Context
    ) -> payment_pb2.Checkout:
        return _checkout(await self._cancellation.cancel(request.session_id))

    @handles_errors
    async def RefundPayment(self, request: payment_pb2.RefundPaymentRequest, context: Context) -> payment_pb2.Payment:
        command = RefundRequest(
            request.payment_id, request.reason, request.actor, request.idempotency_key, request.external
        )
        payment, session = await self._refunds.refund(command)
        return _payment(payment, session.lines)

    @handles_errors
    async def GetPayment(self, request: payment_pb2.GetPaymentRequest, context: Context) -> payment_pb2.Payment:
        payment, session = await get_payment(request.payment_id, self._uow_factory)
        return _payment(payment, session.lines)

    @handles_errors
    async def GetOutboxState(
        self, request: payment_pb2.GetOutboxStateRequest, context: Context
    ) -> payment_pb2.OutboxState:
        report = await outbox_report(self._uow_factory, dead_limit=0)
        return payment_pb2.OutboxState(
            pending=report.counts[OutboxStatus.PENDING],
            sent=report.counts[OutboxStatus.SENT],
            dead=report.counts[OutboxStatus.DEAD],
            oldest_pending_created_at=to_timestamp(report.oldest_pending_at),
            session_cache_fallbacks=self._session_cache.fallbacks,
        )

    @handles_errors
    async def ListPayments(
        self, request: payment_pb2.ListPaymentsRequest, context: Context
    ) -> payment_pb2.ListPaymentsResponse:
        page = await list_payments(list_query(request), self._uow_factory)
        return payment_pb2.ListPaymentsResponse(
            payments=[_payment(p) for p in page.payments], next_page_token=page.next_page_token
        )

    @handles_stream_errors
    async def StreamPayments(
        self, request: payment_pb2.StreamPaymentsRequest, context: Context
    ) -> AsyncIterator[payment_pb2.PaymentBatch]:
        async for batch in stream_payments(stream_query(request), self._uow_factory):
            yield payment_batch_message(batch.payments, batch.lines)

    @handles_errors
    async def LookupQpayPayments(
        self, request: payment_pb2.LookupQpayPaymentsRequest, context: Context
    ) -> payment_pb2.LookupQpayPaymentsResponse:
        found = await payments_by_qpay_ids(request.qpay_payment_ids, self._uow_factory)
        return payment_pb2.LookupQpayPaymentsResponse(payments=[_payment(p) for p in found])

    @handles_errors
    async def ListOutboxEvents(
        self, request: payment_pb2.ListOutboxEventsRequest, context: Context
    ) -> payment_pb2.ListOutboxEventsResponse:
        page = await list_outbox_events(outbox_query(request), self._uow_factory)
        return payment_pb2.ListOutboxEventsResponse(
            events=[outbox_event(row) for row in page.events], next_page_token=page.next_page_token
        )

    @handles_errors
    async def RetryOutboxEvents(
        self, request: payment_pb2.RetryOutboxEventsRequest, context: Context
    ) -> payment_pb2.RetryOutboxEventsResponse:
        retried = await retry_dead(self._uow_factory, require_event_ids(request.event_ids))
        return payment_pb2.RetryOutboxEventsResponse(retried=retried)

    @handles_errors
    async def ResendPaymentEvent(
        self, request: payment_pb2.ResendPaymentEventRequest, context: Context
    ) -> payment_pb2.OutboxEvent:
        return outbox_event(await resend_payment_event(request.payment_id, self._uow_factory))
