"""The invoice we never stored: QPay opened it, its answer came after the client's timeout, the payer paid it.

The simulator's delay fault makes QPay create the invoice and answer later than the QPay client waits,
so CreateCheckout fails (UNAVAILABLE) with the session stored and no invoice. A payment of that invoice
must still be matched to the session (by its callback's secret and the invoice's sender_invoice_no) and
granted; everything else about such a session must keep working. Callbacks come from the simulator to
the service's real callback listener.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from alembic import command
from sqlalchemy import Connection, insert, select

from paygrant.contract_rules import EventType
from paygrant.db import alembic_config, open_database, utcnow
from payment_service.adapters import orm
from payment_service.adapters.orm import SCHEMA
from payment_service.adapters.qpay.client import QPayClient
from payment_service.adapters.qpay.provider import QPayProvider
from payment_service.domain.callback import CALLBACK_PATH, CallbackQuery, hash_secret
from payment_service.domain.checkout import CheckoutSession, CheckoutStatus, InvoiceBeingOpened
from payment_service.domain.errors import Forbidden, UpstreamUnavailable
from payment_service.domain.payment import Payment, PaymentOutcome, PaymentRejected
from payment_service.entrypoints.callback_http import create_callback_app
from payment_service.service_layer.checkout import CheckoutConfig, Checkouts, CreateCheckout
from payment_service.service_layer.checkout_cancellation import CheckoutCancellation
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from payment_service.service_layer.payment_sweep import PaymentSweep, SweepPass, SweepWindow
from payment_service.service_layer.unit_of_work import UnitOfWork
from tests.conftest import NewDatabase
from tests.integration.payment_harness import CHECK_INTERVAL, COURSE, NobodyOwnsAnything, PaymentHarness
from tests.waiting import eventually

# The QPay client's timeout here, and how late the simulator answers a delayed invoice: after the client gave up.
CLIENT_TIMEOUT = 1.0
LATE_ANSWER = CLIENT_TIMEOUT + 0.5
UNDER_WAY = dt.timedelta(seconds=30)


@dataclass
class Service:
    """The payment use cases over a QPay client with a short timeout, and the callback listener QPay calls."""

    harness: PaymentHarness
    checkouts: Checkouts
    confirmation: PaymentConfirmation
    cancellation: CheckoutCancellation
    callback_base_url: str

    async def checkout(self, key: str = "key-1", user: str = "user-1") -> CheckoutSession:
        return await self.checkouts.create(CreateCheckout(key, user, (COURSE,)))

    async def timed_out_checkout(self, key: str = "key-1", user: str = "user-1") -> CheckoutSession:
        """A CreateCheckout whose invoice QPay created but answered too late; the session as stored."""
        await self.harness.sim.set_faults(delay={"invoice_create": LATE_ANSWER})
        with pytest.raises(UpstreamUnavailable):
            await self.checkout(key, user)
        await self.harness.sim.set_faults(delay={})
        async with self.harness.uow_factory() as uow:
            stored = await uow.checkouts.by_idempotency_key(key)
        assert stored is not None
        return stored

    async def orphan(self, sender_invoice_no: str) -> dict[str, Any]:
        """QPay's invoice of that number, which the payer sees in their bank app."""
        invoice = await self.harness.sim.invoice_numbered(sender_invoice_no)
        assert invoice is not None, f"QPay opened no invoice {sender_invoice_no}"
        return invoice

    async def payments(self, session_id: str) -> list[Payment]:
        async with self.harness.database.sessions() as db:
            found = await db.scalars(
                select(Payment).where(orm.payments.c.session_id == session_id).order_by(orm.payments.c.paid_at)
            )
            return list(found)

    async def session(self, session_id: str) -> CheckoutSession:
        async with self.harness.uow_factory() as uow:
            session = await uow.checkouts.get(session_id)
        assert session is not None
        return session

    async def outbox_events(self) -> list[tuple[str, str]]:
        async with self.harness.database.engine.connect() as conn:
            rows = (await conn.execute(select(orm.outbox.c.event_type, orm.outbox.c.payment_id))).all()
        return [(row.event_type, row.payment_id) for row in rows]


@pytest.fixture
async def service(harness: PaymentHarness) -> AsyncIterator[Service]:
    async with QPayClient(harness.simulator.base_url, "TEST_MERCHANT", "123456", timeout=CLIENT_TIMEOUT) as qpay:
        provider = QPayProvider(qpay, "TEST_INVOICE")
        confirmation = PaymentConfirmation(harness.uow_factory, provider, CHECK_INTERVAL)
        runner = web.AppRunner(create_callback_app(confirmation), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            config = CheckoutConfig(base_url, dt.timedelta(minutes=15), invoice_under_way=UNDER_WAY)
            yield Service(
                harness=harness,
                checkouts=Checkouts(harness.uow_factory, provider, NobodyOwnsAnything(), config),
                confirmation=confirmation,
                cancellation=CheckoutCancellation(harness.uow_factory, provider, confirmation),
                callback_base_url=base_url,
            )
        finally:
            await runner.cleanup()


def _secret(invoice: dict[str, Any]) -> str:
    [secret] = parse_qs(urlsplit(str(invoice["callback_url"])).query)["secret"]
    return secret


async def test_a_timed_out_invoice_leaves_the_session_stored_and_a_payment_of_it_is_granted(service: Service) -> None:
    session = await service.timed_out_checkout()

    assert (session.status, session.invoice) == (CheckoutStatus.PENDING, None)
    [attempt] = session.invoice_attempts
    assert (attempt.sender_invoice_no, attempt.ended_at is not None) == (session.id, True)
    orphan = await service.orphan(session.id)
    assert orphan["callback_url"].startswith(f"{service.callback_base_url}{CALLBACK_PATH}?session_id={session.id}&")

    paid = await service.harness.sim.pay(orphan["invoice_id"])  # QPay calls the listener back before answering

    assert paid["callback_status"] == 200
    [payment] = await service.payments(session.id)
    assert (payment.qpay_payment_id, payment.outcome, payment.late) == (
        paid["payment_id"],
        PaymentOutcome.GRANTED,
        False,
    )
    stored = await service.session(session.id)
    assert (stored.status, stored.payment_id) == (CheckoutStatus.PAID, payment.id)
    assert stored.invoice is not None and stored.invoice.invoice_id == orphan["invoice_id"]
    assert await service.outbox_events() == [(EventType.PAYMENT_COMPLETED.value, payment.id)]


async def test_an_invoice_qpay_opened_after_its_caller_went_away_is_stored_and_a_retry_gets_it(
    service: Service,
) -> None:
    await service.harness.sim.set_faults(delay={"invoice_create": CLIENT_TIMEOUT / 2})  # answered, late for the caller
    caller = asyncio.create_task(service.checkout())

    async def invoice_opened() -> bool:
        async with service.harness.uow_factory() as uow:
            stored = await uow.checkouts.by_idempotency_key("key-1")
        return stored is not None and await service.harness.sim.invoice_numbered(stored.id) is not None

    await eventually(invoice_opened, what="QPay to open the invoice")  # and to hold its answer back
    caller.cancel()  # the gateway's deadline: its call is cancelled while QPay's answer is on its way
    with pytest.raises(asyncio.CancelledError):
        await caller
    await service.harness.sim.set_faults(delay={})

    async def invoice_stored() -> bool:
        async with service.harness.uow_factory() as uow:
            stored = await uow.checkouts.by_idempotency_key("key-1")
        return stored is not None and stored.invoice is not None

    await eventually(invoice_stored, what="QPay's answer to be stored")
    retried = await service.checkout()  # at once: no attempt is left under way
    assert retried.invoice is not None
    assert retried.invoice.invoice_id == (await service.orphan(retried.id))["invoice_id"]
    assert [a.sender_invoice_no for a in retried.invoice_attempts] == [retried.id], "no second invoice was opened"


@pytest.mark.parametrize("first_paid", ["orphan", "retry's"])
async def test_a_retry_after_the_timeout_opens_a_second_invoice_and_paying_both_makes_one_a_duplicate(
    service: Service, first_paid: str
) -> None:
    session = await service.timed_out_checkout()

    retried = await service.checkout()

    assert retried.id == session.id and retried.invoice is not None
    assert [a.sender_invoice_no for a in retried.invoice_attempts] == [session.id, f"{session.id}.2"]
    second = await service.orphan(f"{session.id}.2")
    assert second["invoice_id"] == retried.invoice.invoice_id
    assert _secret(second) != _secret(await service.orphan(session.id)), "each attempt has its own secret"
    invoices = [(await service.orphan(session.id))["invoice_id"], retried.invoice.invoice_id]
    if first_paid != "orphan":
        invoices.reverse()

    for invoice_id in invoices:
        assert (await service.harness.sim.pay(invoice_id))["callback_status"] == 200

    granted, duplicate = await service.payments(session.id)
    assert (granted.outcome, granted.refund_due) == (PaymentOutcome.GRANTED, False)
    assert (duplicate.outcome, duplicate.refund_due) == (PaymentOutcome.DUPLICATE, True)
    stored = await service.session(session.id)
    assert (stored.status, stored.payment_id, stored.received_amount) == (CheckoutStatus.PAID, granted.id, 3_000_000)
    assert stored.invoice is not None and stored.invoice.invoice_id == retried.invoice.invoice_id
    assert await service.outbox_events() == [(EventType.PAYMENT_COMPLETED.value, granted.id)]


@pytest.mark.parametrize("other_timed_out", [True, False], ids=["other-orphan", "other-stored"])
async def test_a_callback_naming_a_session_with_a_payment_of_another_sessions_invoice_is_refused(
    service: Service, other_timed_out: bool
) -> None:
    session = await service.timed_out_checkout("key-a", "user-a")
    if other_timed_out:
        other = await service.timed_out_checkout("key-b", "user-b")
        other_invoice = await service.orphan(other.id)
    else:
        other = await service.checkout("key-b", "user-b")
        assert other.invoice is not None
        other_invoice = await service.orphan(other.id)
    await service.harness.sim.set_faults(callback="drop")
    paid = await service.harness.sim.pay(other_invoice["invoice_id"])
    forged = CallbackQuery(session.id, _secret(await service.orphan(session.id)), paid["payment_id"])

    with pytest.raises(PaymentRejected, match="not for the invoice of session"):
        await service.confirmation.on_callback(forged)

    assert await service.payments(session.id) == []
    assert (await service.session(session.id)).invoice is None
    # The payment is its own session's, and recorded as such.
    payment = await service.confirmation.on_callback(
        CallbackQuery(other.id, _secret(other_invoice), paid["payment_id"])
    )
    assert (payment.session_id, payment.outcome) == (other.id, PaymentOutcome.GRANTED)


async def test_a_callback_with_a_wrong_secret_is_refused_and_the_right_one_then_records(service: Service) -> None:
    session = await service.timed_out_checkout()
    orphan = await service.orphan(session.id)
    await service.harness.sim.set_faults(callback="drop")
    paid = await service.harness.sim.pay(orphan["invoice_id"])
    url = f"{service.callback_base_url}{CALLBACK_PATH}"
    query = {"session_id": session.id, "qpay_payment_id": paid["payment_id"]}

    async with aiohttp.ClientSession() as http:
        async with http.get(url, params={**query, "secret": "not-the-secret"}) as refused:
            assert refused.status == 403
        assert await service.payments(session.id) == []
        async with http.get(url, params={**query, "secret": _secret(orphan)}) as answered:
            assert (answered.status, await answered.text()) == (200, "SUCCESS")

    with pytest.raises(Forbidden):
        await service.confirmation.on_callback(CallbackQuery(session.id, "not-the-secret", paid["payment_id"]))
    assert [p.outcome for p in await service.payments(session.id)] == [PaymentOutcome.GRANTED]


async def test_a_same_key_request_while_the_invoice_is_being_opened_opens_no_second_one(service: Service) -> None:
    sim = service.harness.sim
    await sim.set_faults(delay={"invoice_create": CLIENT_TIMEOUT * 0.8})  # slow, within the client's timeout
    first = asyncio.create_task(service.checkout())
    requests = service.harness.simulator.state.requests

    async def invoice_requested() -> bool:
        return requests["invoice_create"] == 1

    await eventually(invoice_requested, what="QPay to receive the first request's invoice")

    with pytest.raises(InvoiceBeingOpened) as refused:
        await service.checkout()

    assert isinstance(refused.value, UpstreamUnavailable), "UNAVAILABLE: retry with the same key"
    opened = await first
    assert opened.invoice is not None
    retried = await service.checkout()
    assert retried.invoice is not None and retried.invoice.invoice_id == opened.invoice.invoice_id
    assert requests["invoice_create"] == 1


async def test_concurrent_first_requests_with_one_key_store_one_session_and_open_one_invoice(service: Service) -> None:
    await service.harness.sim.set_faults(delay={"invoice_create": CLIENT_TIMEOUT / 2})

    answers = await asyncio.gather(*(service.checkout() for _ in range(4)), return_exceptions=True)

    sessions = [a for a in answers if isinstance(a, CheckoutSession)]
    assert sessions and all(isinstance(a, (CheckoutSession, InvoiceBeingOpened)) for a in answers), answers
    assert {s.id for s in sessions} == {sessions[0].id} and all(s.invoice is not None for s in sessions)
    assert service.harness.simulator.state.requests["invoice_create"] == 1
    assert await service.harness.count("checkout_sessions") == 1


async def test_a_session_without_invoice_is_read_checked_swept_and_cancelled_locally_and_its_late_payment_honoured(
    service: Service,
) -> None:
    session = await service.timed_out_checkout()
    requests = service.harness.simulator.state.requests
    window = SweepWindow(lead=dt.timedelta(hours=1), grace=dt.timedelta(hours=1), recheck=dt.timedelta(0))

    assert (await service.checkouts.get(session.id)).invoice is None
    assert (await service.confirmation.check(session.id)).status is CheckoutStatus.PENDING
    assert await PaymentSweep(service.harness.uow_factory, service.confirmation, window, 60).sweep_once() == SweepPass(
        checked=0, expired=0
    )
    cancelled = await service.cancellation.cancel(session.id)

    assert cancelled.status is CheckoutStatus.CANCELLED
    assert (requests["payment_check"], requests["invoice_cancel"]) == (0, 0)
    again = await service.checkout()  # a same-key retry of a cancelled session opens nothing
    assert (again.status, again.invoice, requests["invoice_create"]) == (CheckoutStatus.CANCELLED, None, 1)
    # The invoice QPay opened cannot be cancelled there; a payment of it is honoured, late.
    assert (await service.harness.sim.pay((await service.orphan(session.id))["invoice_id"]))["callback_status"] == 200
    [payment] = await service.payments(session.id)
    assert (payment.outcome, payment.late) == (PaymentOutcome.GRANTED, True)
    assert (await service.session(session.id)).status is CheckoutStatus.PAID


async def test_0008_gives_every_session_stored_before_it_its_one_invoice_attempt(new_database: NewDatabase) -> None:
    async with open_database(await new_database("payment"), SCHEMA) as database:
        config = alembic_config(SCHEMA.migrations, database.engine.url.render_as_string(hide_password=False))

        def migrate(connection: Connection, revision: str) -> None:
            config.attributes["connection"] = connection
            (command.downgrade if revision == "0007" else command.upgrade)(config, revision)

        now = utcnow()
        sessions = orm.checkout_sessions
        async with database.engine.begin() as conn:
            await conn.run_sync(migrate, "0007")
            for session_id, amount in (("paid-cart", 1_500_000), ("free-cart", 0)):
                await conn.execute(
                    insert(sessions).values(
                        id=session_id,
                        idempotency_key=f"key-{session_id}",
                        request_fingerprint="f",
                        user_id="user-1",
                        amount=amount,
                        currency="MNT",
                        status="PENDING",
                        callback_secret_hash=hash_secret(f"secret-{session_id}"),
                        created_at=now,
                        expires_at=now + dt.timedelta(minutes=15),
                    )
                )
            await conn.run_sync(migrate, "head")

        async with UnitOfWork(database.sessions) as uow:
            paid, free = await uow.checkouts.get("paid-cart"), await uow.checkouts.get("free-cart")
        assert paid is not None and free is not None
        [attempt] = paid.invoice_attempts
        assert (attempt.sender_invoice_no, attempt.number, attempt.requested_at) == ("paid-cart", 1, now)
        CallbackQuery("paid-cart", "secret-paid-cart", "qp-1").verify(paid.callback_secret_hashes)
        assert free.invoice_attempts == []
