"""The entitlement service's settings, read once from PAYGRANT_* variables at its entrypoint."""

from __future__ import annotations

from pydantic import Field

from paygrant.settings import PaygrantSettings


class EntitlementSettings(PaygrantSettings):
    """Everything the entitlement service needs."""

    entitlement_database_url: str = "sqlite+aiosqlite:///var/entitlement.db"
    entitlement_grpc_host: str = "127.0.0.1"
    entitlement_grpc_port: int = 50052
    # Ownership cache; checks go to the database when unset.
    redis_url: str | None = None
    redis_key_prefix: str = "paygrant"
    ownership_cache_ttl_seconds: int = Field(default=300, gt=0)
