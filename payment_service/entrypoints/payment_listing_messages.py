"""ListPayments and StreamPayments requests read into checked queries, and the stream's batches as messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from paygrant.payment.v1 import payment_pb2 as pb
from paygrant.timestamps import time_field, timestamp_fields
from payment_service.domain.errors import InvalidRequest
from payment_service.domain.payment import PaymentOutcome, PaymentStatus
from payment_service.domain.payment_listing import (
    PaymentFilters,
    PaymentKey,
    PaymentListQuery,
    PaymentStreamQuery,
    StreamedLine,
    StreamedPayment,
    parse_list_query,
    parse_stream_query,
)

# The outcome numbers a filter may carry; UNSPECIFIED means any, other numbers are refused naming `outcome`.
OUTCOMES: dict[int, PaymentOutcome | None] = {
    pb.PAYMENT_OUTCOME_UNSPECIFIED: None,
    pb.PAYMENT_OUTCOME_GRANTED: PaymentOutcome.GRANTED,
    pb.PAYMENT_OUTCOME_SHORT: PaymentOutcome.SHORT,
    pb.PAYMENT_OUTCOME_DUPLICATE: PaymentOutcome.DUPLICATE,
}


def list_query(request: pb.ListPaymentsRequest) -> PaymentListQuery:
    """The query of a ListPayments request, every field checked; empty or unset filters mean any."""
    if request.outcome not in OUTCOMES:
        raise InvalidRequest("outcome", f"{request.outcome} is not a value of PaymentOutcome")
    filters = PaymentFilters(
        user_id=request.user_id or None,
        session_id=request.session_id or None,
        outcome=OUTCOMES[request.outcome],
        late=request.late if request.HasField("late") else None,
        refund_due=request.refund_due if request.HasField("refund_due") else None,
        paid_from=time_field(request, "paid_from"),
        paid_to=time_field(request, "paid_to"),
    )
    return parse_list_query(filters, request.page_size, request.page_token)


def stream_query(request: pb.StreamPaymentsRequest) -> PaymentStreamQuery:
    """The query of a StreamPayments request, every field checked."""
    return parse_stream_query(
        time_field(request, "start_time"),
        time_field(request, "end_time"),
        request.after_key,
        request.batch_size,
        request.user_id,
        request.with_lines,
    )


STATUS_NUMBERS = {PaymentStatus.PAID: pb.PAYMENT_STATUS_PAID, PaymentStatus.REFUNDED: pb.PAYMENT_STATUS_REFUNDED}
OUTCOME_NUMBERS = {outcome: number for number, outcome in OUTCOMES.items() if outcome is not None}


def payment_batch_message(
    payments: Sequence[StreamedPayment], lines: Mapping[str, Sequence[StreamedLine]]
) -> pb.PaymentBatch:
    """A non-empty batch of streamed payments, with their sessions' `lines` (where given) and the key to resume
    after the last one.

    Each payment is built in place in the batch (`add`), sub-messages from dicts: a message built apart and
    then put in the batch is copied, which would double the cost of the millions a stream sends.
    """
    message = pb.PaymentBatch(last_key=PaymentKey.of(payments[-1]).token())
    add = message.payments.add
    for p in payments:
        refund = None
        if p.refunded_at is not None and p.refund_reason is not None:
            refund = {
                "refunded_at": timestamp_fields(p.refunded_at),
                "reason": p.refund_reason,
                "refunded_by": p.refunded_by or "",
                "external": bool(p.refund_external),
            }
        add(
            payment_id=p.id,
            qpay_payment_id=p.qpay_payment_id or "",
            session_id=p.session_id,
            user_id=p.user_id,
            status=STATUS_NUMBERS[p.status],
            amount=p.amount,
            currency=p.currency,
            lines=[
                {"item": {"kind": line.kind, "id": line.item_id}, "title": line.title, "amount": line.amount}
                for line in lines.get(p.session_id, ())
            ],
            paid_at=timestamp_fields(p.paid_at),
            outcome=OUTCOME_NUMBERS[p.outcome],
            late=p.late,
            overpaid=p.overpaid,
            refund_due=p.refund_due,
            refund=refund,
        )
    return message
