"""The entitlement service's tables; migrations/versions must create exactly these."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import BigInteger, ForeignKey, Index, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from paygrant.db import Schema, UTCDateTime

# Fixed constraint names, so the hand-written migrations and the models agree on every dialect.
NAMING_CONVENTION = {
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Every table of the entitlement service, on one MetaData."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime()}


class InboxEvent(Base):
    """A payment event id that has been applied; its presence makes every later copy a no-op."""

    __tablename__ = "inbox"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(16))
    payment_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[dt.datetime]


class PurchaseRow(Base):
    """One item bought by one user; unique per (payment, item) so no payment grants an item twice."""

    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint("payment_id", "item_kind", "item_id"),
        Index("ix_purchases_user_item", "user_id", "item_kind", "item_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    item_kind: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str] = mapped_column(String(128))
    payment_id: Mapped[str | None] = mapped_column(String(128))
    event_id: Mapped[str | None] = mapped_column(String(36))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8))
    purchased_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class EntitlementRow(Base):
    """What a user owns now, pointing at the earliest active purchase that gives it."""

    __tablename__ = "entitlements"
    __table_args__ = (Index("ix_entitlements_user_kind", "user_id", "item_kind"),)

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    item_kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    purchase_id: Mapped[str] = mapped_column(String(36), ForeignKey("purchases.id"))
    purchased_at: Mapped[dt.datetime]
    source: Mapped[str] = mapped_column(String(8))
    payment_id: Mapped[str | None] = mapped_column(String(128))


class RefundMark(Base):
    """A refund that arrived before its completion; the late completion then grants nothing."""

    __tablename__ = "refund_marks"

    payment_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    marked_at: Mapped[dt.datetime]


metadata = Base.metadata
SCHEMA = Schema(metadata, Path(__file__).resolve().parent.parent / "migrations")
