"""The base of every paygrant settings class: PAYGRANT_* variables, read once at an entrypoint."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class PaygrantSettings(BaseSettings):
    """Reads fields from PAYGRANT_<FIELD> variables and ignores variables meant for other processes."""

    model_config = SettingsConfigDict(env_prefix="PAYGRANT_", extra="ignore")
