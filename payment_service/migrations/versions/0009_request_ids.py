"""Request ids: a checkout session keeps the request id of the CreateCheckout that made it.

checkout_sessions gains `request_id` (the gateway's `x-request-id`, or the id the service made for
that call), which every outbox event of the session carries to the entitlement service, so one
checkout can be followed through both services' logs. Sessions stored before this revision have
none (NULL). The column is added in place (no table is rebuilt on SQLite).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checkout_sessions", recreate="never") as table:
        table.add_column(sa.Column("request_id", sa.String(128), nullable=True))


def downgrade() -> None:
    # SQLite drops columns in place since 3.35.
    with op.batch_alter_table("checkout_sessions", recreate="never") as table:
        table.drop_column("request_id")
