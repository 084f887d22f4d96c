"""Session outcomes: what each payment did for its session, and the money a session received.

checkout_sessions gains `received_amount` (the sum of its payments: short payments add up to a
grant) and `cancelled_at`; payments gain `outcome` (GRANTED, SHORT, DUPLICATE) and the flags
`late`, `overpaid` and `refund_due`. Every payment recorded before this revision was announced
with a PaymentCompleted, so existing rows are GRANTED with no flags, and each session's
`received_amount` is the sum of its payments. Columns are added in place (no table is rebuilt on
SQLite, where rebuilding a parent table would break its children's foreign keys).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OUTCOME = sa.Enum("GRANTED", "SHORT", "DUPLICATE", name="paymentoutcome", native_enum=False, length=16)


def upgrade() -> None:
    with op.batch_alter_table("checkout_sessions", recreate="never") as table:
        table.add_column(sa.Column("received_amount", sa.BigInteger(), server_default="0", nullable=False))
        table.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("payments", recreate="never") as table:
        table.add_column(sa.Column("outcome", OUTCOME, server_default="GRANTED", nullable=False))
        table.add_column(sa.Column("late", sa.Boolean(), server_default=sa.false(), nullable=False))
        table.add_column(sa.Column("overpaid", sa.Boolean(), server_default=sa.false(), nullable=False))
        table.add_column(sa.Column("refund_due", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute(
        "UPDATE checkout_sessions SET received_amount = "
        "(SELECT COALESCE(SUM(payments.amount), 0) FROM payments WHERE payments.session_id = checkout_sessions.id)"
    )


def downgrade() -> None:
    # SQLite drops columns in place since 3.35.
    with op.batch_alter_table("payments", recreate="never") as table:
        for column in ("refund_due", "overpaid", "late", "outcome"):
            table.drop_column(column)
    with op.batch_alter_table("checkout_sessions", recreate="never") as table:
        for column in ("cancelled_at", "received_amount"):
            table.drop_column(column)
