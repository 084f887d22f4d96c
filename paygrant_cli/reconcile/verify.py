"""Second looks at what a window could not settle alone, and the outbox's stuck and dead events.

Each look is a point query (a batch of outbox events by payment, a payment, a session), so its cost
follows the number of suspects, which a healthy system keeps near zero, not the size of the range.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Collection, Coroutine, Iterable
from dataclasses import replace
from typing import Any

import grpc

from paygrant.entitlement.v1 import entitlement_pb2 as epb
from paygrant.payment.v1 import payment_pb2 as ppb
from paygrant.timestamps import from_timestamp, to_timestamp
from paygrant_cli.reconcile.drift import (
    GRANTED_WITHOUT_PAYMENT,
    OUTBOX_DEAD,
    OUTBOX_STUCK,
    PAID_NOT_GRANTED,
    REFUNDED_STILL_GRANTED,
    SHORT_PAYMENT,
    Finding,
    Findings,
)
from paygrant_cli.reconcile.matching import Suspects, check_payment, payment_finding, purchase_finding
from paygrant_cli.reconcile.services import CALL_TIMEOUT, ReconcileFailed, Services, failure_line

LOOKUPS_AT_ONCE = 16
EVENT_PAGE = 1_000


class Verifier:
    """Settles suspects: an event still on its way (younger than `stale_before`) is in flight, not drift."""

    def __init__(self, services: Services, findings: Findings, stale_before: dt.datetime) -> None:
        self._services = services
        self._findings = findings
        self._stale_before = stale_before
        self.in_flight = 0

    async def settle(self, suspects: Suspects) -> None:
        """Looks again at every suspect, adds what is drift to the findings, and empties `suspects`."""
        events = await self.events_of([*suspects.ungranted, *suspects.still_granted])
        for payment_id, finding in suspects.ungranted.items():
            if self._delivering(events.get(payment_id, [])):
                self.in_flight += 1
                continue
            dead = [e.event_id for e in events.get(payment_id, []) if e.status == ppb.OUTBOX_EVENT_STATUS_DEAD]
            self._findings.add(PAID_NOT_GRANTED, _with_event(finding, dead))
        for payment_id, purchases in suspects.still_granted.items():
            if self._delivering(events.get(payment_id, [])):
                self.in_flight += 1
                continue
            for purchase in purchases:
                self._findings.add(REFUNDED_STILL_GRANTED, purchase_finding(purchase, "its payment is refunded"))
        await _all(self._orphans(payment_id, purchases) for payment_id, purchases in suspects.orphans.items())
        await _all(self._short(payment) for payment in suspects.short.values())
        suspects.clear()

    async def events_of(self, payment_ids: Collection[str]) -> dict[str, list[ppb.OutboxEvent]]:
        """The outbox events of these payments (sent ones are deleted after the retention period)."""
        found: dict[str, list[ppb.OutboxEvent]] = {}
        ids = list(payment_ids)
        for start in range(0, len(ids), 1_000):
            request = ppb.ListOutboxEventsRequest(payment_ids=ids[start : start + 1_000], page_size=EVENT_PAGE)
            async for event in self.outbox_events(request):
                found.setdefault(event.payment_id, []).append(event)
        return found

    async def outbox_events(self, request: ppb.ListOutboxEventsRequest) -> AsyncIterator[ppb.OutboxEvent]:
        """Every event the request matches, page after page."""
        while True:
            call = self._services.payments.ListOutboxEvents(request, timeout=CALL_TIMEOUT)
            page = await self._services.ask_payments(call, "ListOutboxEvents")
            for event in page.events:
                yield event
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    async def check_outbox(self, payment_ids: Collection[str] | None) -> None:
        """Dead events, and events pending since before `stale_before`; only those of `payment_ids` when given."""
        dead = ppb.ListOutboxEventsRequest(status=ppb.OUTBOX_EVENT_STATUS_DEAD, page_size=EVENT_PAGE)
        async for event in self.outbox_events(dead):
            if payment_ids is None or event.payment_id in payment_ids:
                detail = f"dead after {event.attempts} attempts: {event.last_error}"
                self._findings.add(OUTBOX_DEAD, _event_finding(event, detail))
        stuck = ppb.ListOutboxEventsRequest(
            status=ppb.OUTBOX_EVENT_STATUS_PENDING,
            created_before=to_timestamp(self._stale_before),
            page_size=EVENT_PAGE,
        )
        async for event in self.outbox_events(stuck):
            if payment_ids is None or event.payment_id in payment_ids:
                written = from_timestamp(event.created_at).isoformat(timespec="seconds")
                detail = f"pending since {written}, {event.attempts} attempts; last error: {event.last_error or 'none'}"
                self._findings.add(OUTBOX_STUCK, _event_finding(event, detail))

    def _delivering(self, events: list[ppb.OutboxEvent]) -> bool:
        return any(
            e.status == ppb.OUTBOX_EVENT_STATUS_PENDING and from_timestamp(e.created_at) >= self._stale_before
            for e in events
        )

    async def _orphans(self, payment_id: str, purchases: list[epb.Purchase]) -> None:
        """Purchases whose payment was not at their instant: unknown, or recorded at another time."""
        try:
            payment = await self._services.payments.GetPayment(
                ppb.GetPaymentRequest(payment_id=payment_id), timeout=CALL_TIMEOUT
            )
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.NOT_FOUND:
                where = f"payment service at {self._services.payment_target}: GetPayment"
                raise ReconcileFailed(failure_line(where, error)) from None
            for purchase in purchases:
                if purchase.status == epb.PURCHASE_STATUS_ACTIVE:
                    detail = "its payment is unknown to the payment service"
                    self._findings.add(GRANTED_WITHOUT_PAYMENT, purchase_finding(purchase, detail))
            return
        # Dated otherwise than its purchases: checked against just these (the payment is not re-reported).
        scratch = Suspects()
        check_payment(payment, purchases, self._findings, scratch)
        for refunded in scratch.still_granted.values():
            for purchase in refunded:
                self._findings.add(REFUNDED_STILL_GRANTED, purchase_finding(purchase, "its payment is refunded"))

    async def _short(self, payment: ppb.Payment) -> None:
        """A SHORT payment is money held for nothing unless a later payment completed its session."""
        call = self._services.payments.GetCheckout(
            ppb.GetCheckoutRequest(session_id=payment.session_id), timeout=CALL_TIMEOUT
        )
        session = await self._services.ask_payments(call, "GetCheckout")
        if session.status != ppb.CHECKOUT_STATUS_PAID:
            status = ppb.CheckoutStatus.Name(session.status).removeprefix("CHECKOUT_STATUS_")
            detail = (
                f"{payment.amount} {payment.currency} received; its session is {status}, "
                f"{session.received_amount} of {session.amount} paid"
            )
            self._findings.add(SHORT_PAYMENT, payment_finding(payment, detail))


def _with_event(finding: Finding, dead_event_ids: list[str]) -> Finding:
    if not dead_event_ids:
        return finding
    return replace(finding, detail=f"{finding.detail}; its event is dead", event_id=dead_event_ids[0])


def _event_finding(event: ppb.OutboxEvent, detail: str) -> Finding:
    kind = ppb.OutboxEventType.Name(event.type).removeprefix("OUTBOX_EVENT_TYPE_")
    return Finding(f"{kind}: {detail}", payment_id=event.payment_id, event_id=event.event_id)


async def _all(lookups: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Runs the lookups, LOOKUPS_AT_ONCE at a time."""
    gate = asyncio.Semaphore(LOOKUPS_AT_ONCE)

    async def gated(lookup: Coroutine[Any, Any, None]) -> None:
        async with gate:
            await lookup

    await asyncio.gather(*(gated(lookup) for lookup in lookups))
