"""The simulator's settings, read once from PAYGRANT_* variables by `paygrant qpay-sim`."""

from __future__ import annotations

from pydantic import SecretStr

from paygrant.settings import PaygrantSettings


class SimulatorSettings(PaygrantSettings):
    """The QPay simulator's listener and credentials."""

    qpay_sim_host: str = "127.0.0.1"
    qpay_sim_port: int = 8090
    qpay_client_id: str = "TEST_MERCHANT"
    qpay_client_secret: SecretStr = SecretStr("123456")
    qpay_invoice_code: str = "TEST_INVOICE"
