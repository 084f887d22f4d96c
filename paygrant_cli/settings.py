"""What the CLI's client commands (demo, health, reconcile) read: where each service is and how to call it."""

from __future__ import annotations

from pydantic import SecretStr

from paygrant.settings import EntitlementClientSettings, PaymentClientSettings


class CliSettings(PaymentClientSettings, EntitlementClientSettings):
    """Targets, tokens and TLS of both services, and the QPay simulator the demo pays through."""

    qpay_base_url: str = "http://127.0.0.1:8090/v2"
    # `paygrant reconcile --against-qpay` reads QPay's payment list as the payment service's merchant.
    qpay_client_id: str = "TEST_MERCHANT"
    qpay_client_secret: SecretStr = SecretStr("123456")
    qpay_invoice_code: str = "TEST_INVOICE"
    redis_url: str | None = None  # `paygrant health` pings it when set
