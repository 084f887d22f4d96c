"""`--fix` and `--dry-run`: each finding with a repair is repaired through the services' own idempotent paths.

- paid_not_granted: the payment's dead event is retried, or its event is sent again (ResendPaymentEvent);
  the entitlement service adds only what is missing, so nothing is granted twice;
- granted_without_payment, refunded_still_granted: RevokePurchase, reason "reconcile";
- outbox_dead: RetryOutboxEvents;
- paid_at_qpay_pending_here: CheckPayment (QPay is asked again and the payment recorded);
- refunded_at_qpay_paid_here: RefundPayment with external = true (QPay already returned the money).

Nothing is ever deleted, and nothing is refunded by reconcile's own decision: a double purchase or a
duplicate payment stays reported for a person to decide. After repairing, `--fix` waits until the
events it queued are delivered (or `fix_timeout` passes), so a reconcile right after reports clean.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from paygrant.entitlement.v1 import entitlement_pb2 as epb
from paygrant.payment.v1 import payment_pb2 as ppb
from paygrant_cli.reconcile.drift import (
    GRANTED_WITHOUT_PAYMENT,
    OUTBOX_DEAD,
    PAID_AT_QPAY_PENDING_HERE,
    PAID_NOT_GRANTED,
    REFUNDED_AT_QPAY_PAID_HERE,
    REFUNDED_STILL_GRANTED,
    Finding,
    Findings,
)
from paygrant_cli.reconcile.services import CALL_TIMEOUT, Services, failure_line
from paygrant_cli.reconcile.verify import Verifier

ACTOR = "paygrant-reconcile"
REASON = "reconcile"


@dataclass
class Action:
    """One repair: planned (a dry run), done, queued (an event not delivered yet) or failed."""

    drift_class: str
    action: str
    target: str
    outcome: str = "planned"
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        """The action in the JSON report."""
        return {
            "class": self.drift_class,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "detail": self.detail,
        }


Step = Callable[[], Awaitable[str]]  # carries an action out; returns a detail (an event id to wait for)


class Repairer:
    """Plans the repairs of the findings kept, and carries them out unless dry."""

    def __init__(self, services: Services, verifier: Verifier, dry_run: bool, fix_timeout: float) -> None:
        self._services = services
        self._verifier = verifier
        self._dry_run = dry_run
        self._fix_timeout = fix_timeout
        self.actions: list[Action] = []
        self._steps: list[tuple[Action, Step]] = []
        self._awaited: dict[str, Action] = {}  # payment id -> the action whose event must be delivered

    async def repair(self, findings: Findings) -> list[Action]:
        """Plans every repair; then, unless dry, carries them out in order and waits for the events queued."""
        self._plan(findings)
        if self._dry_run:
            return self.actions
        for action, step in self._steps:
            try:
                action.detail = await step()
                action.outcome = "done"
            except grpc.aio.AioRpcError as error:
                action.outcome, action.detail = "failed", failure_line(action.action, error)
        await self._await_delivery()
        return self.actions

    def _plan(self, findings: Findings) -> None:
        rows = {name: tally.rows for name, tally in findings.tallies.items()}
        retried: set[str] = set()
        for row in rows[PAID_NOT_GRANTED.name]:
            if row.event_id:
                retried.add(row.event_id)
                self._add(PAID_NOT_GRANTED.name, "RetryOutboxEvents", row.event_id, self._retry(row), row.payment_id)
            else:
                self._add(
                    PAID_NOT_GRANTED.name, "ResendPaymentEvent", row.payment_id, self._resend(row), row.payment_id
                )
        for row in rows[OUTBOX_DEAD.name]:
            if row.event_id not in retried:
                self._add(OUTBOX_DEAD.name, "RetryOutboxEvents", row.event_id, self._retry(row), row.payment_id)
        for drift_class in (GRANTED_WITHOUT_PAYMENT, REFUNDED_STILL_GRANTED):
            for row in rows[drift_class.name]:
                self._add(drift_class.name, "RevokePurchase", row.purchase_id, self._revoke(row))
        for row in rows[PAID_AT_QPAY_PENDING_HERE.name]:
            if row.session_id:
                self._add(PAID_AT_QPAY_PENDING_HERE.name, "CheckPayment", row.session_id, self._recheck(row))
        for row in rows[REFUNDED_AT_QPAY_PAID_HERE.name]:
            self._add(REFUNDED_AT_QPAY_PAID_HERE.name, "RefundPayment", row.payment_id, self._record_refund(row))

    def _add(self, drift_class: str, action: str, target: str, step: Step, awaited_payment: str = "") -> None:
        planned = Action(drift_class, action, target)
        self.actions.append(planned)
        self._steps.append((planned, step))
        if awaited_payment:
            self._awaited[awaited_payment] = planned

    def _retry(self, row: Finding) -> Step:
        async def step() -> str:
            request = ppb.RetryOutboxEventsRequest(event_ids=[row.event_id])
            answer = await self._services.payments.RetryOutboxEvents(request, timeout=CALL_TIMEOUT)
            return f"{answer.retried} event(s) pending again"

        return step

    def _resend(self, row: Finding) -> Step:
        async def step() -> str:
            request = ppb.ResendPaymentEventRequest(payment_id=row.payment_id)
            event = await self._services.payments.ResendPaymentEvent(request, timeout=CALL_TIMEOUT)
            return f"event {event.event_id} queued"

        return step

    def _revoke(self, row: Finding) -> Step:
        async def step() -> str:
            request = epb.RevokePurchaseRequest(purchase_id=row.purchase_id, reason=REASON, actor=ACTOR)
            answer = await self._services.entitlements.RevokePurchase(request, timeout=CALL_TIMEOUT)
            return "revoked" if answer.changed else "was revoked already"

        return step

    def _recheck(self, row: Finding) -> Step:
        async def step() -> str:
            request = ppb.CheckPaymentRequest(session_id=row.session_id)
            session = await self._services.payments.CheckPayment(request, timeout=CALL_TIMEOUT)
            status = ppb.CheckoutStatus.Name(session.status).removeprefix("CHECKOUT_STATUS_")
            return f"session {status}, {session.received_amount} of {session.amount} received"

        return step

    def _record_refund(self, row: Finding) -> Step:
        async def step() -> str:
            request = ppb.RefundPaymentRequest(
                payment_id=row.payment_id,
                reason=f"{REASON}: QPay reports payment {row.qpay_payment_id} refunded",
                idempotency_key=f"reconcile-qpay-refund-{row.payment_id}",
                external=True,
                actor=ACTOR,
            )
            payment = await self._services.payments.RefundPayment(request, timeout=CALL_TIMEOUT)
            return "refund recorded" if payment.status == ppb.PAYMENT_STATUS_REFUNDED else "not refunded"

        return step

    async def _await_delivery(self) -> None:
        """Waits until no event of the repaired payments is pending: delivered, or dead again (failed); what is
        still pending after fix_timeout is reported queued."""
        waiting = {pid: a for pid, a in self._awaited.items() if a.outcome == "done"}
        deadline = time.monotonic() + self._fix_timeout
        while waiting:
            events = await self._verifier.events_of(list(waiting))
            for payment_id in list(waiting):
                statuses = {event.status for event in events.get(payment_id, [])}
                if ppb.OUTBOX_EVENT_STATUS_PENDING in statuses:
                    continue
                action = waiting.pop(payment_id)
                if ppb.OUTBOX_EVENT_STATUS_DEAD in statuses:
                    action.outcome, action.detail = "failed", f"{action.detail}; the event died again"
                else:
                    action.detail += "; delivered"
            if waiting and time.monotonic() >= deadline:
                for action in waiting.values():
                    action.outcome = "queued"
                    action.detail += f"; not delivered within {self._fix_timeout:g} s"
                return
            if waiting:
                await asyncio.sleep(0.2)
