"""What the EntitlementService's groups of RPCs share: the use cases' dependencies and the error mapping."""

from __future__ import annotations

import grpc

from entitlement_service.domain.errors import (
    ConcurrentChange,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    OwnershipCacheUnavailable,
    PaymentOfAnotherUser,
)
from entitlement_service.domain.stats import SumOutOfRange
from entitlement_service.service_layer.ownership import OwnershipReader
from entitlement_service.service_layer.ownership_cache import OwnershipCache
from entitlement_service.service_layer.unit_of_work import UnitOfWorkFactory

ERRORS = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    PaymentOfAnotherUser: grpc.StatusCode.FAILED_PRECONDITION,
    NotFound: grpc.StatusCode.NOT_FOUND,
    IdempotencyKeyReused: grpc.StatusCode.ALREADY_EXISTS,
    ConcurrentChange: grpc.StatusCode.ABORTED,
    OwnershipCacheUnavailable: grpc.StatusCode.UNAVAILABLE,
    SumOutOfRange: grpc.StatusCode.OUT_OF_RANGE,
}


class ServicerBase:
    """Holds what every RPC's use case needs; each call runs in a unit of work of its own."""

    def __init__(self, uow_factory: UnitOfWorkFactory, read: OwnershipReader, cache: OwnershipCache) -> None:
        self._uow_factory = uow_factory
        self._read = read
        self._cache = cache
