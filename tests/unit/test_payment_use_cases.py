"""Checkout and payment confirmation, over an in-memory unit of work and payment provider."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from paygrant.contract_rules import EventType
from paygrant.db import utcnow
from payment_service.domain.callback import CallbackQuery
from payment_service.domain.catalog import ItemRef, Product
from payment_service.domain.checkout import CheckoutSession, CheckoutStatus
from payment_service.domain.errors import Conflict, FailedPrecondition, Forbidden, InvalidTransition
from payment_service.domain.payment import PaymentRejected
from payment_service.service_layer.checkout import CheckoutConfig, Checkouts, CreateCheckout
from payment_service.service_layer.checkout_cancellation import CheckoutCancellation
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from tests.unit.payment_fakes import FakePaymentProvider, FakeStore, FakeUnitOfWork

COURSE = ItemRef("course", "algebra-1")
FREEBIE = ItemRef("test", "placement")
CALLBACK_BASE = "https://shop.example"


class Ownership:
    """The entitlement service's answer: which items each user owns."""

    def __init__(self, owned: set[ItemRef] | None = None) -> None:
        self.owned = owned or set()

    async def owned_items(self, user_id: str, items: object) -> set[ItemRef]:
        return set(self.owned)


class World:
    """The use cases over one in-memory store and provider."""

    def __init__(self, owned: set[ItemRef] | None = None) -> None:
        self.store = FakeStore()
        now = utcnow()
        self.store.products[COURSE] = Product("course", "algebra-1", "Algebra I", 1_500_000, "MNT", True, now)
        self.store.products[FREEBIE] = Product("test", "placement", "Placement", 0, "MNT", True, now)
        self.provider = FakePaymentProvider()
        config = CheckoutConfig(CALLBACK_BASE, dt.timedelta(minutes=15))
        self.checkouts = Checkouts(self.uow, self.provider, Ownership(owned), config)
        self.confirmation = PaymentConfirmation(self.uow, self.provider, dt.timedelta(0))

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    async def checkout(self, key: str = "key-1", user: str = "user-1", *items: ItemRef) -> CheckoutSession:
        return await self.checkouts.create(CreateCheckout(key, user, items or (COURSE,)))

    def callback_of(self, session: CheckoutSession, qpay_payment_id: str) -> CallbackQuery:
        """The callback the provider would send: the URL checkout gave it, plus the payment id."""
        assert session.invoice is not None
        _, url = self.provider.invoices[session.invoice.invoice_id]
        return CallbackQuery.parse(
            dict(pair.split("=", 1) for pair in f"{url}&qpay_payment_id={qpay_payment_id}".split("?")[1].split("&"))
        )


async def test_same_idempotency_key_and_request_returns_the_same_checkout_and_one_invoice() -> None:
    world = World()
    first = await world.checkout()
    again = await world.checkout()
    assert again.id == first.id
    assert len(world.store.sessions) == 1 and len(world.provider.invoices) == 1


async def test_reused_idempotency_key_with_another_request_is_a_conflict() -> None:
    world = World()
    await world.checkout("key-1", "user-1")
    with pytest.raises(Conflict, match="different checkout request"):
        await world.checkout("key-1", "user-2")


async def test_an_item_the_user_owns_is_refused_and_no_invoice_is_opened() -> None:
    world = World(owned={COURSE})
    with pytest.raises(FailedPrecondition, match="already owns") as refused:
        await world.checkout()
    assert refused.value.field == "items[0]"
    assert world.provider.invoices == {} and world.store.sessions == {}


async def test_invoice_is_opened_for_the_session_with_a_callback_carrying_its_secret() -> None:
    world = World()
    session = await world.checkout()
    assert session.invoice is not None
    opened_for, url = world.provider.invoices[session.invoice.invoice_id]
    assert opened_for is session
    assert url.startswith(f"{CALLBACK_BASE}/qpay/callback?session_id={session.id}&secret=")
    assert session.status is CheckoutStatus.PENDING and world.store.outbox == []


async def test_free_cart_completes_at_once_with_one_payment_completed_and_no_invoice() -> None:
    world = World()
    session = await world.checkout("key-free", "user-1", FREEBIE)
    assert world.provider.invoices == {}
    assert session.status is CheckoutStatus.PAID and session.invoice is None
    [payment] = world.store.payments.values()
    assert (payment.id, payment.amount, payment.qpay_payment_id) == (session.payment_id, 0, None)
    [message] = world.store.outbox
    event = message.event()
    assert (event.type, event.payment_id, event.user_id) == (EventType.PAYMENT_COMPLETED, payment.id, "user-1")
    assert [(i.kind, i.item_id, i.amount) for i in event.items] == [("test", "placement", 0)]


async def test_confirmed_callback_records_the_payment_with_its_outbox_event_in_one_commit() -> None:
    world = World()
    session = await world.checkout()
    assert session.invoice is not None
    reported = world.provider.pay(session.invoice.invoice_id, Decimal("15000"))
    commits_before = world.store.commits

    payment = await world.confirmation.on_callback(world.callback_of(session, reported.qpay_payment_id))

    assert world.store.commits == commits_before + 1
    assert world.store.sessions[session.id].status is CheckoutStatus.PAID
    assert (payment.amount, payment.qpay_payment_id) == (1_500_000, reported.qpay_payment_id)
    [message] = world.store.outbox
    assert (message.event_type, message.payment_id) == ("PaymentCompleted", payment.id)


async def test_duplicate_callback_records_once() -> None:
    world = World()
    session = await world.checkout()
    assert session.invoice is not None
    reported = world.provider.pay(session.invoice.invoice_id, Decimal("15000"))
    callback = world.callback_of(session, reported.qpay_payment_id)

    first = await world.confirmation.on_callback(callback)
    second = await world.confirmation.on_callback(callback)

    assert first.id == second.id
    assert len(world.store.payments) == 1 and len(world.store.outbox) == 1


@pytest.mark.parametrize(
    ("paid", "reason"),
    [
        ({"amount": Decimal("15000"), "currency": "USD"}, "is in USD"),
        ({"amount": Decimal("15000"), "status": "NEW"}, "is NEW, not PAID"),
    ],
)
async def test_a_payment_that_does_not_pay_the_session_is_rejected_and_records_nothing(
    paid: dict[str, object], reason: str
) -> None:
    world = World()
    session = await world.checkout()
    assert session.invoice is not None
    reported = world.provider.pay(session.invoice.invoice_id, **paid)  # type: ignore[arg-type]

    with pytest.raises(PaymentRejected, match=reason):
        await world.confirmation.on_callback(world.callback_of(session, reported.qpay_payment_id))

    assert world.store.payments == {} and world.store.outbox == []


async def test_a_payment_of_another_invoice_is_rejected() -> None:
    world = World()
    paid_session = await world.checkout("key-a", "user-a")
    other_session = await world.checkout("key-b", "user-b")
    assert paid_session.invoice is not None
    reported = world.provider.pay(paid_session.invoice.invoice_id, Decimal("15000"))

    with pytest.raises(PaymentRejected, match="not for the invoice"):
        await world.confirmation.on_callback(world.callback_of(other_session, reported.qpay_payment_id))

    assert world.store.payments == {}


async def test_a_payment_the_provider_does_not_know_is_rejected_naming_the_payment_id() -> None:
    world = World()
    session = await world.checkout()

    with pytest.raises(PaymentRejected) as rejected:
        await world.confirmation.on_callback(world.callback_of(session, "qp-made-up"))

    assert rejected.value.field == "qpay_payment_id"


async def test_a_callback_with_a_wrong_secret_is_forbidden_before_the_provider_is_asked() -> None:
    world = World()
    session = await world.checkout()
    assert session.invoice is not None
    reported = world.provider.pay(session.invoice.invoice_id, Decimal("15000"))
    forged = CallbackQuery(session.id, "guessed", reported.qpay_payment_id)

    with pytest.raises(Forbidden):
        await world.confirmation.on_callback(forged)

    assert world.store.payments == {}


async def test_check_records_a_paid_invoice_whose_callback_never_came() -> None:
    world = World()
    session = await world.checkout()
    assert session.invoice is not None
    world.provider.pay(session.invoice.invoice_id, Decimal("15000"))

    checked = await world.confirmation.check(session.id)

    assert checked.status is CheckoutStatus.PAID
    assert len(world.store.payments) == 1 and len(world.store.outbox) == 1


def _cancellation(world: World) -> CheckoutCancellation:
    return CheckoutCancellation(world.uow, world.provider, world.confirmation)


async def test_cancel_cancels_the_invoice_before_the_session_and_a_second_cancel_asks_nobody() -> None:
    world = World()
    session = await world.checkout()
    assert session.invoice is not None

    cancelled = await _cancellation(world).cancel(session.id)
    again = await _cancellation(world).cancel(session.id)

    assert cancelled.status is again.status is CheckoutStatus.CANCELLED
    assert world.provider.cancelled == [session.invoice.invoice_id], "the invoice once, before the session"
    assert world.store.sessions[session.id].status is CheckoutStatus.CANCELLED


async def test_cancel_of_an_invoice_the_provider_reports_paid_records_the_payment_and_is_refused() -> None:
    world = World()
    session = await world.checkout()
    assert session.invoice is not None
    world.provider.pay(session.invoice.invoice_id, Decimal("15000"))  # its callback has not come

    with pytest.raises(InvalidTransition, match="was paid"):
        await _cancellation(world).cancel(session.id)

    assert world.store.sessions[session.id].status is CheckoutStatus.PAID
    assert len(world.store.payments) == 1 and len(world.store.outbox) == 1
    assert world.provider.cancelled == []


async def test_a_free_session_cannot_be_cancelled() -> None:
    world = World()
    session = await world.checkout("key-free", "user-1", FREEBIE)
    with pytest.raises(InvalidTransition, match="already paid"):
        await _cancellation(world).cancel(session.id)
