"""Refunds: a payment's money returned, by whom, why, and whether through QPay or outside it."""

from __future__ import annotations

from dataclasses import dataclass

from paygrant import contract_rules
from payment_service.domain.errors import FailedPrecondition, InvalidRequest
from payment_service.domain.validation import require_id


class PaymentSettled(FailedPrecondition):
    """QPay cannot return this payment's money (only card payments can be): it must be returned outside QPay."""


@dataclass(eq=False)
class Refund:
    """The record of a refund, one per refunded payment (the payment's refunded_at says when).

    `external`: the money was returned outside QPay and only recorded here. Mapped onto `refunds`.
    """

    payment_id: str
    idempotency_key: str
    reason: str
    refunded_by: str
    external: bool


@dataclass(frozen=True)
class RefundRequest:
    """An operator's RefundPayment."""

    payment_id: str
    reason: str
    actor: str
    idempotency_key: str
    external: bool

    def validate(self) -> None:
        """Raises InvalidRequest naming the first malformed field."""
        require_id(self.payment_id, "payment_id")
        contract_rules.require_text(self.reason, "reason", contract_rules.MAX_REASON_LENGTH, InvalidRequest)
        require_id(self.actor, "actor")
        require_id(self.idempotency_key, "idempotency_key")

    def record(self) -> Refund:
        """The refund this request records."""
        return Refund(self.payment_id, self.idempotency_key, self.reason, self.actor, self.external)

    def is_retry_of(self, refund: Refund) -> bool:
        """True when `refund` is what this same request recorded (a retry), not another request under its key."""
        return (refund.payment_id, refund.reason, refund.refunded_by, refund.external) == (
            self.payment_id,
            self.reason,
            self.actor,
            self.external,
        )
