"""The entitlement service's settings, read once from PAYGRANT_* variables at its entrypoint."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from paygrant.server_security import ServerSecurity
from paygrant.settings import PaygrantSettings


class EntitlementSettings(PaygrantSettings):
    """Everything the entitlement service needs."""

    entitlement_database_url: str = "sqlite+aiosqlite:///var/entitlement.db"
    entitlement_grpc_host: str = "127.0.0.1"
    entitlement_grpc_port: int = 50052
    # Who may call: credential entries (paygrant.credentials; ';'-separated here, or a file of lines).
    # None configured: protected mode, serving on loopback only.
    entitlement_credentials: str = ""
    entitlement_credentials_file: Path | None = None
    # TLS for the gRPC server; with a client CA, callers must present a certificate it signed.
    entitlement_tls_cert_file: Path | None = None
    entitlement_tls_key_file: Path | None = None
    entitlement_tls_client_ca_file: Path | None = None
    entitlement_reflection: bool = True
    # Prometheus metrics on http://{host}:{port}/metrics; no port, no endpoint.
    entitlement_metrics_host: str = "127.0.0.1"
    entitlement_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # Ownership cache; checks go to the database when unset.
    redis_url: str | None = None
    redis_key_prefix: str = Field(default="paygrant", pattern=r"^[^\s]{1,64}$")  # also names a Redis connection
    ownership_cache_ttl_seconds: int = Field(default=300, gt=0)
    # With Redis, answers are also kept in each process's memory, kept right by pub/sub invalidations;
    # 0 users turns that off. The TTL bounds what a lost invalidation could cost.
    ownership_memory_users: int = Field(default=100_000, ge=0)
    ownership_memory_ttl_seconds: float = Field(default=60.0, gt=0)

    def server_security(self) -> ServerSecurity:
        """Credentials, TLS and reflection of the gRPC server; raises CannotServe when misconfigured.

        Protected mode is checked here too, so a refused address stops the start before any I/O.
        """
        security = ServerSecurity.load(
            credentials=self.entitlement_credentials,
            credentials_file=self.entitlement_credentials_file,
            tls_cert_file=self.entitlement_tls_cert_file,
            tls_key_file=self.entitlement_tls_key_file,
            tls_client_ca_file=self.entitlement_tls_client_ca_file,
            reflection=self.entitlement_reflection,
        )
        security.check_address(self.entitlement_grpc_host)
        return security
