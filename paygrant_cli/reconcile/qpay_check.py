"""`--against-qpay`: QPay's own payment list compared with the payment records, a day of the range at a time.

QPay's list (`POST /payment/list`, the invoice code's payments, 100 per page) is read for one chunk of
the range plus a look-back (a payment is recorded here at or after QPay's payment time, later when its
callback was missed), so memory holds one chunk of QPay rows, never the range. Each chunk:

- QPay's rows dated in it are looked up here by their ids (LookupQpayPayments, a page at a time): a PAID
  row recorded nowhere is a missed callback (its session is read from the invoice's sender_invoice_no);
  a REFUNDED row recorded as PAID is a refund paygrant never heard of;
- the payments recorded here in the chunk are looked for among those rows; one that is not there is
  asked about directly (`GET /payment/{id}`): unknown to QPay, or refunded there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from paygrant.payment.v1 import payment_pb2 as ppb
from paygrant_cli.reconcile.drift import (
    PAID_AT_QPAY_PENDING_HERE,
    PAID_HERE_UNKNOWN_TO_QPAY,
    REFUNDED_AT_QPAY_PAID_HERE,
    DriftClass,
    Finding,
    Findings,
)
from paygrant_cli.reconcile.matching import payment_finding
from paygrant_cli.reconcile.services import CALL_TIMEOUT, ReconcileFailed, Services
from paygrant_cli.reconcile.streams import payment_batches
from payment_service.adapters.qpay.client import PAGE_LIMIT_MAX, QPayClient
from payment_service.adapters.qpay.errors import QPayError, QPayNotFound
from payment_service.adapters.qpay.models import QPayPayment

CHUNK = dt.timedelta(days=1)
LOOK_BACK = dt.timedelta(days=1)
LOOKUP_BATCH = 1_000


class QPayComparison:
    """Compares QPay's payments with the records over a range; counts QPay's rows read."""

    def __init__(self, services: Services, qpay: QPayClient, invoice_code: str, findings: Findings) -> None:
        self._services = services
        self._qpay = qpay
        self._invoice_code = invoice_code
        self._findings = findings
        self._reported: set[str] = set()  # QPay payment ids already reported (a row may be seen twice)
        self.read = 0

    async def compare(self, since: dt.datetime, until: dt.datetime, user_id: str) -> None:
        """Every chunk of [since, until); with `user_id`, only that user's records (QPay's rows name no user)."""
        for start, end in _chunks(since, until):
            at_qpay = {row.payment_id: row for row in await self._qpay_rows(start - LOOK_BACK, end)}
            dated_here = [row for row in at_qpay.values() if row.paid_at is not None and start <= row.paid_at < end]
            self.read += len(dated_here)
            if not user_id:
                await self._look_up(dated_here)
            await self._look_for(start, end, user_id, at_qpay)

    async def _qpay_rows(self, start: dt.datetime, end: dt.datetime) -> list[QPayPayment]:
        rows: list[QPayPayment] = []
        page = 1
        while True:
            try:
                listed = await self._qpay.list_payments(
                    object_type="INVOICE",
                    object_id=self._invoice_code,
                    start_date=start,
                    end_date=end,
                    page_number=page,
                )
            except QPayError as error:
                raise ReconcileFailed(f"QPay: POST /payment/list: {error}") from None
            rows.extend(row for row in listed.rows if row.paid_at is None or row.paid_at < end)
            if not listed.rows or page * PAGE_LIMIT_MAX >= listed.count:
                return rows
            page += 1

    async def _look_up(self, rows: list[QPayPayment]) -> None:
        """QPay's rows, found (or not) among the records."""
        for first in range(0, len(rows), LOOKUP_BATCH):
            batch = rows[first : first + LOOKUP_BATCH]
            request = ppb.LookupQpayPaymentsRequest(qpay_payment_ids=[row.payment_id for row in batch])
            call = self._services.payments.LookupQpayPayments(request, timeout=CALL_TIMEOUT)
            answer = await self._services.ask_payments(call, "LookupQpayPayments")
            recorded = {payment.qpay_payment_id: payment for payment in answer.payments}
            for row in batch:
                payment = recorded.get(row.payment_id)
                if payment is None and row.status == "PAID":
                    await self._missed_callback(row)
                elif payment is not None:
                    self._compare_status(payment, row.status)

    async def _look_for(
        self, start: dt.datetime, end: dt.datetime, user_id: str, at_qpay: dict[str, QPayPayment]
    ) -> None:
        """The chunk's records, found (or not) among QPay's rows."""
        async for batch in payment_batches(self._services, start, end, user_id, with_lines=False):
            for payment in batch:
                if not payment.qpay_payment_id:  # a free checkout: QPay never saw it
                    continue
                row = at_qpay.get(payment.qpay_payment_id)
                if row is not None:
                    self._compare_status(payment, row.status)
                    continue
                try:
                    asked = await self._qpay.get_payment(payment.qpay_payment_id)
                except QPayNotFound:
                    detail = f"QPay does not know payment {payment.qpay_payment_id}"
                    self._report(PAID_HERE_UNKNOWN_TO_QPAY, payment.qpay_payment_id, payment_finding(payment, detail))
                    continue
                except QPayError as error:
                    raise ReconcileFailed(f"QPay: GET /payment/{{id}}: {error}") from None
                self._compare_status(payment, asked.status)

    def _compare_status(self, payment: ppb.Payment, qpay_status: str) -> None:
        if qpay_status == "REFUNDED" and payment.status == ppb.PAYMENT_STATUS_PAID:
            detail = "QPay reports it REFUNDED; recorded here as PAID"
            self._report(REFUNDED_AT_QPAY_PAID_HERE, payment.qpay_payment_id, payment_finding(payment, detail))

    async def _missed_callback(self, row: QPayPayment) -> None:
        session_id = ""
        try:
            invoice = await self._qpay.get_invoice(row.object_id)
            session_id = invoice.sender_invoice_no.split(".")[0]  # a retry's invoice is "<session id>.<n>"
        except QPayError:
            pass  # reported without its session: the repair needs one, an operator does not
        paid_at = row.paid_at.isoformat(timespec="seconds") if row.paid_at else "an unknown time"
        detail = f"QPay has {row.amount} {row.currency} paid at {paid_at} on invoice {row.object_id}; not recorded"
        finding = Finding(detail, session_id=session_id, qpay_payment_id=row.payment_id)
        self._report(PAID_AT_QPAY_PENDING_HERE, row.payment_id, finding)

    def _report(self, drift_class: DriftClass, qpay_payment_id: str, finding: Finding) -> None:
        if qpay_payment_id in self._reported:
            return
        self._reported.add(qpay_payment_id)
        self._findings.add(drift_class, finding)


def _chunks(since: dt.datetime, until: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    start = since
    while start < until:
        end = min(start + CHUNK, until)
        yield start, end
        start = end
