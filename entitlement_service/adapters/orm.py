"""The entitlement service's tables, and the mapping of purchases onto them; migrations/versions build exactly these."""

from __future__ import annotations

import enum
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Enum,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import composite, registry

from entitlement_service.domain.purchase import ItemRef, Purchase, PurchaseStatus, Source
from paygrant.db import NAMING_CONVENTION, Schema, UTCDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)
mapper_registry = registry(metadata=metadata)


def _lowercase(values: type[enum.StrEnum]) -> Enum:
    # Stored as the members' values ("paid", "active"), in the VARCHAR(8) the first migration made.
    return Enum(values, values_callable=lambda members: [m.value for m in members], native_enum=False, length=8)


# A payment event id that has been applied; its presence makes every later copy a no-op.
inbox = Table(
    "inbox",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("event_type", String(16), nullable=False),
    Column("payment_id", String(128), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

# One item bought by one user; unique per (payment, item) so no payment grants an item twice.
purchases = Table(
    "purchases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(128), nullable=False),
    Column("item_kind", String(32), nullable=False),
    Column("item_id", String(128), nullable=False),
    Column("payment_id", String(128)),
    Column("event_id", String(36)),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("source", _lowercase(Source), nullable=False),
    Column("status", _lowercase(PurchaseStatus), nullable=False),
    Column("purchased_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    # Grants by hand: why and by whom. Revokes: why, and by whom when done by hand.
    Column("reason", String(500)),
    Column("actor", String(128)),
    # Paid while the user already owned the item through another payment: it granted nothing new.
    Column("double_purchase", Boolean, nullable=False, server_default=false()),
    Column("revoke_reason", String(500)),
    Column("revoked_by", String(128)),
    # The idempotency keys of the grant that made it and of the revoke that ended it: a retry's answer.
    Column("granted_by_action", String(128)),
    Column("revoked_by_action", String(128)),
    UniqueConstraint("payment_id", "item_kind", "item_id"),
    Index("ix_purchases_user_item", "user_id", "item_kind", "item_id"),
    Index("ix_purchases_purchased_at_id", "purchased_at", "id"),
    Index("ix_purchases_granted_by_action", "granted_by_action"),
    Index("ix_purchases_revoked_by_action", "revoked_by_action"),
)

# What a user owns now, pointing at the earliest active purchase that gives it.
entitlements = Table(
    "entitlements",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("item_kind", String(32), primary_key=True),
    Column("item_id", String(128), primary_key=True),
    Column("purchase_id", String(36), ForeignKey("purchases.id"), nullable=False),
    Column("purchased_at", UTCDateTime, nullable=False),
    Column("source", _lowercase(Source), nullable=False),
    Column("payment_id", String(128)),
    Index("ix_entitlements_user_kind", "user_id", "item_kind"),
)

# A refund that arrived before its completion; the late completion then grants nothing.
refund_marks = Table(
    "refund_marks",
    metadata,
    Column("payment_id", String(128), primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("marked_at", UTCDateTime, nullable=False),
)

# A grant or revoke by hand, by its caller's idempotency key: the same key again changes nothing.
admin_actions = Table(
    "admin_actions",
    metadata,
    Column("idempotency_key", String(128), primary_key=True),
    Column("action", String(8), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("item_kind", String(32), nullable=False),
    Column("item_id", String(128), nullable=False),
    Column("source", String(8)),
    Column("reason", String(500), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
)

_mapped = False


def start_mappers() -> None:
    """Maps Purchase onto `purchases` (its ItemRef onto item_kind and item_id); safe to call more than once."""
    global _mapped
    if _mapped:
        return
    mapper_registry.map_imperatively(
        Purchase, purchases, properties={"item": composite(ItemRef, purchases.c.item_kind, purchases.c.item_id)}
    )
    _mapped = True


SCHEMA = Schema(metadata, Path(__file__).resolve().parent.parent / "migrations", start_mappers)
