"""Alembic migration history of the entitlement service's database."""
