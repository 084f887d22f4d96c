"""ApplyPaymentEvents over in-memory storage: a result per event, refused events alone, batches as singles."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from entitlement_service.domain.errors import InvalidRequest, PaymentOfAnotherUser
from entitlement_service.domain.events import PaymentEvent
from entitlement_service.domain.purchase import ItemRef, PurchaseStatus
from entitlement_service.service_layer.apply_payment_event import Applied, apply_payment_event, apply_payment_events
from paygrant.contract_rules import EventType
from tests.unit.entitlement_events import T0, payment_event
from tests.unit.entitlement_fakes import FakeDatabase, FakeOwnershipCache, Tables

COMPLETED, REFUNDED = EventType.PAYMENT_COMPLETED, EventType.PAYMENT_REFUNDED
ALGEBRA = ItemRef("course", "algebra-1")


async def test_each_event_gets_its_own_outcome_and_a_refused_one_changes_nothing() -> None:
    database = FakeDatabase()
    earlier = payment_event(COMPLETED, payment_id="pay-0")
    await apply_payment_event(earlier, database.uow_factory, FakeOwnershipCache())
    first, second = (
        payment_event(COMPLETED, payment_id="pay-1"),
        payment_event(COMPLETED, payment_id="pay-2", user_id="u2"),
    )
    invalid = InvalidRequest("items[0].item.kind", "must be lowercase")
    of_another_user = payment_event(REFUNDED, payment_id="pay-0", user_id="u2")
    cache = FakeOwnershipCache()

    outcomes = await apply_payment_events(
        [first, invalid, of_another_user, earlier, second, first], database.uow_factory, cache
    )

    assert outcomes[0] is Applied.NEW and outcomes[4] is Applied.NEW
    assert outcomes[1] is invalid
    assert isinstance(outcomes[2], PaymentOfAnotherUser)
    assert outcomes[3] is Applied.DUPLICATE, "applied in an earlier call"
    assert outcomes[5] is Applied.DUPLICATE, "applied earlier in the same batch"
    committed = database.committed
    assert committed.inbox == {earlier.event_id, first.event_id, second.event_id}, "the refused event is not recorded"
    assert {(user, item, e.payment_id) for (user, item), e in committed.entitlements.items() if item == ALGEBRA} == {
        ("u1", ALGEBRA, "pay-0"),
        ("u2", ALGEBRA, "pay-2"),
    }
    assert [p.status for p in committed.purchases if p.payment_id == "pay-0"] == [PurchaseStatus.ACTIVE] * 2
    assert cache.invalidated == ["u1", "u2"], "each user once, after the commit; not the refused event's user"


async def test_a_batch_of_only_invalid_events_touches_nothing() -> None:
    database = FakeDatabase()
    invalid = InvalidRequest("event_id", "must be a UUID")

    assert await apply_payment_events([invalid], database.uow_factory, FakeOwnershipCache()) == [invalid]

    assert database.units_opened == 0


async def test_a_refund_in_the_batch_of_its_completion_revokes_what_the_completion_granted() -> None:
    database = FakeDatabase()
    batch = [payment_event(COMPLETED), payment_event(REFUNDED), payment_event(COMPLETED, payment_id="pay-2")]

    assert await apply_payment_events(batch, database.uow_factory, FakeOwnershipCache()) == [Applied.NEW] * 3

    assert {e.payment_id for e in database.committed.entitlements.values()} == {"pay-2"}
    assert {p.status for p in database.committed.purchases if p.payment_id == "pay-1"} == {PurchaseStatus.REVOKED}


# ---- a batch decides exactly what the same events sent one by one decide

USERS, PAYMENTS = ("u1", "u2"), ("pay-1", "pay-2", "pay-3")
ITEMS = [("course", "algebra-1", 100), ("course", "geometry", 0), ("test", "mock-exam", 50)]

events = st.builds(
    lambda kind, payment, user, items, hours: payment_event(
        kind, payment_id=payment, user_id=user, items=items, at=T0 + dt.timedelta(hours=hours)
    ),
    st.sampled_from([COMPLETED, REFUNDED]),
    st.sampled_from(PAYMENTS),
    st.sampled_from(USERS),
    st.lists(st.sampled_from(ITEMS), min_size=1, max_size=3, unique=True),
    st.integers(0, 5),
)


def state(tables: Tables) -> tuple[object, ...]:
    """What the tables hold, without the generated purchase ids and revoke times."""
    purchases = sorted(
        (p.user_id, p.item, p.payment_id, p.event_id, p.status, p.double_purchase, p.purchased_at)
        for p in tables.purchases
    )
    entitlements = sorted(
        (user, item, e.payment_id, e.source, e.purchased_at) for (user, item), e in tables.entitlements.items()
    )
    return tables.inbox, purchases, sorted(tables.refund_marks), entitlements


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(events, st.integers(0, 20)), min_size=1, max_size=12))
async def test_a_batch_ends_where_the_same_events_one_by_one_end(drawn: list[PaymentEvent | int]) -> None:
    # An integer repeats an event drawn before it (the same id again), when there is one.
    sequence: list[PaymentEvent] = []
    for entry in drawn:
        if isinstance(entry, int):
            if sequence:
                sequence.append(sequence[entry % len(sequence)])
        else:
            sequence.append(entry)
    one_by_one, batched = FakeDatabase(), FakeDatabase()
    singles: list[Applied | None] = []
    for event in sequence:
        try:
            singles.append(Applied.DUPLICATE if await apply(event, one_by_one) else Applied.NEW)
        except PaymentOfAnotherUser:
            singles.append(None)

    outcomes = await apply_payment_events(sequence, batched.uow_factory, FakeOwnershipCache())

    assert [None if isinstance(o, PaymentOfAnotherUser) else o for o in outcomes] == singles
    assert state(batched.committed) == state(one_by_one.committed)


async def apply(event: PaymentEvent, database: FakeDatabase) -> bool:
    return await apply_payment_event(event, database.uow_factory, FakeOwnershipCache())
