"""The purchase RPCs: grants and revokes by hand, purchase history, and analytics over purchases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import grpc

from entitlement_service.domain.errors import InvalidRequest
from entitlement_service.domain.purchase import PurchaseStatus, Source
from entitlement_service.domain.validation import (
    parse_grant,
    parse_history_query,
    parse_purchase_revoke,
    parse_revoke,
    parse_stats_query,
    parse_stream_query,
)
from entitlement_service.entrypoints.analytics_messages import GRANULARITIES, batch_message, period_message
from entitlement_service.entrypoints.purchase_messages import purchase_message
from entitlement_service.entrypoints.servicer_base import ERRORS, ServicerBase
from entitlement_service.service_layer.grant_entitlement import grant_entitlement
from entitlement_service.service_layer.list_purchases import list_purchases
from entitlement_service.service_layer.purchase_stats import purchase_stats
from entitlement_service.service_layer.purchase_stream import stream_purchases
from entitlement_service.service_layer.revoke_entitlement import revoke_entitlement
from entitlement_service.service_layer.revoke_purchase import revoke_purchase
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.grpc_errors import translate_errors, translate_stream_errors
from paygrant.timestamps import time_field

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
Meaning = TypeVar("Meaning")


class PurchaseRpcs(ServicerBase):
    """GrantEntitlement, RevokeEntitlement, RevokePurchase, ListPurchases, GetPurchaseStats, StreamPurchases."""

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
            user_id=request.user_id,
        )
        async for batch in stream_purchases(query, self._uow_factory):
            yield batch_message(batch)

    @translate_errors(ERRORS)
    async def RevokePurchase(
        self, request: pb.RevokePurchaseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RevokePurchaseResponse:
        """Revokes one purchase, whatever its source; a revoked one is answered unchanged."""
        command = parse_purchase_revoke(purchase_id=request.purchase_id, reason=request.reason, actor=request.actor)
        purchase, changed = await revoke_purchase(command, self._uow_factory, self._cache)
        return pb.RevokePurchaseResponse(purchase=purchase_message(purchase), changed=changed)


def _declared(meanings: Mapping[int, Meaning], number: int, field: str) -> Meaning:
    """What an enum number of the request means; InvalidRequest naming `field` for a number the contract lacks."""
    if number not in meanings:
        raise InvalidRequest(field, f"{number} is not a value of the field's enum")
    return meanings[number]
