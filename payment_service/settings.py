"""The payment service's settings, read once from PAYGRANT_* variables at its entrypoint."""

from __future__ import annotations

from pydantic import Field, SecretStr

from paygrant.settings import PaygrantSettings


class PaymentSettings(PaygrantSettings):
    """Everything the payment service (and its relay) needs."""

    payment_database_url: str = "sqlite+aiosqlite:///var/payment.db"
    payment_grpc_host: str = "127.0.0.1"
    payment_grpc_port: int = 50051
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
    entitlement_target: str = "127.0.0.1:50052"
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
