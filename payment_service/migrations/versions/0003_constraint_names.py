"""Name the constraints by the shared convention, so a violation names a constraint the code knows.

Databases made by 0001 before the models adopted the convention have PostgreSQL's names
(payments_qpay_payment_id_key, …). SQLite's constraints are unnamed and recognised by their
columns, so there is nothing to rename there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# table -> (PostgreSQL's default name, the convention's name)
RENAMES: dict[str, list[tuple[str, str]]] = {
    "products": [("products_pkey", "pk_products")],
    "checkout_sessions": [
        ("checkout_sessions_pkey", "pk_checkout_sessions"),
        ("checkout_sessions_idempotency_key_key", "uq_checkout_sessions_idempotency_key"),
    ],
    "checkout_lines": [
        ("checkout_lines_pkey", "pk_checkout_lines"),
        ("checkout_lines_session_id_fkey", "fk_checkout_lines_session_id_checkout_sessions"),
    ],
    "invoices": [
        ("invoices_pkey", "pk_invoices"),
        ("invoices_session_id_key", "uq_invoices_session_id"),
        ("invoices_session_id_fkey", "fk_invoices_session_id_checkout_sessions"),
    ],
    "payments": [
        ("payments_pkey", "pk_payments"),
        ("payments_qpay_payment_id_key", "uq_payments_qpay_payment_id"),
        ("payments_session_id_fkey", "fk_payments_session_id_checkout_sessions"),
    ],
    "outbox": [("outbox_pkey", "pk_outbox"), ("outbox_event_id_key", "uq_outbox_event_id")],
}


def _rename(backwards: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, pairs in RENAMES.items():
        query = sa.text("SELECT conname FROM pg_constraint WHERE conrelid = CAST(:table AS regclass)")
        existing = set(bind.execute(query, {"table": table}).scalars())
        for old, new in pairs:
            source, target = (new, old) if backwards else (old, new)
            # A database made after the models adopted the convention has the new names already.
            if source in existing:
                op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{source}" TO "{target}"')


def upgrade() -> None:
    _rename(backwards=False)


def downgrade() -> None:
    _rename(backwards=True)
