"""Amounts are int64 minor units: anything that cannot be stored is refused naming its field, before any effect.

A cart whose prices add up past int64 is refused before the payment provider is asked, so no
invoice is left open at QPay for a session that could never be stored.
"""

from __future__ import annotations

import uuid

import pytest

from entitlement_service.domain.errors import InvalidRequest as EntitlementInvalidRequest
from entitlement_service.domain.validation import RawPaidItem
from paygrant.contract_rules import MAX_AMOUNT, EventType
from paygrant.db import utcnow
from payment_service.domain.catalog import ItemRef, Product
from payment_service.domain.errors import InvalidRequest
from payment_service.service_layer.catalog import PutProduct, put_product
from payment_service.service_layer.checkout import CreateCheckout
from tests.unit.entitlement_events import payment_event
from tests.unit.payment_fakes import a_session
from tests.unit.test_payment_use_cases import World

COURSE = ItemRef("course", "algebra-1")
EXPENSIVE = [ItemRef("course", "gold-1"), ItemRef("course", "gold-2")]


async def test_a_cart_whose_prices_add_up_past_int64_is_refused_before_any_invoice_is_opened() -> None:
    world = World()
    for item in EXPENSIVE:
        world.store.products[item] = Product(item.kind, item.id, "Gold", MAX_AMOUNT // 2 + 1, "MNT", True, utcnow())

    with pytest.raises(InvalidRequest) as refused:
        await world.checkouts.create(CreateCheckout("key-1", "user-1", tuple(EXPENSIVE)))

    assert refused.value.field == "items"
    assert world.provider.invoices == {}, "nothing may be opened at the provider that cannot be stored"
    assert world.store.sessions == {}


async def test_a_cart_adding_up_to_exactly_int64_max_opens_its_invoice() -> None:
    world = World()
    for item, amount in zip(EXPENSIVE, (MAX_AMOUNT - 1, 1), strict=True):
        world.store.products[item] = Product(item.kind, item.id, "Gold", amount, "MNT", True, utcnow())

    session = await world.checkouts.create(CreateCheckout("key-1", "user-1", tuple(EXPENSIVE)))

    assert session.amount == MAX_AMOUNT and len(world.provider.invoices) == 1


@pytest.mark.parametrize(
    ("amounts", "field"),
    [((-1,), "items[0]"), ((MAX_AMOUNT + 1,), "items[0]"), ((5, -5), "items[1]")],
    ids=["negative", "past-int64", "offsetting"],
)
def test_a_session_line_outside_the_amount_range_is_refused_naming_its_item(
    amounts: tuple[int, ...], field: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        a_session(*amounts)

    assert refused.value.field == field


@pytest.mark.parametrize("amount", [-1, MAX_AMOUNT + 1], ids=["negative", "past-int64"])
async def test_a_product_price_outside_the_amount_range_is_refused(amount: int) -> None:
    world = World()

    with pytest.raises(InvalidRequest) as refused:
        await put_product(PutProduct(COURSE, "Algebra I", amount, "MNT", True), world.uow)

    assert refused.value.field == "product.amount"
    assert world.store.commits == 0


async def test_a_product_may_cost_anything_from_zero_to_int64_max() -> None:
    world = World()

    for amount in (0, MAX_AMOUNT):
        product = await put_product(PutProduct(COURSE, "Algebra I", amount, "MNT", True), world.uow)
        assert product.amount == amount


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([("course", "a", -1)], "items[0].amount"),
        ([("course", "a", 1), ("course", "b", MAX_AMOUNT + 1)], "items[1].amount"),
        ([("course", "a", MAX_AMOUNT), ("course", "b", MAX_AMOUNT)], "items"),
    ],
    ids=["negative", "past-int64", "sum-past-int64"],
)
def test_a_payment_event_whose_amounts_cannot_be_stored_is_invalid(items: list[RawPaidItem], field: str) -> None:
    with pytest.raises(EntitlementInvalidRequest) as refused:
        payment_event(EventType.PAYMENT_COMPLETED, payment_id=str(uuid.uuid4()), items=items)

    assert refused.value.field == field


def test_a_payment_event_adding_up_to_exactly_int64_max_is_valid() -> None:
    event = payment_event(EventType.PAYMENT_COMPLETED, items=[("course", "a", MAX_AMOUNT - 1), ("course", "b", 1)])

    assert sum(item.amount for item in event.items) == MAX_AMOUNT
