"""The EntitlementService gRPC servicer: protobuf in, use case, protobuf out; errors become status codes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from entitlement_service.adapters.cache_protocol import OwnershipCache
from entitlement_service.domain.entitlement import Ownership
from entitlement_service.domain.events import EventType
from entitlement_service.domain.purchase import Source
from entitlement_service.domain.validation import (
    parse_payment_event,
    parse_queries,
    parse_query,
    require_kind,
    require_name,
)
from entitlement_service.errors import (
    ConcurrentChange,
    InvalidRequest,
    OwnershipCacheUnavailable,
    PaymentOfAnotherUser,
)
from entitlement_service.service_layer.apply_payment_event import apply_payment_event
from entitlement_service.service_layer.ownership import check_ownership, list_entitlements
from entitlement_service.service_layer.unit_of_work import UnitOfWork
from paygrant.common.v1 import common_pb2
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.grpc_errors import translate_errors

ERRORS = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    PaymentOfAnotherUser: grpc.StatusCode.FAILED_PRECONDITION,
    ConcurrentChange: grpc.StatusCode.ABORTED,
    OwnershipCacheUnavailable: grpc.StatusCode.UNAVAILABLE,
}
EVENT_TYPES = {pb.PAYMENT_EVENT_TYPE_COMPLETED: EventType.COMPLETED, pb.PAYMENT_EVENT_TYPE_REFUNDED: EventType.REFUNDED}
SOURCES = {Source.PAID: pb.SOURCE_PAID, Source.FREE: pb.SOURCE_FREE, Source.ADMIN: pb.SOURCE_ADMIN}
# The two messages that carry an ownership answer.
Answer = TypeVar("Answer", pb.CheckOwnershipResponse, pb.OwnershipResult)


class EntitlementServicer:
    """Serves paygrant.entitlement.v1.EntitlementService; each call runs in a unit of work of its own."""

    def __init__(self, new_unit_of_work: Callable[[], UnitOfWork], cache: OwnershipCache) -> None:
        self._new_uow = new_unit_of_work
        self._cache = cache

    @translate_errors(ERRORS)
    async def ApplyPaymentEvent(
        self, request: pb.ApplyPaymentEventRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ApplyPaymentEventResponse:
        """Applies a payment completion or refund, at most once per event id."""
        event = parse_payment_event(
            event_id=request.event_id,
            type=EVENT_TYPES.get(request.type),
            payment_id=request.payment_id,
            user_id=request.user_id,
            items=[(paid.item.kind, paid.item.id, paid.amount) for paid in request.items],
            occurred_at=request.occurred_at.ToDatetime(tzinfo=dt.UTC) if request.HasField("occurred_at") else None,
            currency=request.currency,
        )
        duplicate = await apply_payment_event(event, self._new_uow(), self._cache)
        return pb.ApplyPaymentEventResponse(duplicate=duplicate)

    @translate_errors(ERRORS)
    async def CheckOwnership(
        self, request: pb.CheckOwnershipRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CheckOwnershipResponse:
        """Does this user own this item now?"""
        query = parse_query(request.user_id, request.item.kind, request.item.id)
        [ownership] = await check_ownership([query], self._new_uow(), self._cache)
        return _with_ownership(pb.CheckOwnershipResponse(), ownership)

    @translate_errors(ERRORS)
    async def BatchCheckOwnership(
        self, request: pb.BatchCheckOwnershipRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.BatchCheckOwnershipResponse:
        """Answers many ownership questions, in the order asked."""
        queries = parse_queries([(q.user_id, q.item.kind, q.item.id) for q in request.queries])
        answers = await check_ownership(queries, self._new_uow(), self._cache)
        results = [
            _with_ownership(pb.OwnershipResult(query=asked), answer)
            for asked, answer in zip(request.queries, answers, strict=True)
        ]
        return pb.BatchCheckOwnershipResponse(results=results)

    @translate_errors(ERRORS)
    async def ListEntitlements(
        self, request: pb.ListEntitlementsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListEntitlementsResponse:
        """Everything a user owns now, optionally of one kind."""
        user_id = require_name(request.user_id, "user_id")
        kind = require_kind(request.kind, "kind") if request.kind else None
        response = pb.ListEntitlementsResponse()
        for owned in await list_entitlements(user_id, kind, self._new_uow()):
            entry = response.entitlements.add(
                item=common_pb2.ItemRef(kind=owned.item.kind, id=owned.item.id),
                source=SOURCES[owned.source],
                payment_id=owned.payment_id or "",
            )
            entry.purchased_at.FromDatetime(owned.purchased_at)
        return response


def _with_ownership(message: Answer, ownership: Ownership) -> Answer:
    """Fills the owned / purchased_at / source fields that CheckOwnershipResponse and OwnershipResult share."""
    message.owned = ownership.owned
    if ownership.source is not None and ownership.purchased_at is not None:
        message.source = SOURCES[ownership.source]
        message.purchased_at.FromDatetime(ownership.purchased_at)
    return message
