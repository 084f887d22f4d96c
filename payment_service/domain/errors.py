"""The payment service's one exception hierarchy; adapters translate driver errors into it."""

from __future__ import annotations

from paygrant.errors import InvalidField, ServiceError


class PaymentServiceError(ServiceError):
    """Base of every error the payment service raises on purpose; `field` names the bad input."""


class InvalidRequest(InvalidField, PaymentServiceError):
    """The caller sent something malformed."""


class NotFound(PaymentServiceError):
    """The thing asked for does not exist."""


class Conflict(PaymentServiceError):
    """The request contradicts what is already recorded (e.g. a reused idempotency key)."""


class AlreadyRecorded(Conflict):
    """A unique fact (a QPay payment id, an idempotency key) was recorded by someone else first."""

    def __init__(self) -> None:
        super().__init__("was recorded concurrently by another request; retry")


class FailedPrecondition(PaymentServiceError):
    """The request is well-formed but the system's state refuses it (inactive item, owned item)."""


class Forbidden(PaymentServiceError):
    """The caller did not prove it may do this (e.g. a callback with a wrong secret)."""


class InvalidTransition(PaymentServiceError):
    """A state machine was asked for a move it does not allow."""


class UpstreamUnavailable(PaymentServiceError):
    """A service paygrant depends on (QPay, the entitlement service) did not answer usefully."""


class UpstreamRejected(PaymentServiceError):
    """A service paygrant depends on refused a request that should have been fine (a bug or a misconfiguration)."""


class DeliveryFailed(UpstreamUnavailable):
    """An outbox event was not applied; `permanent` when retrying cannot help."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class UnknownPayment(PaymentServiceError):
    """The payment provider has no payment of that id."""
