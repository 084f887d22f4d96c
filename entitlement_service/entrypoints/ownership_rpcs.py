"""The ownership RPCs: payment events in, ownership checks and listings out."""

from __future__ import annotations

from typing import Any

import grpc

from entitlement_service.domain.entitlement import OwnershipQuery
from entitlement_service.domain.errors import InvalidRequest
from entitlement_service.domain.events import PaymentEvent
from entitlement_service.domain.validation import (
    MAX_EVENTS,
    parse_each,
    parse_payment_event,
    parse_queries,
    parse_query,
    require_id,
    require_kind,
)
from entitlement_service.entrypoints.ownership_messages import batch_response, check_response, events_response
from entitlement_service.entrypoints.purchase_messages import SOURCES
from entitlement_service.entrypoints.servicer_base import ERRORS, ServicerBase
from entitlement_service.service_layer.apply_payment_event import apply_payment_event, apply_payment_events
from entitlement_service.service_layer.ownership import check_ownership, list_entitlements
from entitlement_service.service_layer.ownership_cache import NoOwnershipCache, OwnershipCache
from paygrant.common.v1 import common_pb2
from paygrant.contract_rules import EventType
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.grpc_errors import translate_errors
from paygrant.timestamps import from_timestamp, to_timestamp

EVENT_TYPES = {
    pb.PAYMENT_EVENT_TYPE_COMPLETED: EventType.PAYMENT_COMPLETED,
    pb.PAYMENT_EVENT_TYPE_REFUNDED: EventType.PAYMENT_REFUNDED,
}
NO_CACHE = NoOwnershipCache()


class OwnershipRpcs(ServicerBase):
    """ApplyPaymentEvent(s), CheckOwnership, BatchCheckOwnership, ListEntitlements."""

    def _cache_for(self, consistency: int) -> OwnershipCache:
        """The cache a check may use: none for FULLY_CONSISTENT, which reads the database."""
        if consistency == pb.CONSISTENCY_FULLY_CONSISTENT:
            return NO_CACHE
        if consistency in (pb.CONSISTENCY_UNSPECIFIED, pb.CONSISTENCY_MINIMIZE_LATENCY):
            return self._cache
        raise InvalidRequest("consistency", f"{consistency} is not a Consistency value")

    @translate_errors(ERRORS)
    async def ApplyPaymentEvent(
        self, request: pb.ApplyPaymentEventRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ApplyPaymentEventResponse:
        """Applies a payment completion or refund, at most once per event id."""
        duplicate = await apply_payment_event(_payment_event(request), self._uow_factory, self._cache)
        return pb.ApplyPaymentEventResponse(duplicate=duplicate)

    @translate_errors(ERRORS)
    async def ApplyPaymentEvents(
        self, request: pb.ApplyPaymentEventsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ApplyPaymentEventsResponse:
        """Applies a batch of events in one transaction; a result per event, an invalid or refused one its own."""
        parsed = parse_each(request.events, "events", MAX_EVENTS, _payment_event)
        outcomes = await apply_payment_events(parsed, self._uow_factory, self._cache)
        return events_response(request.events, outcomes)

    @translate_errors(ERRORS)
    async def CheckOwnership(
        self, request: pb.CheckOwnershipRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CheckOwnershipResponse:
        """Does this user own this item now?"""
        query = parse_query(request.user_id, request.item.kind, request.item.id)
        [ownership] = await check_ownership([query], self._read, self._cache_for(request.consistency))
        return check_response(ownership)

    @translate_errors(ERRORS)
    async def BatchCheckOwnership(
        self, request: pb.BatchCheckOwnershipRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.BatchCheckOwnershipResponse:
        """Answers many ownership questions, in the order asked."""
        cache = self._cache_for(request.consistency)
        parsed = parse_queries([(q.user_id, q.item.kind, q.item.id) for q in request.queries])
        valid = [query for query in parsed if isinstance(query, OwnershipQuery)]
        answers = await check_ownership(valid, self._read, cache)
        return batch_response(request.queries, parsed, iter(answers))

    @translate_errors(ERRORS)
    async def ListEntitlements(
        self, request: pb.ListEntitlementsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListEntitlementsResponse:
        """Everything a user owns now, optionally of one kind."""
        user_id = require_id(request.user_id, "user_id")
        kind = require_kind(request.kind, "kind") if request.kind else None
        owned = await list_entitlements(user_id, kind, self._uow_factory)
        entries = [
            pb.Entitlement(
                item=common_pb2.ItemRef(kind=entitlement.item.kind, id=entitlement.item.id),
                purchased_at=to_timestamp(entitlement.purchased_at),
                source=SOURCES[entitlement.source],
                payment_id=entitlement.payment_id or "",
            )
            for entitlement in owned
        ]
        return pb.ListEntitlementsResponse(entitlements=entries)


def _payment_event(request: pb.ApplyPaymentEventRequest) -> PaymentEvent:
    """The event a request describes, every field checked (InvalidRequest names the one at fault)."""
    return parse_payment_event(
        event_id=request.event_id,
        type=EVENT_TYPES.get(request.type),
        payment_id=request.payment_id,
        user_id=request.user_id,
        items=[(paid.item.kind, paid.item.id, paid.amount) for paid in request.items],
        occurred_at=from_timestamp(request.occurred_at) if request.HasField("occurred_at") else None,
        currency=request.currency,
        request_id=request.request_id,
    )
