"""The QPay callback contract: the URL a session's invoice calls back, and reading that call back.

QPay's callback is unsigned, so the URL carries a secret; the session stores only its hash. Each attempt
to open the session's invoice has its own secret (domain.checkout.InvoiceAttempt), and every one of them
stays valid: an attempt whose answer was lost may have opened an invoice that is paid later.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from payment_service.domain.errors import Forbidden
from payment_service.domain.validation import require_id

CALLBACK_PATH = "/qpay/callback"


def new_secret() -> str:
    """A fresh callback secret for one session."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """What a session stores of its callback secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def callback_url(base_url: str, session_id: str, secret: str) -> str:
    """The URL QPay calls when the session's invoice is paid; QPay appends `&qpay_payment_id=…`."""
    query = urlencode({"session_id": session_id, "secret": secret})
    return f"{base_url.rstrip('/')}{CALLBACK_PATH}?{query}"


@dataclass(frozen=True)
class CallbackQuery:
    """What a callback claims: this session's invoice was paid by this QPay payment."""

    session_id: str
    secret: str
    qpay_payment_id: str

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> CallbackQuery:
        """Reads the callback's query; InvalidRequest naming the first missing or malformed field.

        Each value is checked like an id (1-128 characters, no control characters), so nothing
        malformed reaches the database; no message repeats a value (one of them is the secret).
        """
        values = {field: query.get(field, "") for field in ("session_id", "secret", "qpay_payment_id")}
        for field, value in values.items():
            require_id(value, field)
        return cls(**values)

    def verify(self, secret_hashes: list[str]) -> None:
        """Raises Forbidden unless the query's secret is one whose hash the session stores (one per invoice attempt)."""
        given = hash_secret(self.secret)
        # Every hash is compared, in constant time each, so the time taken does not tell which one matched.
        matches = [hmac.compare_digest(secret_hash, given) for secret_hash in secret_hashes]
        if not any(matches):
            raise Forbidden("the callback secret does not match the session", "secret")
