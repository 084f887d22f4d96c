"""The payment service's settings, read once from PAYGRANT_* variables at its entrypoint."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator

from paygrant.server_security import ServerSecurity
from paygrant.settings import EntitlementClientSettings


class PaymentSettings(EntitlementClientSettings):
    """Everything the payment service (and its relay) needs."""

    payment_database_url: str = "sqlite+aiosqlite:///var/payment.db"
    payment_grpc_host: str = "127.0.0.1"
    payment_grpc_port: int = 50051
    # Who may call: credential entries (paygrant.credentials; ';'-separated here, or a file of lines).
    # None configured: protected mode, serving on loopback only.
    payment_credentials: str = ""
    payment_credentials_file: Path | None = None
    # TLS for the gRPC server; with a client CA, callers must present a certificate it signed.
    payment_tls_cert_file: Path | None = None
    payment_tls_key_file: Path | None = None
    payment_tls_client_ca_file: Path | None = None
    payment_reflection: bool = True
    # Prometheus metrics on http://{host}:{port}/metrics; no port, no endpoint.
    payment_metrics_host: str = "127.0.0.1"
    payment_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    callback_host: str = "127.0.0.1"
    callback_port: int = 8081
    # The address QPay reaches the callback listener at (a public URL in production);
    # unset: the listener's own bound address, http://{callback_host}:{bound port}.
    callback_public_url: str | None = None
    qpay_base_url: str = "http://127.0.0.1:8090/v2"
    qpay_client_id: str = "TEST_MERCHANT"
    qpay_client_secret: SecretStr = SecretStr("123456")
    qpay_invoice_code: str = "TEST_INVOICE"
    qpay_timeout_seconds: float = 10.0
    checkout_ttl_seconds: int = Field(default=900, gt=0)
    # CheckPayment asks QPay about one session at most this often (QPay forbids tight polling).
    check_payment_interval_seconds: float = Field(default=5.0, ge=0)
    # The sparse sweep for lost callbacks: every `interval`, unpaid sessions expiring within
    # `lead` or expired within `grace` are checked with QPay, each at most once per `recheck`.
    sweep_enabled: bool = True
    sweep_interval_seconds: float = Field(default=30.0, gt=0)
    sweep_lead_seconds: float = Field(default=120.0, ge=0)
    sweep_grace_seconds: float = Field(default=3600.0, ge=0)
    sweep_recheck_seconds: float = Field(default=300.0, gt=0)
    relay_enabled: bool = True
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    relay_max_attempts: int = Field(default=12, gt=0)
    relay_backoff_base_seconds: float = Field(default=0.5, gt=0)
    relay_backoff_max_seconds: float = Field(default=300.0, gt=0)
    relay_call_timeout_seconds: float = Field(default=5.0, gt=0)
    # Rows a relay claims and delivers in one ApplyPaymentEvents call.
    relay_batch_size: int = Field(default=100, ge=1, le=1000)
    # How long a relay holds the rows it claimed: longer than a call may take, short enough that a
    # dead relay's rows are soon taken up by another.
    relay_lease_seconds: float = Field(default=30.0, gt=0)
    # Sent outbox rows are deleted this long after they were sent, in batches, every interval.
    outbox_retention_seconds: float = Field(default=7 * 24 * 3600.0, gt=0)
    outbox_prune_batch_size: int = Field(default=500, ge=1)
    outbox_prune_interval_seconds: float = Field(default=60.0, gt=0)
    # Session cache for GetCheckout; every read goes to the database when unset (the database is the truth).
    redis_url: str | None = None
    redis_key_prefix: str = Field(default="paygrant", pattern=r"^[^\s]{1,64}$")
    # PAID sessions stay cached this long; others this long at most, which bounds how long a state
    # cached across a Redis flush or outage can lag behind the database (redis_session_cache.py).
    session_cache_ttl_seconds: float = Field(default=900.0, gt=0)
    session_cache_pending_ttl_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _lease_outlives_a_call(self) -> Self:
        if self.relay_lease_seconds <= self.relay_call_timeout_seconds:
            raise ValueError(
                "relay_lease_seconds must be longer than relay_call_timeout_seconds: a relay still waiting"
                " for an answer would lose its rows to another"
            )
        return self

    def server_security(self) -> ServerSecurity:
        """Credentials, TLS and reflection of the gRPC server; raises CannotServe when misconfigured.

        Protected mode is checked here too, so a refused address stops the start before any I/O.
        """
        security = ServerSecurity.load(
            credentials=self.payment_credentials,
            credentials_file=self.payment_credentials_file,
            tls_cert_file=self.payment_tls_cert_file,
            tls_key_file=self.payment_tls_key_file,
            tls_client_ca_file=self.payment_tls_client_ca_file,
            reflection=self.payment_reflection,
        )
        security.check_address(self.payment_grpc_host)
        return security
