"""Alembic environment of the entitlement service: its own tables, its own history."""

from __future__ import annotations

from entitlement_service.adapters.orm import metadata
from paygrant.migration_env import run_migrations

run_migrations(metadata)
