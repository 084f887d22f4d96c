"""QPay as the service's payment provider: domain values in and out, QPay's failures translated.

Nothing QPay-shaped leaves this module: a QPay error becomes UpstreamUnavailable (retry later) or
UpstreamRejected (an INTERNAL failure, never the caller's INVALID_ARGUMENT), a missing payment
becomes UnknownPayment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterator

from payment_service.adapters.qpay.client import PAGE_LIMIT_MAX, QPayClient
from payment_service.adapters.qpay.errors import QPayError, QPayNotFound, qpay_failure
from payment_service.adapters.qpay.models import InvoiceRequest, QPayPayment
from payment_service.domain.checkout import CheckoutSession, Invoice, InvoiceAlreadyPaid, ReportedInvoice
from payment_service.domain.errors import UnknownPayment
from payment_service.domain.money import to_major
from payment_service.domain.payment import ReportedPayment
from payment_service.domain.refund import PaymentSettled

# QPay's limits on the free-text fields of an invoice.
RECEIVER_CODE_MAX = 45
DESCRIPTION_MAX = 255
# QPay's answers (400) to cancelling an invoice that is no longer open.
INVOICE_ALREADY_CANCELLED = "INVOICE_ALREADY_CANCELED"
INVOICE_PAID = "INVOICE_PAID"
# QPay's answers (400) to refunding a payment it cannot return, or has returned already.
PAYMENT_SETTLED = "PAYMENT_SETTLED"
PAYMENT_ALREADY_REFUNDED = "PAYMENT_ALREADY_CANCELED"


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except QPayError as error:
        raise qpay_failure(action, error) from error


def _reported(payment: QPayPayment) -> ReportedPayment:
    return ReportedPayment(
        qpay_payment_id=payment.payment_id,
        invoice_id=payment.object_id,
        status=payment.status,
        amount=payment.amount,
        currency=payment.currency,
        paid_at=payment.paid_at,
    )


class QPayProvider:
    """The PaymentProvider over one QPayClient and the merchant's invoice code."""

    def __init__(self, client: QPayClient, invoice_code: str) -> None:
        self._client = client
        self._invoice_code = invoice_code

    async def open_invoice(self, session: CheckoutSession, sender_invoice_no: str, callback_url: str) -> Invoice:
        """An invoice numbered `sender_invoice_no`, for the session's amount in major units."""
        with _translated("create the invoice"):
            request = InvoiceRequest(
                invoice_code=self._invoice_code,
                sender_invoice_no=sender_invoice_no,
                invoice_receiver_code=session.user_id[:RECEIVER_CODE_MAX],
                invoice_description=", ".join(line.title for line in session.lines)[:DESCRIPTION_MAX],
                amount=to_major(session.amount, session.currency),
                callback_url=callback_url,
            )
            created = await self._client.create_invoice(request)
        deeplinks = [{"name": link.name, "link": link.link} for link in created.deeplinks]
        return Invoice(created.invoice_id, created.qr_text, created.qr_image, created.short_url, deeplinks)

    async def get_invoice(self, invoice_id: str) -> ReportedInvoice | None:
        """QPay's record of the invoice (GET /invoice/{id}); None when QPay has none."""
        try:
            found = await self._client.get_invoice(invoice_id)
        except QPayNotFound:
            return None
        except QPayError as error:
            raise qpay_failure(f"report invoice {invoice_id}", error) from error
        return ReportedInvoice(found.invoice_id, found.sender_invoice_no)

    async def cancel_invoice(self, invoice_id: str) -> None:
        """Makes the invoice unpayable: done when QPay cancels it, or has it cancelled or unknown already.

        InvoiceAlreadyPaid when QPay refuses because the invoice is paid.
        """
        try:
            await self._client.cancel_invoice(invoice_id)
        except QPayNotFound:
            return  # QPay has no such invoice, so nobody can pay it
        except QPayError as error:
            if error.code == INVOICE_ALREADY_CANCELLED:
                return
            if error.code == INVOICE_PAID:
                raise InvoiceAlreadyPaid(f"QPay refused to cancel invoice {invoice_id}: it is paid") from error
            raise qpay_failure(f"cancel invoice {invoice_id}", error) from error

    async def get_payment(self, payment_id: str) -> ReportedPayment:
        """QPay's report of one payment; UnknownPayment when QPay has none."""
        try:
            payment = await self._client.get_payment(payment_id)
        except QPayNotFound as error:
            raise UnknownPayment(f"QPay knows no payment {payment_id}") from error
        except QPayError as error:
            raise qpay_failure(f"report payment {payment_id}", error) from error
        return _reported(payment)

    async def invoice_payments(self, invoice_id: str) -> list[ReportedPayment]:
        """The payments QPay lists for the invoice (POST /payment/check)."""
        with _translated("check the invoice"):
            found = await self._client.check_payment(invoice_id)
        return [_reported(row) for row in found.rows]

    async def refund_payment(self, payment_id: str, note: str | None = None) -> None:
        """Returns a card payment's money: done when QPay does it, or has done it already.

        PaymentSettled when QPay refuses because the payment is not a card payment; UnknownPayment
        when QPay has no such payment.
        """
        try:
            await self._client.refund_payment(payment_id, note=note)
        except QPayNotFound as error:
            raise UnknownPayment(f"QPay knows no payment {payment_id}") from error
        except QPayError as error:
            if error.code == PAYMENT_ALREADY_REFUNDED:
                return  # an earlier attempt returned it, and its answer was lost
            if error.code == PAYMENT_SETTLED:
                raise PaymentSettled(
                    f"QPay cannot return payment {payment_id}: it is settled (only card payments can be refunded "
                    "through QPay); return the money outside QPay, then record it with external = true",
                    "external",
                ) from error
            raise qpay_failure(f"refund payment {payment_id}", error) from error

    async def payments_between(self, start: dt.datetime, end: dt.datetime) -> AsyncIterator[ReportedPayment]:
        """Every payment on this merchant's invoice code in [start, end], fetched a page at a time."""
        page, listed = 1, 0
        while True:
            with _translated("list payments"):
                found = await self._client.list_payments(
                    object_type="INVOICE",
                    object_id=self._invoice_code,
                    start_date=start,
                    end_date=end,
                    page_number=page,
                    page_limit=PAGE_LIMIT_MAX,
                )
            for row in found.rows:
                yield _reported(row)
            listed += len(found.rows)
            if len(found.rows) < PAGE_LIMIT_MAX or listed >= found.count:
                return
            page += 1
