"""The EntitlementService gRPC servicer: protobuf in, use case, protobuf out; errors become status codes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import grpc

from entitlement_service.domain.entitlement import OwnershipQuery
from entitlement_service.domain.errors import (
    ConcurrentChange,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    OwnershipCacheUnavailable,
    PaymentOfAnotherUser,
)
from entitlement_service.domain.purchase import PurchaseStatus, Source
from entitlement_service.domain.stats import SumOutOfRange
from entitlement_service.domain.validation import (
    parse_grant,
    parse_history_query,
    parse_payment_event,
    parse_queries,
    parse_query,
    parse_revoke,
    parse_stats_query,
    parse_stream_query,
    require_id,
    require_kind,
)
from entitlement_service.entrypoints.analytics_messages import GRANULARITIES, batch_message, period_message, time_field
from entitlement_service.entrypoints.ownership_messages import batch_response, check_response
from entitlement_service.entrypoints.purchase_messages import SOURCES, purchase_message
from entitlement_service.service_layer.apply_payment_event import apply_payment_event
from entitlement_service.service_layer.grant_entitlement import grant_entitlement
from entitlement_service.service_layer.list_purchases import list_purchases
from entitlement_service.service_layer.ownership import OwnershipReader, check_ownership, list_entitlements
from entitlement_service.service_layer.ownership_cache import NoOwnershipCache, OwnershipCache
from entitlement_service.service_layer.purchase_stats import purchase_stats
from entitlement_service.service_layer.purchase_stream import stream_purchases
from entitlement_service.service_layer.revoke_entitlement import revoke_entitlement
from entitlement_service.service_layer.unit_of_work import UnitOfWorkFactory
from paygrant.common.v1 import common_pb2
from paygrant.contract_rules import EventType
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.grpc_errors import translate_errors, translate_stream_errors
from paygrant.timestamps import from_timestamp, to_timestamp

ERRORS = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    PaymentOfAnotherUser: grpc.StatusCode.FAILED_PRECONDITION,
    NotFound: grpc.StatusCode.NOT_FOUND,
    IdempotencyKeyReused: grpc.StatusCode.ALREADY_EXISTS,
    ConcurrentChange: grpc.StatusCode.ABORTED,
    OwnershipCacheUnavailable: grpc.StatusCode.UNAVAILABLE,
    SumOutOfRange: grpc.StatusCode.OUT_OF_RANGE,
}
EVENT_TYPES = {
    pb.PAYMENT_EVENT_TYPE_COMPLETED: EventType.PAYMENT_COMPLETED,
    pb.PAYMENT_EVENT_TYPE_REFUNDED: EventType.PAYMENT_REFUNDED,
}
# Enum numbers a request may carry, and what each means; any other number is refused naming its field.
GRANT_SOURCES: dict[int, Source | None] = {
    pb.SOURCE_UNSPECIFIED: None,
    pb.SOURCE_ADMIN: Source.ADMIN,
    pb.SOURCE_FREE: Source.FREE,
    pb.SOURCE_PAID: Source.PAID,  # refused by parse_grant, saying why
}
PURCHASE_STATUSES: dict[int, PurchaseStatus | None] = {
    pb.PURCHASE_STATUS_UNSPECIFIED: None,
    pb.PURCHASE_STATUS_ACTIVE: PurchaseStatus.ACTIVE,
    pb.PURCHASE_STATUS_REVOKED: PurchaseStatus.REVOKED,
}
NO_CACHE = NoOwnershipCache()
Meaning = TypeVar("Meaning")


class EntitlementServicer:
    """Serves paygrant.entitlement.v1.EntitlementService; each call runs in a unit of work of its own."""

    def __init__(self, uow_factory: UnitOfWorkFactory, read: OwnershipReader, cache: OwnershipCache) -> None:
        self._uow_factory = uow_factory
        self._read = read
        self._cache = cache

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
        event = parse_payment_event(
            event_id=request.event_id,
            type=EVENT_TYPES.get(request.type),
            payment_id=request.payment_id,
            user_id=request.user_id,
            items=[(paid.item.kind, paid.item.id, paid.amount) for paid in request.items],
            occurred_at=from_timestamp(request.occurred_at) if request.HasField("occurred_at") else None,
            currency=request.currency,
        )
        duplicate = await apply_payment_event(event, self._uow_factory, self._cache)
        return pb.ApplyPaymentEventResponse(duplicate=duplicate)

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

    # Grants, revokes and purchase history.

    @translate_errors(ERRORS)
    async def GrantEntitlement(
        self, request: pb.GrantEntitlementRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GrantEntitlementResponse:
        """Gives a user an item by hand, once per idempotency key."""
        action = parse_grant(
            user_id=request.user_id,
            kind=request.item.kind,
            item_id=request.item.id,
            reason=request.reason,
            actor=request.actor,
            idempotency_key=request.idempotency_key,
            source=_declared(GRANT_SOURCES, request.source, "source"),
        )
        outcome = await grant_entitlement(action, self._uow_factory, self._cache)
        return pb.GrantEntitlementResponse(purchase=purchase_message(outcome.purchase), duplicate=outcome.duplicate)

    @translate_errors(ERRORS)
    async def RevokeEntitlement(
        self, request: pb.RevokeEntitlementRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RevokeEntitlementResponse:
        """Revokes a user's active grants of an item (never a paid purchase), once per idempotency key."""
        action = parse_revoke(
            user_id=request.user_id,
            kind=request.item.kind,
            item_id=request.item.id,
            reason=request.reason,
            actor=request.actor,
            idempotency_key=request.idempotency_key,
        )
        outcome = await revoke_entitlement(action, self._uow_factory, self._cache)
        return pb.RevokeEntitlementResponse(
            revoked=[purchase_message(p) for p in outcome.revoked],
            duplicate=outcome.duplicate,
            still_owned=outcome.still_owned,
        )

    @translate_errors(ERRORS)
    async def ListPurchases(
        self, request: pb.ListPurchasesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListPurchasesResponse:
        """A user's purchases, newest first, a page at a time."""
        query = parse_history_query(
            user_id=request.user_id,
            kind=request.kind,
            status=_declared(PURCHASE_STATUSES, request.status, "status"),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        page = await list_purchases(query, self._uow_factory)
        return pb.ListPurchasesResponse(
            purchases=[purchase_message(p) for p in page.purchases], next_page_token=page.next_page_token
        )

    # Analytics.

    @translate_errors(ERRORS)
    async def GetPurchaseStats(
        self, request: pb.GetPurchaseStatsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetPurchaseStatsResponse:
        """Revenue and counts per period and currency, split by kind and source, refunds, top items."""
        query = parse_stats_query(
            start=time_field(request, "start_time"),
            end=time_field(request, "end_time"),
            granularity=GRANULARITIES.get(request.granularity),
            kind=request.kind,
            top_items=request.top_items,
        )
        periods = await purchase_stats(query, self._uow_factory)
        return pb.GetPurchaseStatsResponse(periods=[period_message(period) for period in periods])

    @translate_stream_errors(ERRORS)
    async def StreamPurchases(
        self, request: pb.StreamPurchasesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.PurchaseBatch]:
        """Every purchase of a time range in key order, a batch per message, resumable from a last_key."""
        query = parse_stream_query(
            start=time_field(request, "start_time"),
            end=time_field(request, "end_time"),
            after_key=request.after_key,
            batch_size=request.batch_size,
        )
        async for batch in stream_purchases(query, self._uow_factory):
            yield batch_message(batch)


def _declared(meanings: Mapping[int, Meaning], number: int, field: str) -> Meaning:
    """What an enum number of the request means; InvalidRequest naming `field` for a number the contract lacks."""
    if number not in meanings:
        raise InvalidRequest(field, f"{number} is not a value of the field's enum")
    return meanings[number]
