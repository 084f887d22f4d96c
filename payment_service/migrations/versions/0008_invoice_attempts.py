"""Invoice attempts: every request to QPay for a session's invoice, kept for good.

A session is now stored before its invoice is asked for, and may ask more than once (a retry after
QPay did not answer in time). QPay may have opened the invoice of an attempt whose answer was lost,
and the payer can still pay it, so each attempt keeps the number QPay knows it by
(`sender_invoice_no`, unique at QPay and here) and the hash of the secret its callback URL carries.

Every session stored before this revision opened its one invoice with its id as the number and its
own secret, in the same transaction: each with an amount gets that attempt, ended when it was made.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoice_attempts",
        sa.Column("sender_invoice_no", sa.String(45), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("callback_secret_hash", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["checkout_sessions.id"], name="fk_invoice_attempts_session_id_checkout_sessions"
        ),
        sa.PrimaryKeyConstraint("sender_invoice_no", name="pk_invoice_attempts"),
        sa.UniqueConstraint("session_id", "number", name="uq_invoice_attempts_session_id_number"),
    )
    op.execute(
        "INSERT INTO invoice_attempts"
        " (sender_invoice_no, session_id, number, callback_secret_hash, requested_at, ended_at)"
        " SELECT id, id, 1, callback_secret_hash, created_at, created_at FROM checkout_sessions WHERE amount > 0"
    )


def downgrade() -> None:
    op.drop_table("invoice_attempts")
