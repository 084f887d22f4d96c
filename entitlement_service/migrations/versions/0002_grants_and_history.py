"""Grants by hand and the purchase history: who granted or revoked and why, double purchases,
the idempotency keys of grants and revokes, and an index for reading purchases by time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Adds the history columns to purchases, the admin_actions table and the time index."""
    with op.batch_alter_table("purchases") as purchases:
        purchases.add_column(sa.Column("reason", sa.String(500), nullable=True))
        purchases.add_column(sa.Column("actor", sa.String(128), nullable=True))
        purchases.add_column(sa.Column("double_purchase", sa.Boolean(), nullable=False, server_default=sa.false()))
        purchases.add_column(sa.Column("revoke_reason", sa.String(500), nullable=True))
        purchases.add_column(sa.Column("revoked_by", sa.String(128), nullable=True))
    op.create_index("ix_purchases_purchased_at_id", "purchases", ["purchased_at", "id"])
    op.create_table(
        "admin_actions",
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("item_kind", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("source", sa.String(8), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name="pk_admin_actions"),
    )


def downgrade() -> None:
    """Drops what upgrade added."""
    op.drop_table("admin_actions")
    op.drop_index("ix_purchases_purchased_at_id", table_name="purchases")
    with op.batch_alter_table("purchases") as purchases:
        for column in ("revoked_by", "revoke_reason", "double_purchase", "actor", "reason"):
            purchases.drop_column(column)
