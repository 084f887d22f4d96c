"""Indexes for reading payments by key: ListPayments (newest first, often per user) and StreamPayments.

Both read by keyset over (paid_at, id). The index on paid_at alone is replaced by one on
(paid_at, id), which serves every query paid_at did and lets a page or batch start right after its
key; (user_id, paid_at, id) serves a user's payments newest first without sorting them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_payments_paid_at", table_name="payments")
    op.create_index("ix_payments_paid_at_id", "payments", ["paid_at", "id"])
    op.create_index("ix_payments_user_id_paid_at_id", "payments", ["user_id", "paid_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_payments_user_id_paid_at_id", table_name="payments")
    op.drop_index("ix_payments_paid_at_id", table_name="payments")
    op.create_index("ix_payments_paid_at", "payments", ["paid_at"])
