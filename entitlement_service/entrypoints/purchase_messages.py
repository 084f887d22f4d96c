"""Purchases as the contract's Purchase messages (ListPurchases, StreamPurchases, grants and revokes)."""

from __future__ import annotations

from entitlement_service.domain.purchase import Purchase, PurchaseStatus, Source
from paygrant.common.v1 import common_pb2
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.timestamps import to_timestamp

SOURCES = {Source.PAID: pb.SOURCE_PAID, Source.FREE: pb.SOURCE_FREE, Source.ADMIN: pb.SOURCE_ADMIN}
STATUSES = {PurchaseStatus.ACTIVE: pb.PURCHASE_STATUS_ACTIVE, PurchaseStatus.REVOKED: pb.PURCHASE_STATUS_REVOKED}


def purchase_message(purchase: Purchase) -> pb.Purchase:
    """The Purchase message of a purchase; optional fields the purchase lacks stay unset or empty."""
    return pb.Purchase(
        purchase_id=purchase.id,
        user_id=purchase.user_id,
        item=common_pb2.ItemRef(kind=purchase.item.kind, id=purchase.item.id),
        source=SOURCES[purchase.source],
        status=STATUSES[purchase.status],
        payment_id=purchase.payment_id or "",
        amount=purchase.amount,
        currency=purchase.currency,
        purchased_at=to_timestamp(purchase.purchased_at),
        revoked_at=to_timestamp(purchase.revoked_at),
        reason=purchase.reason or "",
        actor=purchase.actor or "",
        double_purchase=purchase.double_purchase,
        revoke_reason=purchase.revoke_reason or "",
        revoked_by=purchase.revoked_by or "",
    )
