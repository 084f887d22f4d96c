"""Alembic environment of the payment service's migration history."""

from paygrant.migration_env import run_migrations
from payment_service.adapters.orm import metadata

run_migrations(metadata)
