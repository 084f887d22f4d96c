"""The entitlement service's first schema: inbox, purchases, entitlements and refund marks.

Revision ID: 0001
Revises:
Create Date: 2025-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Creates the four tables and their indexes."""
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("payment_id", sa.String(128), nullable=False),
        sa.Column("received_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_inbox"),
    )
    op.create_table(
        "purchases",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("item_kind", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("payment_id", sa.String(128), nullable=True),
        sa.Column("event_id", sa.String(36), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("purchased_at", Timestamp, nullable=False),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_purchases"),
        sa.UniqueConstraint("payment_id", "item_kind", "item_id", name="uq_purchases_payment_id_item_kind_item_id"),
    )
    op.create_index("ix_purchases_user_item", "purchases", ["user_id", "item_kind", "item_id"])
    op.create_table(
        "entitlements",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("item_kind", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("purchase_id", sa.String(36), nullable=False),
        sa.Column("purchased_at", Timestamp, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("payment_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("user_id", "item_kind", "item_id", name="pk_entitlements"),
        sa.ForeignKeyConstraint(["purchase_id"], ["purchases.id"], name="fk_entitlements_purchase_id_purchases"),
    )
    op.create_index("ix_entitlements_user_kind", "entitlements", ["user_id", "item_kind"])
    op.create_table(
        "refund_marks",
        sa.Column("payment_id", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("marked_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("payment_id", name="pk_refund_marks"),
    )


def downgrade() -> None:
    """Drops everything upgrade() created."""
    op.drop_table("refund_marks")
    op.drop_index("ix_entitlements_user_kind", table_name="entitlements")
    op.drop_table("entitlements")
    op.drop_index("ix_purchases_user_item", table_name="purchases")
    op.drop_table("purchases")
    op.drop_table("inbox")
