"""The session cache GetCheckout reads through: Redis when configured, nothing otherwise.

The database is the truth. A cache only saves GetCheckout (polled while a QR code is on screen)
a database read; every writer of a session stores its new state after its commit, and any cache
failure is answered from the database.
"""

from __future__ import annotations

from typing import Protocol

from payment_service.domain.checkout import CheckoutSession


class SessionCache(Protocol):
    """Sessions as last committed, keyed by id; `remember` never replaces a newer state with an older one.

    `fallbacks` counts the calls the cache failed (the database answered instead) since it was made.
    """

    fallbacks: int

    async def recall(self, session_id: str) -> CheckoutSession | None:
        """The cached session, or None (not cached, or the cache is unreadable)."""
        ...

    async def remember(self, session: CheckoutSession) -> None:
        """Caches the session as just committed or read; never raises."""
        ...


class NoSessionCache:
    """No cache: every GetCheckout reads the database."""

    fallbacks = 0

    async def recall(self, session_id: str) -> CheckoutSession | None:
        """Nothing is ever cached."""
        return None

    async def remember(self, session: CheckoutSession) -> None:
        """Nothing to store."""


NO_SESSION_CACHE = NoSessionCache()
