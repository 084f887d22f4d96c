"""Matching a window's payments with its purchases: what agrees, what is drift, what needs a second look.

A payment's purchases are dated at its paid_at, and a window holds whole instants of both streams
(streams.windows), so a payment and its purchases show up in the same window. What a window alone
cannot settle becomes a suspect, looked at again by verify.py: a payment whose purchases are
missing (its event may still be on its way), purchases whose payment is not in the window (it may be
dated otherwise, or unknown), a short payment (its session may have been paid in full since).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from paygrant.entitlement.v1 import entitlement_pb2 as epb
from paygrant.payment.v1 import payment_pb2 as ppb
from paygrant_cli.reconcile.drift import (
    AMOUNT_MISMATCH,
    DOUBLE_PURCHASE,
    DUPLICATE_PAYMENT,
    GRANTED_WITHOUT_PAYMENT,
    LATE_PAYMENT,
    SHORT_PAYMENT,
    Finding,
    Findings,
)


@dataclass
class Suspects:
    """What a window could not settle alone, by payment id, until verify.py looks again."""

    ungranted: dict[str, Finding] = field(default_factory=dict)  # paid, granted, an item not owned through it
    still_granted: dict[str, list[epb.Purchase]] = field(default_factory=dict)  # refunded, purchases active
    orphans: dict[str, list[epb.Purchase]] = field(default_factory=dict)  # purchases whose payment is elsewhere
    short: dict[str, ppb.Payment] = field(default_factory=dict)  # SHORT, not refunded, no refund due

    def __len__(self) -> int:
        return len(self.ungranted) + len(self.still_granted) + len(self.orphans) + len(self.short)

    def clear(self) -> None:
        """Forgets every suspect (once they are settled)."""
        for kind in (self.ungranted, self.still_granted, self.orphans, self.short):
            kind.clear()


def item_name(item: object) -> str:
    """An ItemRef of either contract as kind/id."""
    return f"{item.kind}/{item.id}"  # type: ignore[attr-defined]


def payment_finding(payment: ppb.Payment, detail: str, **more: str) -> Finding:
    """A finding about a payment."""
    return Finding(
        detail,
        payment_id=payment.payment_id,
        user_id=payment.user_id,
        session_id=payment.session_id,
        qpay_payment_id=payment.qpay_payment_id,
        **more,
    )


def purchase_finding(purchase: epb.Purchase, detail: str) -> Finding:
    """A finding about a purchase."""
    return Finding(
        detail,
        payment_id=purchase.payment_id,
        user_id=purchase.user_id,
        purchase_id=purchase.purchase_id,
        item=item_name(purchase.item),
    )


def check_window(
    payments: Sequence[ppb.Payment], purchases: Sequence[epb.Purchase], findings: Findings, suspects: Suspects
) -> None:
    """Matches the payments and purchases of one window of whole instants by payment id."""
    of_payment: dict[str, list[epb.Purchase]] = {}
    for purchase in purchases:
        if purchase.payment_id:  # grants by hand have no payment to agree with
            of_payment.setdefault(purchase.payment_id, []).append(purchase)
    for payment in payments:
        check_payment(payment, of_payment.pop(payment.payment_id, []), findings, suspects)
    for payment_id, orphans in of_payment.items():
        suspects.orphans.setdefault(payment_id, []).extend(orphans)


def check_payment(
    payment: ppb.Payment, purchases: Iterable[epb.Purchase], findings: Findings, suspects: Suspects
) -> None:
    """Checks one payment (with its lines) against the purchases it made."""
    active = [purchase for purchase in purchases if purchase.status == epb.PURCHASE_STATUS_ACTIVE]
    refunded = payment.status == ppb.PAYMENT_STATUS_REFUNDED
    if payment.late:
        findings.add(LATE_PAYMENT, payment_finding(payment, "recorded after its session expired or was cancelled"))
    if payment.outcome != ppb.PAYMENT_OUTCOME_GRANTED:
        outcome = ppb.PaymentOutcome.Name(payment.outcome).removeprefix("PAYMENT_OUTCOME_")
        for purchase in active:
            findings.add(
                GRANTED_WITHOUT_PAYMENT, purchase_finding(purchase, f"its payment is {outcome}: it grants nothing")
            )
        if not refunded and payment.refund_due:
            due = DUPLICATE_PAYMENT if payment.outcome == ppb.PAYMENT_OUTCOME_DUPLICATE else SHORT_PAYMENT
            detail = f"{payment.amount} {payment.currency} due back to the payer (refund_due)"
            findings.add(due, payment_finding(payment, detail))
        elif not refunded and payment.outcome == ppb.PAYMENT_OUTCOME_SHORT:
            suspects.short[payment.payment_id] = payment
        return
    if refunded:
        if active:
            suspects.still_granted.setdefault(payment.payment_id, []).extend(active)
        return
    check_lines(payment, purchases, findings, suspects)


def check_lines(
    payment: ppb.Payment, purchases: Iterable[epb.Purchase], findings: Findings, suspects: Suspects
) -> None:
    """A paid, granted payment: each line owned through a purchase at its price, and nothing more."""
    by_item = {(p.item.kind, p.item.id): p for p in purchases}
    not_owned: list[str] = []
    for line in payment.lines:
        purchase = by_item.pop((line.item.kind, line.item.id), None)
        if purchase is None or purchase.status != epb.PURCHASE_STATUS_ACTIVE:
            not_owned.append(f"{item_name(line.item)} ({'no purchase' if purchase is None else 'revoked'})")
        elif purchase.amount != line.amount or purchase.currency != payment.currency:
            detail = (
                f"purchase says {purchase.amount} {purchase.currency}, "
                f"the payment paid {line.amount} {payment.currency}"
            )
            findings.add(AMOUNT_MISMATCH, purchase_finding(purchase, detail))
        elif purchase.double_purchase:
            detail = f"already owned through another payment; {purchase.amount} {purchase.currency} may be due back"
            findings.add(DOUBLE_PURCHASE, purchase_finding(purchase, detail))
    for purchase in by_item.values():
        if purchase.status == epb.PURCHASE_STATUS_ACTIVE:
            findings.add(GRANTED_WITHOUT_PAYMENT, purchase_finding(purchase, "its payment did not pay for this item"))
    if not_owned:
        detail = "not owned through it: " + ", ".join(not_owned)
        suspects.ungranted[payment.payment_id] = payment_finding(payment, detail)
