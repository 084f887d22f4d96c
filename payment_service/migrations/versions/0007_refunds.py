"""Refunds: who returned a payment's money, why, and how (through QPay or outside it).

One row per refunded payment (its primary key is the payment's id), written in the transaction
that marks the payment REFUNDED (whose `refunded_at` says when). `idempotency_key` is unique:
the same RefundPayment sent twice refunds once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("payment_id", sa.String(36), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("refunded_by", sa.String(128), nullable=False),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name="fk_refunds_payment_id_payments"),
        sa.PrimaryKeyConstraint("payment_id", name="pk_refunds"),
        sa.UniqueConstraint("idempotency_key", name="uq_refunds_idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("refunds")
