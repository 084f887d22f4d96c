"""The simulator's knobs, defaulting to QPay's public sandbox credentials."""

from __future__ import annotations

from dataclasses import dataclass

DAY = 24 * 60 * 60


@dataclass(frozen=True)
class SimulatorConfig:
    """Who may log in, which invoice code is valid, and how long tokens live."""

    client_id: str = "TEST_MERCHANT"
    client_secret: str = "123456"
    invoice_code: str = "TEST_INVOICE"
    token_ttl: float = DAY
    refresh_ttl: float = DAY
    callback_timeout: float = 10.0
