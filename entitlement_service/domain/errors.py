"""The entitlement service's one exception hierarchy; adapters translate driver errors into it."""

from __future__ import annotations

from paygrant.errors import InvalidField, ServiceError


class EntitlementServiceError(ServiceError):
    """Base of every error the entitlement service raises on purpose; `field` names the bad input."""


class InvalidRequest(InvalidField, EntitlementServiceError):
    """The caller sent something malformed."""


class InvalidTransition(EntitlementServiceError):
    """A purchase was asked for a state change it does not allow."""


class PaymentOfAnotherUser(EntitlementServiceError):
    """An event names a payment whose purchases belong to a different user."""


class ConcurrentChange(EntitlementServiceError):
    """Another transaction wrote the same rows first; retrying the request is safe."""


class OwnershipCacheUnavailable(EntitlementServiceError):
    """The ownership cache could not be invalidated; retrying the request is safe."""


class NotFound(EntitlementServiceError):
    """What the request acts on does not exist (e.g. a revoke of an item the user was never granted)."""


class IdempotencyKeyReused(EntitlementServiceError):
    """The idempotency key was used before for a different request."""


class AdminActionRecorded(EntitlementServiceError):
    """A grant or revoke with this idempotency key is already recorded (also when by a racing request)."""
