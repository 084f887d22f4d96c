"""The idempotency keys of grants and revokes on the purchases they made or ended, so a retried
grant or revoke answers exactly what the first one did.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Adds granted_by_action and revoked_by_action to purchases, each with an index."""
    with op.batch_alter_table("purchases") as purchases:
        purchases.add_column(sa.Column("granted_by_action", sa.String(128), nullable=True))
        purchases.add_column(sa.Column("revoked_by_action", sa.String(128), nullable=True))
    op.create_index("ix_purchases_granted_by_action", "purchases", ["granted_by_action"])
    op.create_index("ix_purchases_revoked_by_action", "purchases", ["revoked_by_action"])


def downgrade() -> None:
    """Drops what upgrade added."""
    op.drop_index("ix_purchases_revoked_by_action", table_name="purchases")
    op.drop_index("ix_purchases_granted_by_action", table_name="purchases")
    with op.batch_alter_table("purchases") as purchases:
        purchases.drop_column("revoked_by_action")
        purchases.drop_column("granted_by_action")
