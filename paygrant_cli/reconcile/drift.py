"""The drift classes reconcile reports, each with a stable name, and the findings it collects under them.

Severity says what a finding asks of the operator:
- `drift`: the records disagree; `--fix` repairs what has a repair, and the run's exit code is 1;
- `review`: money that may be due back (a double purchase, a duplicate or short payment); reported for a
  refund decision, never refunded by reconcile, and not drift (the records agree about it);
- `notice`: worth knowing, nothing is wrong (a payment honoured after its session expired).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    """What a finding asks of the operator (see the module's docstring)."""

    DRIFT = "drift"
    REVIEW = "review"
    NOTICE = "notice"


class Repair(enum.StrEnum):
    """How `--fix` repairs a finding of a class; NONE: it is for people to decide."""

    RESEND_EVENT = "resend the payment's event (or retry its dead one)"
    REVOKE_PURCHASE = "revoke the purchase at the entitlement service (reason: reconcile)"
    RETRY_DEAD_EVENT = "retry the dead outbox event"
    RECHECK_WITH_QPAY = "ask QPay about the session again and record the payment (CheckPayment)"
    RECORD_QPAY_REFUND = "record the refund QPay made (RefundPayment, external)"
    NONE = "none: for an operator to decide"

    @property
    def short(self) -> str:
        """A few words for a table."""
        return _SHORT_REPAIRS[self]


_SHORT_REPAIRS = {
    Repair.RESEND_EVENT: "resend its event",
    Repair.REVOKE_PURCHASE: "revoke the purchase",
    Repair.RETRY_DEAD_EVENT: "retry the event",
    Repair.RECHECK_WITH_QPAY: "CheckPayment",
    Repair.RECORD_QPAY_REFUND: "record the refund",
    Repair.NONE: "-",
}


@dataclass(frozen=True)
class DriftClass:
    """One kind of disagreement, by its stable name."""

    name: str
    severity: Severity
    description: str
    repair: Repair = Repair.NONE


PAID_NOT_GRANTED = DriftClass(
    "paid_not_granted",
    Severity.DRIFT,
    "a paid payment that granted its session's items, but an item is not owned through it",
    Repair.RESEND_EVENT,
)
GRANTED_WITHOUT_PAYMENT = DriftClass(
    "granted_without_payment",
    Severity.DRIFT,
    "an active paid purchase with no paid payment behind it (unknown payment, or one that granted nothing)",
    Repair.REVOKE_PURCHASE,
)
REFUNDED_STILL_GRANTED = DriftClass(
    "refunded_still_granted",
    Severity.DRIFT,
    "a refunded payment whose purchase is still active",
    Repair.REVOKE_PURCHASE,
)
AMOUNT_MISMATCH = DriftClass(
    "amount_mismatch",
    Severity.DRIFT,
    "a purchase whose amount or currency differs from the price its payment paid for the item",
)
DOUBLE_PURCHASE = DriftClass(
    "double_purchase",
    Severity.REVIEW,
    "an item paid for again while the user already owned it through another payment: its money may be due back",
)
DUPLICATE_PAYMENT = DriftClass(
    "duplicate_payment",
    Severity.REVIEW,
    "another payment of a session already paid: it granted nothing and its money is due back (refund_due)",
)
SHORT_PAYMENT = DriftClass(
    "short_payment",
    Severity.REVIEW,
    "a payment below its session's amount that no later payment completed: money held for nothing",
)
LATE_PAYMENT = DriftClass(
    "late_payment",
    Severity.NOTICE,
    "a payment recorded after its session expired or was cancelled (honoured: the money was taken)",
)
OUTBOX_STUCK = DriftClass(
    "outbox_stuck",
    Severity.DRIFT,
    "an outbox event pending longer than --stale-after: the relay or the entitlement service is failing",
)
OUTBOX_DEAD = DriftClass(
    "outbox_dead",
    Severity.DRIFT,
    "an outbox event the relays gave up on",
    Repair.RETRY_DEAD_EVENT,
)
PAID_AT_QPAY_PENDING_HERE = DriftClass(
    "paid_at_qpay_pending_here",
    Severity.DRIFT,
    "QPay has a paid payment the payment service never recorded (a missed callback)",
    Repair.RECHECK_WITH_QPAY,
)
REFUNDED_AT_QPAY_PAID_HERE = DriftClass(
    "refunded_at_qpay_paid_here",
    Severity.DRIFT,
    "QPay refunded a payment the payment service still records as PAID",
    Repair.RECORD_QPAY_REFUND,
)
PAID_HERE_UNKNOWN_TO_QPAY = DriftClass(
    "paid_here_unknown_to_qpay",
    Severity.DRIFT,
    "a recorded QPay payment that QPay does not know",
)

# Every class, in the order reports list them.
CLASSES: tuple[DriftClass, ...] = (
    PAID_NOT_GRANTED,
    GRANTED_WITHOUT_PAYMENT,
    REFUNDED_STILL_GRANTED,
    AMOUNT_MISMATCH,
    DOUBLE_PURCHASE,
    DUPLICATE_PAYMENT,
    SHORT_PAYMENT,
    LATE_PAYMENT,
    OUTBOX_STUCK,
    OUTBOX_DEAD,
    PAID_AT_QPAY_PENDING_HERE,
    REFUNDED_AT_QPAY_PAID_HERE,
    PAID_HERE_UNKNOWN_TO_QPAY,
)
QPAY_CLASSES = (PAID_AT_QPAY_PENDING_HERE, REFUNDED_AT_QPAY_PAID_HERE, PAID_HERE_UNKNOWN_TO_QPAY)


@dataclass(frozen=True)
class Finding:
    """One row of a class: the records it is about (empty where a field does not apply) and what is wrong."""

    detail: str
    payment_id: str = ""
    user_id: str = ""
    session_id: str = ""
    purchase_id: str = ""
    item: str = ""  # kind/id
    event_id: str = ""
    qpay_payment_id: str = ""

    def as_json(self) -> dict[str, Any]:
        """The row of the JSON report: every key always present, null where it does not apply."""
        return {key: (value or None) for key, value in asdict(self).items()}


@dataclass
class ClassTally:
    """A class's exact count and the first `max_rows` of its findings."""

    drift_class: DriftClass
    count: int = 0
    rows: list[Finding] = field(default_factory=list)


class Findings:
    """Every class's tally; memory stays at `max_rows` findings per class however many there are."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.tallies = {drift_class.name: ClassTally(drift_class) for drift_class in CLASSES}

    def add(self, drift_class: DriftClass, finding: Finding) -> None:
        """Counts the finding, and keeps it while its class holds fewer than max_rows."""
        tally = self.tallies[drift_class.name]
        tally.count += 1
        if len(tally.rows) < self.max_rows:
            tally.rows.append(finding)

    @property
    def drift_found(self) -> bool:
        """True when any class of severity drift has a finding."""
        return any(t.count for t in self.tallies.values() if t.drift_class.severity is Severity.DRIFT)
