"""GetCheckout reads through the Redis session cache; the database stays the truth.

Against real Redis and the database (each backend): a miss fills the cache and a hit answers
without the database; a payment writes its PAID through at once; a reader's older state never
replaces a newer one; the service's keys removed between checkout and payment (a flush, as far
as this service can tell) change nothing for the payer; and with Redis unreachable every call is
answered from the database and counted, the outage logged once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from payment_service.adapters import orm
from payment_service.adapters.redis_session_cache import RedisSessionCache
from payment_service.domain.checkout import CheckoutStatus
from payment_service.service_layer.checkout import CheckoutConfig, Checkouts, CreateCheckout
from payment_service.service_layer.checkout_cancellation import CheckoutCancellation
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from payment_service.service_layer.unit_of_work import UnitOfWork
from tests.integration.payment_harness import CHECK_INTERVAL, COURSE, NobodyOwnsAnything, PaymentHarness


@dataclasses.dataclass
class Cached:
    """The payment use cases wired to one session cache, and the units of work they opened."""

    cache: RedisSessionCache
    checkouts: Checkouts
    confirmation: PaymentConfirmation
    cancellation: CheckoutCancellation
    units_opened: list[int]


@contextlib.asynccontextmanager
async def _cached(harness: PaymentHarness, redis_url: str, prefix: str) -> AsyncIterator[Cached]:
    opened = [0]

    def counting_uow() -> UnitOfWork:
        opened[0] += 1
        uow = harness.uow_factory()
        assert isinstance(uow, UnitOfWork)
        return uow

    cache = RedisSessionCache.connect(redis_url, prefix, ttl_seconds=60, pending_ttl_seconds=60)
    config = CheckoutConfig("http://127.0.0.1:9/unused", dt.timedelta(minutes=15))
    confirmation = PaymentConfirmation(counting_uow, harness.provider, CHECK_INTERVAL, cache)
    try:
        yield Cached(
            cache=cache,
            checkouts=Checkouts(counting_uow, harness.provider, NobodyOwnsAnything(), config, cache),
            confirmation=confirmation,
            cancellation=CheckoutCancellation(counting_uow, harness.provider, confirmation, cache),
            units_opened=opened,
        )
    finally:
        await cache.aclose()


async def _pay(harness: PaymentHarness, cached: Cached, session_id: str) -> str:
    """Pays the session at QPay and delivers the callback through the cached confirmation; the payment id."""
    qpay_payment_id = await harness.pay_silently(session_id)
    payment = await cached.confirmation.on_callback(await harness.callback(session_id, qpay_payment_id))
    return payment.id


async def _grants(harness: PaymentHarness) -> list[str]:
    table = orm.outbox
    async with harness.database.engine.connect() as conn:
        rows = await conn.execute(select(table.c.payment_id, table.c.event_type).order_by(table.c.id))
        return [row.payment_id for row in rows if row.event_type == "PaymentCompleted"]


async def test_a_miss_fills_the_cache_and_a_hit_answers_without_the_database(
    harness: PaymentHarness, redis: Redis, redis_url: str, redis_prefix: str
) -> None:
    async with _cached(harness, redis_url, redis_prefix) as cached:
        session_id = await harness.new_checkout()  # created without the cache: not cached yet
        assert await cached.cache.recall(session_id) is None

        missed = await cached.checkouts.get(session_id)
        assert cached.units_opened == [1]
        assert await redis.exists(f"{redis_prefix}:session:{session_id}") == 1

        opened = cached.units_opened[0]
        hit = await cached.checkouts.get(session_id)
        assert cached.units_opened[0] == opened  # no database read
        assert (hit.id, hit.status, hit.amount, hit.expires_at, hit.lines[0].item) == (
            missed.id,
            CheckoutStatus.PENDING,
            missed.amount,
            missed.expires_at,
            COURSE,
        )
        assert hit.invoice is not None and missed.invoice is not None
        assert hit.invoice.qr_text == missed.invoice.qr_text
        assert cached.cache.fallbacks == 0


async def test_a_payment_writes_paid_through_to_the_cache(
    harness: PaymentHarness, redis: Redis, redis_url: str, redis_prefix: str
) -> None:
    async with _cached(harness, redis_url, redis_prefix) as cached:
        created = await cached.checkouts.create(CreateCheckout("key-1", "user-1", (COURSE,)))
        assert (await cached.checkouts.get(created.id)).status is CheckoutStatus.PENDING  # cached at creation

        payment_id = await _pay(harness, cached, created.id)

        stored = await cached.cache.recall(created.id)
        async with harness.uow_factory() as uow:
            truth = await uow.checkouts.get(created.id)
        assert stored is not None and truth is not None
        assert (stored.status, stored.payment_id) == (CheckoutStatus.PAID, payment_id)
        assert (stored.paid_at, stored.received_amount, stored.expires_at) == (
            truth.paid_at,
            truth.received_amount,
            truth.expires_at,
        )
        assert (await cached.checkouts.get(created.id)).status is CheckoutStatus.PAID


async def test_an_older_state_never_replaces_a_newer_one(
    harness: PaymentHarness, redis: Redis, redis_url: str, redis_prefix: str
) -> None:
    """A poller that read PENDING from the database just before the payment committed fills the cache late."""
    async with _cached(harness, redis_url, redis_prefix) as cached:
        session_id = await harness.new_checkout()
        async with harness.uow_factory() as uow:
            read_before_payment = await uow.checkouts.get(session_id)
        assert read_before_payment is not None and read_before_payment.status is CheckoutStatus.PENDING

        await _pay(harness, cached, session_id)
        await cached.cache.remember(read_before_payment)  # the slow poller's fill

        assert (await cached.checkouts.get(session_id)).status is CheckoutStatus.PAID


async def test_a_payment_after_redis_lost_the_session_still_grants(
    harness: PaymentHarness, redis: Redis, redis_url: str, redis_prefix: str
) -> None:
    async with _cached(harness, redis_url, redis_prefix) as cached:
        created = await cached.checkouts.create(CreateCheckout("key-1", "user-1", (COURSE,)))
        assert await cached.cache.recall(created.id) is not None
        # Flushed: the session's key goes (FLUSHALL would also hit other tests' keys).
        assert await redis.delete(f"{redis_prefix}:session:{created.id}") == 1

        payment_id = await _pay(harness, cached, created.id)

        assert await _grants(harness) == [payment_id]
        session = await cached.checkouts.get(created.id)
        assert (session.status, session.payment_id) == (CheckoutStatus.PAID, payment_id)
        assert cached.cache.fallbacks == 0  # a missing key is a miss, not a failure


async def test_with_redis_down_every_call_is_answered_from_the_database_and_counted(
    harness: PaymentHarness, refused_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="payment_service.adapters.redis_session_cache")
    async with _cached(harness, f"redis://127.0.0.1:{refused_port}/0", "paygrant-down") as cached:
        created = await cached.checkouts.create(CreateCheckout("key-1", "user-1", (COURSE,)))
        assert (await cached.checkouts.get(created.id)).status is CheckoutStatus.PENDING
        payment_id = await _pay(harness, cached, created.id)
        session = await cached.checkouts.get(created.id)

        assert (session.status, session.payment_id) == (CheckoutStatus.PAID, payment_id)
        assert await _grants(harness) == [payment_id]
        # create's write, get's read and fill (twice), the payment's write.
        assert cached.cache.fallbacks == 6
        outage_logs = [r for r in caplog.records if r.name == "payment_service.adapters.redis_session_cache"]
        assert len(outage_logs) == 1


async def test_a_cancel_writes_through_and_a_cached_overdue_session_is_read_from_the_database(
    harness: PaymentHarness, redis: Redis, redis_url: str, redis_prefix: str
) -> None:
    async with _cached(harness, redis_url, redis_prefix) as cached:
        created = await cached.checkouts.create(CreateCheckout("key-1", "user-1", (COURSE,)))
        await cached.cancellation.cancel(created.id)
        stored = await cached.cache.recall(created.id)
        assert stored is not None and stored.status is CheckoutStatus.CANCELLED

        other = await cached.checkouts.create(CreateCheckout("key-2", "user-1", (COURSE,)))
        async with harness.database.engine.begin() as conn:
            table = orm.checkout_sessions
            past = other.created_at - dt.timedelta(minutes=1)
            await conn.execute(table.update().where(table.c.id == other.id).values(expires_at=past))
        async with harness.uow_factory() as uow:
            overdue = await uow.checkouts.get(other.id)
        assert overdue is not None
        await cached.cache.remember(overdue)  # cached PENDING with its time up, as if the clock had moved on
        assert (await cached.checkouts.get(other.id)).status is CheckoutStatus.EXPIRED
        stored = await cached.cache.recall(other.id)
        assert stored is not None and stored.status is CheckoutStatus.EXPIRED
