"""What the CLI's client commands (demo, credentials checks) read: where each service is and how to call it."""

from __future__ import annotations

from paygrant.settings import EntitlementClientSettings, PaymentClientSettings


class CliSettings(PaymentClientSettings, EntitlementClientSettings):
    """Targets, tokens and TLS of both services, and the QPay simulator the demo pays through."""

    qpay_base_url: str = "http://127.0.0.1:8090/v2"
    redis_url: str | None = None  # `paygrant health` pings it when set
