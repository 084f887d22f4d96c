"""The relay's batches: a lease per claimed outbox row, and an index to delete sent rows by age.

`lease_token` names the claim of the relay delivering a row (its lease ends at the row's
next_attempt_at); rows written before this revision have none. `ix_outbox_sent_at` serves the
retention's deletion of sent rows. Added in place (no table is rebuilt on SQLite).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", recreate="never") as table:
        table.add_column(sa.Column("lease_token", sa.String(36), nullable=True))
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    # SQLite drops columns in place since 3.35.
    with op.batch_alter_table("outbox", recreate="never") as table:
        table.drop_column("lease_token")
