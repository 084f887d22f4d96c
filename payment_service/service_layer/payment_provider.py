"""The payment provider as the use cases see it: invoices and payments in domain terms.

The QPay adapter (adapters/qpay/provider.py) implements it. Every method raises only the
service's own errors: UpstreamUnavailable when trying again later may help, UpstreamRejected
when the provider refused, and UnknownPayment when it has no such payment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Protocol

from payment_service.domain.checkout import CheckoutSession, Invoice, ReportedInvoice
from payment_service.domain.payment import ReportedPayment


class PaymentProvider(Protocol):
    """Opens invoices and reports, refunds and lists payments."""

    async def open_invoice(self, session: CheckoutSession, sender_invoice_no: str, callback_url: str) -> Invoice:
        """An invoice for the session's amount, numbered `sender_invoice_no`, calling `callback_url` when paid."""

    async def get_invoice(self, invoice_id: str) -> ReportedInvoice | None:
        """The invoice as the provider reports it (the number it was opened with); None if it has none."""

    async def cancel_invoice(self, invoice_id: str) -> None:
        """Makes an unpaid invoice unpayable (done too if it is cancelled already); InvoiceAlreadyPaid if it is paid."""

    async def get_payment(self, payment_id: str) -> ReportedPayment:
        """One payment as the provider reports it; UnknownPayment if it has none."""

    async def invoice_payments(self, invoice_id: str) -> list[ReportedPayment]:
        """The payments made on an invoice."""

    async def refund_payment(self, payment_id: str, note: str | None = None) -> None:
        """Returns a payment's money, or has already; PaymentSettled where the provider cannot return it."""

    def payments_between(self, start: dt.datetime, end: dt.datetime) -> AsyncIterator[ReportedPayment]:
        """Every payment of this merchant's invoices made in [start, end], page by page."""
