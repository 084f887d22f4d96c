"""The session cache in Redis, kept from going back in time by a version compared on every write.

Each session is one hash `{prefix}:session:{id}` holding its state as JSON and its version. A
session only moves forward: its status rank (PENDING < EXPIRED < CANCELLED < PAID: expiry may be
followed by a cancel, either by a late payment, and nothing leaves PAID) and, within one status,
the money received, which only grows. That pair is the version, and one Lua script writes a state
only when it is not older than the cached one. So a reader that loaded PENDING from the database
just before a payment committed cannot overwrite the PAID the payer's write-through stored: its
late fill is refused. Delete-on-write would leave that race open (the slow reader refills after
the delete), and WATCH/MULTI costs a round trip more for the same effect.

What remains is bounded by the TTL of a non-final state (`session_cache_pending_ttl_seconds`):
Redis flushed or restarted between a payer's write and a slow reader's fill, or a payer whose
write failed while Redis was unreachable, can leave an older state cached at most that long.
PAID entries live `session_cache_ttl_seconds`. Every Redis error is answered from the database
and counted in `fallbacks`; an outage is logged when it starts, not once per call.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from paygrant.metrics import SESSION_CACHE_FALLBACKS
from payment_service.domain.checkout import CheckoutLine, CheckoutSession, CheckoutStatus, Invoice

log = logging.getLogger(__name__)

# How long a call waits on Redis before the database answers instead.
TIMEOUT_SECONDS = 0.5

_RANK = {CheckoutStatus.PENDING: 0, CheckoutStatus.EXPIRED: 1, CheckoutStatus.CANCELLED: 2, CheckoutStatus.PAID: 3}

# KEYS[1] the session's hash; ARGV: rank, received amount, state, TTL in ms. Returns 1 if written.
_WRITE_IF_NOT_OLDER = """
local cached = redis.call('HMGET', KEYS[1], 'rank', 'received')
if cached[1] then
  local rank, received = tonumber(cached[1]), tonumber(cached[2])
  local new_rank, new_received = tonumber(ARGV[1]), tonumber(ARGV[2])
  if new_rank < rank or (new_rank == rank and new_received < received) then
    return 0
  end
end
redis.call('HSET', KEYS[1], 'rank', ARGV[1], 'received', ARGV[2], 'state', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""


class RedisSessionCache:
    """Sessions in Redis; `fallbacks` counts the calls Redis failed and the database answered instead."""

    def __init__(self, redis: Redis, prefix: str, ttl_seconds: float, pending_ttl_seconds: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_ms = int(ttl_seconds * 1000)
        self._pending_ttl_ms = int(pending_ttl_seconds * 1000)
        self._write = redis.register_script(_WRITE_IF_NOT_OLDER)
        self._failing = False  # an outage is logged once, when it starts
        self.fallbacks = 0

    @classmethod
    def connect(cls, url: str, prefix: str, ttl_seconds: float, pending_ttl_seconds: float) -> RedisSessionCache:
        """A cache on its own client, which never retries or waits long: a failing Redis is answered around.

        Nothing is sent yet, so a Redis down at start never stops the service.
        """
        redis = Redis.from_url(
            url,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=TIMEOUT_SECONDS,
            socket_timeout=TIMEOUT_SECONDS,
        )
        return cls(redis, prefix, ttl_seconds, pending_ttl_seconds)

    async def aclose(self) -> None:
        """Closes the client's connections."""
        await self._redis.aclose()

    async def recall(self, session_id: str) -> CheckoutSession | None:
        """The cached session; None when it is not cached or Redis fails (counted)."""
        try:
            state = await self._redis.hget(self._key(session_id), "state")
        except RedisError as error:
            self._report_failure("unreadable, answering from the database", error)
            return None
        self._report_success()
        if state is None:
            return None
        try:
            return _decode(json.loads(state))
        except (ValueError, KeyError, TypeError):  # not what this code writes: a miss, overwritten by the fill
            log.warning("session cache: unreadable entry for session %s, reading the database", session_id)
            await self._forget(session_id)
            return None

    async def _forget(self, session_id: str) -> None:
        try:
            await self._redis.delete(self._key(session_id))
        except RedisError as error:
            self._report_failure("unwritable, sessions not cached", error)

    async def remember(self, session: CheckoutSession) -> None:
        """Caches the session unless a newer state of it is cached; Redis failures are counted, not raised."""
        ttl = self._ttl_ms if session.status is CheckoutStatus.PAID else self._pending_ttl_ms
        try:
            await self._write(
                keys=[self._key(session.id)],
                args=[_RANK[session.status], session.received_amount, json.dumps(_encode(session)), ttl],
            )
        except RedisError as error:
            self._report_failure("unwritable, sessions not cached", error)
            return
        self._report_success()

    def _report_failure(self, what: str, error: RedisError) -> None:
        self.fallbacks += 1
        SESSION_CACHE_FALLBACKS.inc()
        if not self._failing:
            log.warning("session cache %s: %s", what, error)
        self._failing = True

    def _report_success(self) -> None:
        if self._failing:
            self._failing = False
            log.info("session cache reachable again")

    def _key(self, session_id: str) -> str:
        return f"{self._prefix}:session:{session_id}"


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _encode(session: CheckoutSession) -> dict[str, Any]:
    invoice = session.invoice
    return {
        "id": session.id,
        "idempotency_key": session.idempotency_key,
        "request_fingerprint": session.request_fingerprint,
        "user_id": session.user_id,
        "currency": session.currency,
        "lines": [[line.kind, line.item_id, line.title, line.amount] for line in session.lines],
        "callback_secret_hash": session.callback_secret_hash,
        "created_at": session.created_at.isoformat(),
        "expires_at": session.expires_at.isoformat(),
        "status": session.status.value,
        "payment_id": session.payment_id,
        "paid_at": _time(session.paid_at),
        "last_checked_at": _time(session.last_checked_at),
        "received_amount": session.received_amount,
        "cancelled_at": _time(session.cancelled_at),
        "request_id": session.request_id,
        "invoice": None
        if invoice is None
        else [invoice.invoice_id, invoice.qr_text, invoice.qr_image, invoice.short_url, invoice.deeplinks],
    }


def _decode(state: dict[str, Any]) -> CheckoutSession:
    session = CheckoutSession(
        id=state["id"],
        idempotency_key=state["idempotency_key"],
        request_fingerprint=state["request_fingerprint"],
        user_id=state["user_id"],
        currency=state["currency"],
        lines=[CheckoutLine(*line) for line in state["lines"]],
        callback_secret_hash=state["callback_secret_hash"],
        created_at=dt.datetime.fromisoformat(state["created_at"]),
        expires_at=dt.datetime.fromisoformat(state["expires_at"]),
        request_id=state.get("request_id"),  # absent from entries cached before request ids were kept
    )
    session.status = CheckoutStatus(state["status"])
    session.payment_id = state["payment_id"]
    session.paid_at = _parse_time(state["paid_at"])
    session.last_checked_at = _parse_time(state["last_checked_at"])
    session.received_amount = state["received_amount"]
    session.cancelled_at = _parse_time(state["cancelled_at"])
    session.invoice = None if state["invoice"] is None else Invoice(*state["invoice"])
    return session
