"""The base of every paygrant settings class: PAYGRANT_* variables, read once at an entrypoint.

Also the settings of a client of each service, shared by every process that calls it: the
payment service calls the entitlement service; the CLI calls both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from paygrant.grpc_channel import ChannelSecurity


class PaygrantSettings(BaseSettings):
    """Reads fields from PAYGRANT_<FIELD> variables and ignores variables meant for other processes."""

    model_config = SettingsConfigDict(env_prefix="PAYGRANT_", extra="ignore")

    # Set by `--workers N` for its workers: listeners bind with SO_REUSEPORT so siblings share them.
    shared_ports: bool = False
    # Log lines as text for a terminal, or one JSON object each for a log collector.
    log_format: Literal["text", "json"] = "text"


class EntitlementClientSettings(PaygrantSettings):
    """How this process reaches the entitlement service: address, bearer token, TLS."""

    entitlement_target: str = "127.0.0.1:50052"
    entitlement_token: SecretStr | None = None
    entitlement_ca_file: Path | None = None
    entitlement_client_cert_file: Path | None = None
    entitlement_client_key_file: Path | None = None

    def entitlement_channel(self) -> ChannelSecurity:
        """The credentials presented to the entitlement service."""
        return ChannelSecurity(
            self.entitlement_token,
            self.entitlement_ca_file,
            self.entitlement_client_cert_file,
            self.entitlement_client_key_file,
        )


class PaymentClientSettings(PaygrantSettings):
    """How this process reaches the payment service: address, bearer token, TLS."""

    payment_target: str = "127.0.0.1:50051"
    payment_token: SecretStr | None = None
    payment_ca_file: Path | None = None
    payment_client_cert_file: Path | None = None
    payment_client_key_file: Path | None = None

    def payment_channel(self) -> ChannelSecurity:
        """The credentials presented to the payment service."""
        return ChannelSecurity(
            self.payment_token, self.payment_ca_file, self.payment_client_cert_file, self.payment_client_key_file
        )
