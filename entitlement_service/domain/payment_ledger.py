"""Applying payment events to the purchases they touch, in memory: the rules of ApplyPaymentEvent(s).

A completion records the payment's items not recorded yet (a re-sent completion adds nothing);
an item the user already owns through another payment is still recorded, flagged as a double
purchase. A refund revokes the payment's active purchases, or, when its completion has not come
yet, marks the payment so the late completion's purchases are recorded revoked (kept as history,
so reconciliation sees the payment was applied). An event naming a payment of another user is
refused and changes nothing.

The ledger starts from what the transaction read (the purchases of the events' payments, the
active purchases of the (user, item) pairs they touch, the early refund marks) and applies events
one after another, each seeing what the ones before it did; the caller then writes what changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from entitlement_service.domain.entitlement import NOT_OWNED, Entitlement, Ownership, OwnershipQuery, derive_entitlement
from entitlement_service.domain.events import PaymentEvent
from entitlement_service.domain.purchase import ItemRef, Purchase, ensure_bought_by, owned_through_another_payment
from paygrant.contract_rules import EventType

# Why a refund's purchases were revoked, for the history.
REFUNDED = "refunded"

# A user and an item: the key of an entitlement.
Holding = tuple[str, ItemRef]


def holdings_paid_for(events: Iterable[PaymentEvent]) -> set[Holding]:
    """The (user, item) pairs the completions among `events` pay for."""
    completions = [event for event in events if event.type is EventType.PAYMENT_COMPLETED]
    return {(event.user_id, paid.item) for event in completions for paid in event.items}


def holdings_touched(events: Iterable[PaymentEvent], of_payment: Mapping[str, list[Purchase]]) -> set[Holding]:
    """The (user, item) pairs whose active purchases the ledger needs: the items of each completion,
    and the items each refunded payment recorded."""
    touched = holdings_paid_for(events)
    for event in events:
        if event.type is EventType.PAYMENT_REFUNDED:
            touched.update((p.user_id, p.item) for p in of_payment.get(event.payment_id, []))
    return touched


class PaymentLedger:
    """Purchases of the payments a batch of events touches, and what applying the events changed.

    The ledger takes over the dicts and lists it is given (it adds to them as events apply).
    """

    def __init__(
        self,
        of_payment: dict[str, list[Purchase]],
        active: dict[Holding, list[Purchase]],
        refund_marked: Iterable[str],
        now: dt.datetime,
    ) -> None:
        self._of_payment = of_payment
        self._active = active
        self._refund_marked = set(refund_marked)
        self._now = now
        self.added: list[Purchase] = []
        self.revoked: list[Purchase] = []
        self.refund_marks: dict[str, str] = {}  # payment id -> the id of the refund event that marked it
        self.changed: dict[Holding, None] = {}  # the holdings whose entitlement may differ now, in order

    def apply(self, event: PaymentEvent) -> None:
        """Applies one event after those applied before; PaymentOfAnotherUser leaves the ledger as it was."""
        recorded = self._of_payment.setdefault(event.payment_id, [])
        ensure_bought_by(recorded, event.user_id)
        if event.type is EventType.PAYMENT_COMPLETED:
            self._complete(event, recorded)
        else:
            self._refund(event, recorded)

    def entitlements(self) -> dict[Holding, Entitlement | None]:
        """What the active purchases of every changed holding give now (None: nothing)."""
        return {
            (user, item): derive_entitlement(user, item, self._active.get((user, item), []))
            for user, item in self.changed
        }

    def answers(self) -> dict[OwnershipQuery, Ownership]:
        """What an ownership check answers now for every changed holding."""
        return {
            OwnershipQuery(user, item): NOT_OWNED if entitlement is None else entitlement.ownership
            for (user, item), entitlement in self.entitlements().items()
        }

    def _complete(self, event: PaymentEvent, recorded: list[Purchase]) -> None:
        already = {purchase.item for purchase in recorded}
        new = [
            Purchase.bought(
                user_id=event.user_id,
                item=paid.item,
                amount=paid.amount,
                currency=event.currency,
                payment_id=event.payment_id,
                event_id=event.event_id,
                purchased_at=event.occurred_at,
            )
            for paid in event.items
            if paid.item not in already
        ]
        refunded_early = event.payment_id in self._refund_marked
        for purchase in new:
            if refunded_early:
                purchase.revoke(self._now, reason=REFUNDED)
                continue
            active = self._active.setdefault((event.user_id, purchase.item), [])
            purchase.double_purchase = owned_through_another_payment(active, event.payment_id)
            active.append(purchase)
            self.changed[event.user_id, purchase.item] = None
        recorded.extend(new)
        self.added.extend(new)

    def _refund(self, event: PaymentEvent, recorded: list[Purchase]) -> None:
        if not recorded:
            if event.payment_id not in self._refund_marked:
                self._refund_marked.add(event.payment_id)
                self.refund_marks[event.payment_id] = event.event_id
            return
        for purchase in recorded:
            if purchase.is_active:
                purchase.revoke(self._now, reason=REFUNDED)
                self.revoked.append(purchase)
                self.changed[purchase.user_id, purchase.item] = None
