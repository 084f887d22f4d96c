"""Stored expiry: reads and the sweep store EXPIRED, and no payment recorded at the same moment is ever lost to it.

The races are replayed deterministically on PostgreSQL: one side's transaction is held open just
before COMMIT (holding its row lock), the other is seen waiting for that lock in pg_stat_activity,
then the first is let go. A stress run then races many sessions at once on both backends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from paygrant.db import utcnow
from payment_service.adapters import orm
from payment_service.domain.callback import CallbackQuery
from payment_service.domain.checkout import CheckoutStatus
from payment_service.domain.payment import PaymentOutcome
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from payment_service.service_layer.payment_sweep import PaymentSweep, SweepPass, SweepWindow
from payment_service.service_layer.session_expiry import current_checkout, expire_overdue_sessions
from payment_service.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.conftest import POSTGRES_ONLY
from tests.integration.payment_harness import CHECK_INTERVAL, PaymentHarness
from tests.waiting import eventually, wait_for_event

# How many event-loop turns after its payment starts a session's read may start: enough to span the payment.
TURNS = 300
WINDOW = SweepWindow(lead=dt.timedelta(minutes=2), grace=dt.timedelta(hours=1), recheck=dt.timedelta(minutes=5))


async def _make_overdue(harness: PaymentHarness, *session_ids: str, by: dt.timedelta = dt.timedelta(seconds=1)) -> None:
    """Moves the sessions' expiry `by` into the past, as time passing would."""
    table = orm.checkout_sessions
    async with harness.database.engine.begin() as conn:
        await conn.execute(update(table).where(table.c.id.in_(session_ids)).values(expires_at=utcnow() - by))


async def _stored_statuses(harness: PaymentHarness) -> dict[str, str]:
    table = orm.checkout_sessions
    async with harness.database.engine.connect() as conn:
        return {row.id: row.status for row in await conn.execute(select(table.c.id, table.c.status))}


def _held_before_commit(harness: PaymentHarness) -> tuple[UnitOfWorkFactory, asyncio.Event, asyncio.Event]:
    """Units of work whose COMMIT waits for `release` after their writes reached the database (`reached`)."""
    reached, release = asyncio.Event(), asyncio.Event()

    class HeldBeforeCommit(AsyncSession):
        async def commit(self) -> None:
            await self.flush()
            reached.set()
            await release.wait()
            await super().commit()

    sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
        harness.database.engine, class_=HeldBeforeCommit, expire_on_commit=False
    )
    return lambda: UnitOfWork(sessions), reached, release


async def _someone_waits_for_a_lock(harness: PaymentHarness) -> bool:
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with harness.database.engine.connect() as conn:
        return bool((await conn.execute(query)).scalar_one())


async def test_a_read_of_an_overdue_session_stores_its_expiry(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    assert (await harness.checkouts.get(session_id)).status is CheckoutStatus.PENDING
    await _make_overdue(harness, session_id)

    shown = await harness.checkouts.get(session_id)

    assert shown.status is CheckoutStatus.EXPIRED
    assert (await _stored_statuses(harness))[session_id] == "EXPIRED", "what is shown is what is stored"


async def test_the_sweep_stores_expiry_of_every_overdue_unpaid_session_and_of_no_other(
    harness: PaymentHarness,
) -> None:
    overdue = [await harness.new_checkout(f"key-{n}", f"user-{n}") for n in range(3)]
    paid = await harness.new_checkout("key-paid", "user-paid")
    fresh = await harness.new_checkout("key-fresh", "user-fresh")
    await harness.confirmation.on_callback(await harness.callback(paid, await harness.pay_silently(paid)))
    # Past the sweep's grace, so QPay is not asked about them: only the sweep's expiry write reaches them.
    await _make_overdue(harness, *overdue, paid, by=WINDOW.grace * 2)
    sweep = PaymentSweep(harness.uow_factory, harness.confirmation, WINDOW, interval=60)

    first, second = await sweep.sweep_once(), await sweep.sweep_once()

    assert (first, second) == (SweepPass(checked=0, expired=3), SweepPass(checked=0, expired=0))
    statuses = await _stored_statuses(harness)
    assert [statuses[s] for s in overdue] == ["EXPIRED"] * 3
    assert (statuses[paid], statuses[fresh]) == ("PAID", "PENDING")


async def test_expiry_is_stored_in_batches_until_none_is_left(harness: PaymentHarness) -> None:
    sessions = [await harness.new_checkout(f"key-{n}", f"user-{n}") for n in range(5)]
    await _make_overdue(harness, *sessions)

    assert await expire_overdue_sessions(harness.uow_factory, utcnow(), batch=2) == 5

    assert set((await _stored_statuses(harness)).values()) == {"EXPIRED"}


@POSTGRES_ONLY
async def test_a_payment_committing_while_expiry_is_written_is_not_overwritten(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    callback = await harness.callback(session_id, await harness.pay_silently(session_id))
    await _make_overdue(harness, session_id)
    held_uow, reached, release = _held_before_commit(harness)
    recorder = asyncio.create_task(
        PaymentConfirmation(held_uow, harness.provider, CHECK_INTERVAL).on_callback(callback)
    )
    await wait_for_event(reached, what="the payment written, not committed, its session row locked")

    reader = asyncio.create_task(current_checkout(harness.uow_factory, session_id))
    await eventually(lambda: _someone_waits_for_a_lock(harness), what="the expiry write to wait for the row lock")
    release.set()
    payment, shown = await recorder, await reader

    assert shown.status is CheckoutStatus.PAID, "the conditional write found the session paid and stored nothing"
    assert (await _stored_statuses(harness))[session_id] == "PAID"
    assert (payment.outcome, payment.late) == (PaymentOutcome.GRANTED, True), "its time was up: late, granted"
    assert await harness.count("outbox") == 1


@POSTGRES_ONLY
async def test_a_payment_arriving_while_expiry_commits_is_recorded_after_it_late_and_granted(
    harness: PaymentHarness,
) -> None:
    session_id = await harness.new_checkout()
    callback = await harness.callback(session_id, await harness.pay_silently(session_id))
    await _make_overdue(harness, session_id)
    held_uow, reached, release = _held_before_commit(harness)
    reader = asyncio.create_task(current_checkout(held_uow, session_id))
    await wait_for_event(reached, what="EXPIRED written, not committed")

    recorder = asyncio.create_task(harness.confirmation.on_callback(callback))
    await eventually(lambda: _someone_waits_for_a_lock(harness), what="the payment to wait for the row lock")
    release.set()
    shown, payment = await reader, await recorder

    assert shown.status is CheckoutStatus.EXPIRED
    assert (payment.outcome, payment.late) == (PaymentOutcome.GRANTED, True)
    assert (await _stored_statuses(harness))[session_id] == "PAID"
    assert await harness.count("payments") == 1 and await harness.count("outbox") == 1


async def test_many_sessions_raced_by_expiry_writers_and_payments_lose_no_payment(harness: PaymentHarness) -> None:
    """Every session is overdue and paid at QPay; its payment, a read of it and the sweep's batches race.

    Each read starts a random number of event-loop turns after its session's payment started, so
    it meets the payment anywhere from before its lookup at QPay to after its commit; the sweep
    writes batches from halfway on. Both orders must happen: a read that finds the session unpaid
    stores EXPIRED before the payment (and answers EXPIRED), one that comes after answers PAID
    (the tests above replay each order deterministically).
    """
    rng = random.Random(8)
    sessions = [await harness.new_checkout(f"key-{n}", f"user-{n}") for n in range(40)]
    callbacks = [await harness.callback(s, await harness.pay_silently(s)) for s in sessions]
    await _make_overdue(harness, *sessions)

    async def race(session_id: str, callback: CallbackQuery, turns: int) -> CheckoutStatus:
        recording = asyncio.create_task(harness.confirmation.on_callback(callback))
        for _ in range(turns):  # seeded interleaving (loop turns, not time): where the read meets the payment
            await asyncio.sleep(0)
        shown = await current_checkout(harness.uow_factory, session_id)
        await recording
        return shown.status

    async def sweep(turns: int) -> None:
        for _ in range(turns):  # the sweep joins halfway through, counted in loop turns, not time
            await asyncio.sleep(0)
        while not races.done():
            await expire_overdue_sessions(harness.uow_factory, utcnow(), batch=3)

    races = asyncio.gather(*(race(s, c, rng.randrange(TURNS)) for s, c in zip(sessions, callbacks, strict=True)))
    shown, _ = await asyncio.gather(races, sweep(TURNS // 2))

    statuses = await _stored_statuses(harness)
    assert [s for s in sessions if statuses[s] != "PAID"] == [], "a paid session ended EXPIRED"
    assert await harness.count("payments") == len(sessions) and await harness.count("outbox") == len(sessions)
    async with harness.database.engine.connect() as conn:
        rows = (await conn.execute(select(orm.payments.c.outcome, orm.payments.c.late))).all()
    assert {(row.outcome, row.late) for row in rows} == {("GRANTED", True)}
    expired_first = shown.count(CheckoutStatus.EXPIRED)
    assert 0 < expired_first < len(sessions), f"{expired_first} reads expired first: the race needs both orders"
