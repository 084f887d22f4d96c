"""Any order, any repetition: random interleavings of payment events, grants and revokes against a model.

A hypothesis `RuleBasedStateMachine` drives the REAL entitlement service (EntitlementApp on port 0,
PostgreSQL, the Redis ownership cache on) with payment completions (new payments, and new event ids
of known ones), refunds (also before the completion arrives), re-deliveries of an event with the same
event_id, admin and free grants, and revokes (new keys, repeated keys, keys reused for another
request). After EVERY step it compares what callers can see with `Model`, a few lines of rules:
CheckOwnership of each (user, item) of the pool, FULLY_CONSISTENT and with the default consistency
(the caches), BatchCheckOwnership of the whole pool in both, ListEntitlements, and the purchase
history of ListPurchases read a few rows a page (every purchase's source, status, payment, price,
double-purchase flag, reason, actor, revoke reason and revoker).

How the synchronous state machine meets asyncio: the service runs on the test's own event loop
(started by an async fixture, as everywhere in the suite), and the whole state machine runs in a
worker thread (`asyncio.to_thread`) with grpc's synchronous client. The loop stays free to serve
while the thread blocks in grpc's C core, so there is no second loop, no cross-loop future and no
sleep; every call has a timeout, so a hung service fails the test instead of hanging it. (Sending
each step's checks at once with `.future()`, or running the service as a child process, measured
no faster: the service's CPU bounds a step either way.)

Isolation: one database and Redis prefix per test function (a fresh database per example would cost
more than the example); every example (one state-machine run, including each shrinking attempt)
makes its user ids, payment ids and idempotency keys unique with a run prefix, so runs cannot see
each other's purchases or cached answers.

Kept out on purpose: zero-priced payment items (their purchases have source FREE and a payment id,
and whether a revoke ends them is not what this test is about), and one payment id completed with
two different item lists (the payment service never sends one).

Cost: 20 examples of up to 20 steps, about 19 calls a step, ran in 35-45 s on a busy 2-core
machine; PAYGRANT_STATEFUL_EXAMPLES=150 (and PAYGRANT_STATEFUL_STEPS=60) dig deeper by hand. A
failure shrinks for up to hypothesis's five minutes, since each attempt replays calls.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.timestamps import from_timestamp, to_timestamp
from tests.conftest import POSTGRES_ONLY, NewDatabase

pytestmark = POSTGRES_ONLY

EXAMPLES = int(os.environ.get("PAYGRANT_STATEFUL_EXAMPLES", "20"))
STEPS = int(os.environ.get("PAYGRANT_STATEFUL_STEPS", "20"))
CALL_TIMEOUT = 30.0
PAGE_SIZE = 8  # small, so the history of a run spans several pages

Item = tuple[str, str]  # (kind, id)
USERS = ("alice", "bob")
PRICES: dict[Item, int] = {("course", "algebra"): 25_000, ("course", "geometry"): 18_000, ("test", "mock-exam"): 5_000}
ITEMS: tuple[Item, ...] = tuple(PRICES)
POOL = [(user, item) for user in USERS for item in ITEMS]
T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
REASONS = ("support ticket", "promotion")
ACTORS = ("ops@paygrant", "promo-tool")
GRANT_SOURCES = (pb.SOURCE_ADMIN, pb.SOURCE_FREE, pb.SOURCE_UNSPECIFIED)  # unspecified means ADMIN
CONSISTENCIES = (pb.CONSISTENCY_FULLY_CONSISTENT, pb.CONSISTENCY_UNSPECIFIED)


# ---- the model: what the service must answer, in a few rules


@dataclass
class Held:
    """One purchase as the model knows it: its origin is a payment id or a grant's idempotency key."""

    user: str
    item: Item
    source: int
    origin: str
    purchased_at: dt.datetime
    amount: int = 0
    active: bool = True
    double: bool = False
    reason: str = ""
    actor: str = ""
    revoke_reason: str | None = None  # None: not compared (a refund's wording is the service's)
    revoked_by: str = ""
    purchase_id: str = ""  # known for grants (the grant answers it), compared only then


@dataclass(frozen=True)
class Payment:
    """What a payment is about; the payment service never changes it."""

    user: str
    items: tuple[Item, ...]
    occurred_at: dt.datetime


@dataclass
class Model:
    """The rules of ownership; a user owns an item iff some active purchase gives it."""

    payments: dict[str, Payment] = field(default_factory=dict)
    completed: set[str] = field(default_factory=set)
    refunded: set[str] = field(default_factory=set)
    purchases: list[Held] = field(default_factory=list)
    # idempotency key -> (the request that used it, the purchase ids it granted or revoked)
    actions: dict[str, tuple[Any, list[str]]] = field(default_factory=dict)

    def active(self, user: str, item: Item) -> list[Held]:
        """The purchases that give `user` the item now."""
        return [h for h in self.purchases if h.active and h.user == user and h.item == item]

    def complete(self, payment_id: str) -> None:
        """A completion grants the payment's items once; after a refund it records them, revoked."""
        if payment_id in self.completed:
            return
        self.completed.add(payment_id)
        pay, refunded = self.payments[payment_id], payment_id in self.refunded
        for item in pay.items:
            # Owned through another payment already: a double purchase (money to give back).
            double = not refunded and any(h.source == pb.SOURCE_PAID for h in self.active(pay.user, item))
            held = Held(pay.user, item, pb.SOURCE_PAID, payment_id, pay.occurred_at, PRICES[item], not refunded, double)
            self.purchases.append(held)

    def refund(self, payment_id: str) -> None:
        """A refund revokes the payment's purchases, and any that a later completion records."""
        self.refunded.add(payment_id)
        for held in self.purchases:
            if held.origin == payment_id:
                held.active = False

    def grant(self, request: Any, purchase_id: str, purchased_at: dt.datetime) -> None:
        """A grant adds an ADMIN (or FREE) purchase."""
        source = request.source or pb.SOURCE_ADMIN
        item = (request.item.kind, request.item.id)
        key = request.idempotency_key
        held = Held(request.user_id, item, source, key, purchased_at, reason=request.reason, actor=request.actor)
        held.purchase_id = purchase_id
        self.purchases.append(held)
        self.actions[key] = (request, [purchase_id])

    def revoke(self, request: Any) -> list[Held]:
        """A revoke ends the user's active grants of the item, never a paid purchase."""
        item = (request.item.kind, request.item.id)
        grants = [h for h in self.active(request.user_id, item) if h.source != pb.SOURCE_PAID]
        for held in grants:
            held.active, held.revoke_reason, held.revoked_by = False, request.reason, request.actor
        if grants:  # a refused revoke records nothing, so its key stays free
            self.actions[request.idempotency_key] = (request, [h.purchase_id for h in grants])
        return grants

    def owner(self, user: str, item: Item) -> list[Held]:
        """The purchases that may answer for ownership: the earliest active ones, a double purchase only
        when nothing else is active (it granted nothing new); ties are the service's to break."""
        active = self.active(user, item)
        if not active:
            return []
        first = min((h.double, h.purchased_at) for h in active)
        return [h for h in active if (h.double, h.purchased_at) == first]


# ---- the state machine


def item_ref(item: Item) -> ItemRef:
    """The protobuf ItemRef of a pool item."""
    return ItemRef(kind=item[0], id=item[1])


def note(what: str) -> None:
    """Names the case a step reached (a hypothesis event; patch this to count how often runs reach each)."""
    event(what)


def rpc_code(call: Any, request: Any) -> grpc.StatusCode:
    """The status code a call ends with; its answer is not needed."""
    try:
        call(request, timeout=CALL_TIMEOUT)
    except grpc.RpcError as failed:
        code: grpc.StatusCode = failed.code()
        return code
    return grpc.StatusCode.OK


users = st.sampled_from(USERS)
items = st.sampled_from(ITEMS)
item_lists = st.lists(items, min_size=1, max_size=3, unique=True)
minutes = st.integers(0, 3)  # few values, so payments often tie on purchased_at


class OwnershipMachine(RuleBasedStateMachine):
    """Random steps against the service; after each, every answer must agree with the model."""

    events = Bundle("events")  # payment events already delivered
    grants = Bundle("grants")  # grant requests already sent
    revokes = Bundle("revokes")  # revoke requests already sent (refused ones too)

    stub: Any  # set by a subclass bound to a channel (see run_machine)

    def __init__(self) -> None:
        super().__init__()
        self.run = uuid.uuid4().hex[:10]
        self.model = Model()
        self.counter = 0

    def _id(self, what: str) -> str:
        self.counter += 1
        return f"{self.run}-{what}-{self.counter}"

    def _user(self, name: str) -> str:
        return f"{self.run}-{name}"

    # -- payment events

    def _new_payment(self, user: str, bought: list[Item], minute: int) -> str:
        payment_id = self._id("pay")
        self.model.payments[payment_id] = Payment(self._user(user), tuple(bought), T0 + dt.timedelta(minutes=minute))
        return payment_id

    def _event(self, kind: pb.PaymentEventType, payment_id: str, list_items: bool = True) -> Any:
        pay = self.model.payments[payment_id]
        return pb.ApplyPaymentEventRequest(
            event_id=str(uuid.uuid4()),
            type=kind,
            payment_id=payment_id,
            user_id=pay.user,
            items=[pb.PaidItem(item=item_ref(item), amount=PRICES[item]) for item in pay.items] if list_items else [],
            occurred_at=to_timestamp(pay.occurred_at),
        )

    def _deliver(self, event: Any, duplicate: bool = False) -> Any:
        answer = self.stub.ApplyPaymentEvent(event, timeout=CALL_TIMEOUT)
        assert answer.duplicate is duplicate, f"event {event.event_id}: duplicate={answer.duplicate}"
        model, payment_id = self.model, event.payment_id
        if duplicate:
            note("payment event re-delivered")
        elif event.type == pb.PAYMENT_EVENT_TYPE_COMPLETED:
            if payment_id in model.refunded and payment_id not in model.completed:
                note("completion after its refund")
            model.complete(payment_id)
            if any(h.double for h in model.purchases if h.origin == payment_id):
                note("double purchase")
        else:
            note("refund before its completion" if payment_id not in model.completed else "refund")
            model.refund(payment_id)
        return event

    @rule(target=events, user=users, bought=item_lists, minute=minutes)
    def complete_new_payment(self, user: str, bought: list[Item], minute: int) -> Any:
        """A checkout completed: its items are granted (or flagged as a double purchase)."""
        return self._deliver(self._event(pb.PAYMENT_EVENT_TYPE_COMPLETED, self._new_payment(user, bought, minute)))

    @rule(target=events, user=users, bought=item_lists, minute=minutes)
    def refund_before_completion(self, user: str, bought: list[Item], minute: int) -> Any:
        """The refund overtakes the completion: the completion, when it comes, must grant nothing."""
        payment_id = self._new_payment(user, bought, minute)
        return self._deliver(self._event(pb.PAYMENT_EVENT_TYPE_REFUNDED, payment_id, list_items=False))

    @rule(target=events, earlier=events)
    def complete_known_payment(self, earlier: Any) -> Any:
        """A completion under a new event id: the first one after an early refund, else a copy."""
        return self._deliver(self._event(pb.PAYMENT_EVENT_TYPE_COMPLETED, earlier.payment_id))

    @rule(target=events, earlier=events, list_items=st.booleans())
    def refund(self, earlier: Any, list_items: bool) -> Any:
        """A refund under a new event id (with or without the item list), whatever came before."""
        return self._deliver(self._event(pb.PAYMENT_EVENT_TYPE_REFUNDED, earlier.payment_id, list_items))

    @rule(earlier=events)
    def redeliver(self, earlier: Any) -> None:
        """At-least-once delivery: the same event_id again changes nothing."""
        self._deliver(earlier, duplicate=True)

    # -- grants and revokes

    def _grant(self, request: Any) -> Any:
        before = self.model.actions.get(request.idempotency_key)
        if before is not None and before[0] != request:
            note("key reused for another request")
            assert rpc_code(self.stub.GrantEntitlement, request) == grpc.StatusCode.ALREADY_EXISTS
            return request
        answer = self.stub.GrantEntitlement(request, timeout=CALL_TIMEOUT)
        assert answer.duplicate is (before is not None)
        granted = answer.purchase
        if before is not None:
            note("grant retried")
            assert [granted.purchase_id] == before[1], "a repeated grant must answer the first grant's purchase"
            return request
        assert (granted.user_id, granted.item, granted.source) == (
            request.user_id,
            request.item,
            request.source or pb.SOURCE_ADMIN,
        )
        assert granted.status == pb.PURCHASE_STATUS_ACTIVE and granted.purchase_id
        self.model.grant(request, granted.purchase_id, from_timestamp(granted.purchased_at))
        return request

    def _revoke(self, request: Any) -> Any:
        before = self.model.actions.get(request.idempotency_key)
        if before is not None and before[0] != request:
            note("key reused for another request")
            assert rpc_code(self.stub.RevokeEntitlement, request) == grpc.StatusCode.ALREADY_EXISTS
            return request
        if before is not None:
            note("revoke retried")
            answer = self.stub.RevokeEntitlement(request, timeout=CALL_TIMEOUT)
            assert answer.duplicate is True
            assert sorted(p.purchase_id for p in answer.revoked) == sorted(before[1])
            return request
        item = (request.item.kind, request.item.id)
        if not [h for h in self.model.active(request.user_id, item) if h.source != pb.SOURCE_PAID]:
            note("revoke of nothing granted: NOT_FOUND")
            assert rpc_code(self.stub.RevokeEntitlement, request) == grpc.StatusCode.NOT_FOUND
            return request
        answer = self.stub.RevokeEntitlement(request, timeout=CALL_TIMEOUT)
        revoked = self.model.revoke(request)
        assert answer.duplicate is False
        assert sorted(p.purchase_id for p in answer.revoked) == sorted(h.purchase_id for h in revoked)
        assert answer.still_owned is bool(self.model.active(request.user_id, item))
        note("revoke left a paid purchase" if answer.still_owned else "revoke")
        return request

    @rule(target=grants, user=users, item=items, source=st.sampled_from(GRANT_SOURCES), reason=st.sampled_from(REASONS))
    def grant(self, user: str, item: Item, source: pb.Source, reason: str) -> Any:
        """An operator's grant under a new key."""
        return self._grant(
            pb.GrantEntitlementRequest(
                user_id=self._user(user),
                item=item_ref(item),
                reason=reason,
                actor=ACTORS[0],
                idempotency_key=self._id("key"),
                source=source,
            )
        )

    @rule(earlier=grants)
    def grant_again(self, earlier: Any) -> None:
        """A retried grant (same key, same request) changes nothing."""
        self._grant(earlier)

    @rule(target=revokes, user=users, item=items, reason=st.sampled_from(REASONS))
    def revoke(self, user: str, item: Item, reason: str) -> Any:
        """A revoke of any pair under a new key: NOT_FOUND unless a grant of it is active."""
        return self._revoke(
            pb.RevokeEntitlementRequest(
                user_id=self._user(user),
                item=item_ref(item),
                reason=reason,
                actor=ACTORS[1],
                idempotency_key=self._id("key"),
            )
        )

    @rule(target=revokes, earlier=grants, reason=st.sampled_from(REASONS))
    def revoke_granted(self, earlier: Any, reason: str) -> Any:
        """A revoke of what an earlier grant gave (NOT_FOUND if it has been revoked since)."""
        return self._revoke(
            pb.RevokeEntitlementRequest(
                user_id=earlier.user_id,
                item=earlier.item,
                reason=reason,
                actor=ACTORS[1],
                idempotency_key=self._id("key"),
            )
        )

    @rule(earlier=revokes)
    def revoke_again(self, earlier: Any) -> None:
        """A retried revoke: a duplicate if the first one revoked, else judged anew (a refusal records nothing)."""
        self._revoke(earlier)

    def _reuse_key(self, earlier: Any, as_grant: bool, user: str, shift: int) -> None:
        """Sends `earlier`'s key with another item, as a grant or a revoke: ALREADY_EXISTS if the key was used."""
        item = ITEMS[(ITEMS.index((earlier.item.kind, earlier.item.id)) + shift) % len(ITEMS)]
        fields = {
            "user_id": self._user(user),
            "item": item_ref(item),
            "reason": REASONS[0],
            "actor": ACTORS[0],
            "idempotency_key": earlier.idempotency_key,
        }
        if as_grant:
            self._grant(pb.GrantEntitlementRequest(**fields))
        else:
            self._revoke(pb.RevokeEntitlementRequest(**fields))

    @rule(earlier=grants, as_grant=st.booleans(), user=users, shift=st.integers(1, 2))
    def reuse_grant_key(self, earlier: Any, as_grant: bool, user: str, shift: int) -> None:
        """A grant's key sent with another request: ALREADY_EXISTS, nothing changes."""
        self._reuse_key(earlier, as_grant, user, shift)

    @rule(earlier=revokes, as_grant=st.booleans(), user=users, shift=st.integers(1, 2))
    def reuse_revoke_key(self, earlier: Any, as_grant: bool, user: str, shift: int) -> None:
        """A refused revoke recorded nothing, so reusing its key is a new request."""
        self._reuse_key(earlier, as_grant, user, shift)

    # -- after every step: what callers see agrees with the model

    @invariant()
    def ownership_agrees(self) -> None:
        """Every check of the pool, unary and batched, with and without the caches, answers as the model."""
        for consistency in CONSISTENCIES:
            for user, item in POOL:
                request = pb.CheckOwnershipRequest(
                    user_id=self._user(user), item=item_ref(item), consistency=consistency
                )
                answer = self.stub.CheckOwnership(request, timeout=CALL_TIMEOUT)
                self._agrees(user, item, answer, f"CheckOwnership({consistency=})")
            queries = [pb.OwnershipQuery(user_id=self._user(user), item=item_ref(item)) for user, item in POOL]
            batch = self.stub.BatchCheckOwnership(
                pb.BatchCheckOwnershipRequest(queries=queries, consistency=consistency), timeout=CALL_TIMEOUT
            )
            assert [r.query for r in batch.results] == queries
            for (user, item), result in zip(POOL, batch.results, strict=True):
                assert not result.HasField("error")
                self._agrees(user, item, result, f"BatchCheckOwnership({consistency=})")

    @invariant()
    def listings_agree(self) -> None:
        """Each user's entitlements and whole purchase history are the model's."""
        for user in USERS:
            listed = self.stub.ListEntitlements(
                pb.ListEntitlementsRequest(user_id=self._user(user)), timeout=CALL_TIMEOUT
            )
            self._entitlements_agree(user, listed)
            self._history_agrees(user)

    def _agrees(self, user: str, item: Item, answer: Any, what: str) -> None:
        owner = self.model.owner(self._user(user), item)
        seen = (answer.owned, answer.source, from_timestamp(answer.purchased_at) if answer.owned else None)
        wanted: set[tuple[bool, int, dt.datetime | None]] = {(True, h.source, h.purchased_at) for h in owner}
        wanted = wanted or {(False, pb.SOURCE_UNSPECIFIED, None)}
        assert seen in wanted, f"{what} of {user} {item}: {seen}, model {wanted}"
        assert answer.owned or not answer.HasField("purchased_at")

    def _entitlements_agree(self, user: str, listed: Any) -> None:
        seen = [(e.item.kind, e.item.id) for e in listed.entitlements]
        assert seen == sorted(item for item in ITEMS if self.model.active(self._user(user), item)), user
        for entitlement in listed.entitlements:
            owner = self.model.owner(self._user(user), (entitlement.item.kind, entitlement.item.id))
            wanted = {(h.source, h.purchased_at, h.origin if h.source == pb.SOURCE_PAID else "") for h in owner}
            got = (entitlement.source, from_timestamp(entitlement.purchased_at), entitlement.payment_id)
            assert got in wanted, f"ListEntitlements of {user}: {got}, model {wanted}"

    def _history_agrees(self, user: str) -> None:
        """Reads the user's history page by page and compares it with the model's."""
        history: list[Any] = []
        token = ""
        while True:
            request = pb.ListPurchasesRequest(user_id=self._user(user), page_size=PAGE_SIZE, page_token=token)
            page = self.stub.ListPurchases(request, timeout=CALL_TIMEOUT)
            assert len(page.purchases) <= PAGE_SIZE
            history.extend(page.purchases)
            if not page.next_page_token:
                break
            token = page.next_page_token
        keys = [(from_timestamp(p.purchased_at), p.purchase_id) for p in history]
        assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys), "newest first, each once"
        seen = Counter(self._seen(p) for p in history)
        wanted = Counter(self._wanted(h) for h in self.model.purchases if h.user == self._user(user))
        assert seen == wanted, f"ListPurchases of {user}: extra {seen - wanted}, missing {wanted - seen}"
        for p in history:
            assert p.HasField("revoked_at") is (p.status == pb.PURCHASE_STATUS_REVOKED)

    @staticmethod
    def _seen(p: Any) -> tuple[object, ...]:
        grant = p.source != pb.SOURCE_PAID
        return (
            (p.item.kind, p.item.id),
            p.source,
            p.status == pb.PURCHASE_STATUS_ACTIVE,
            from_timestamp(p.purchased_at),
            p.payment_id,
            p.purchase_id if grant else None,
            None if grant else p.currency,
            p.amount,
            p.double_purchase,
            p.reason,
            p.actor,
            p.revoked_by,
            p.revoke_reason if grant and p.status == pb.PURCHASE_STATUS_REVOKED else None,
        )

    @staticmethod
    def _wanted(h: Held) -> tuple[object, ...]:
        grant = h.source != pb.SOURCE_PAID
        return (
            h.item,
            h.source,
            h.active,
            h.purchased_at,
            "" if grant else h.origin,
            h.purchase_id if grant else None,
            None if grant else "MNT",  # the default currency, as the events leave it empty
            h.amount,
            h.double,
            h.reason,
            h.actor,
            h.revoked_by,
            h.revoke_reason,
        )


def run_machine(target: str) -> None:
    """Runs the state machine with a synchronous client (called in a worker thread)."""
    with grpc.insecure_channel(target) as channel:
        bound_stub = EntitlementServiceStub(channel)

        class Bound(OwnershipMachine):
            stub = bound_stub

        run_state_machine_as_test(
            Bound,
            settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None),
        )


@pytest.fixture
async def service_address(new_database: NewDatabase, redis_url: str, redis_prefix: str) -> AsyncIterator[str]:
    app = EntitlementApp(
        EntitlementSettings(
            entitlement_database_url=await new_database("entitlement"),
            entitlement_grpc_port=0,
            redis_url=redis_url,
            redis_key_prefix=redis_prefix,
        )
    )
    await app.start()
    try:
        assert app.invalidations is not None
        async with asyncio.timeout(10):  # the machine runs with answers kept in memory, not only in Redis
            await app.invalidations.subscribed.wait()
        yield f"127.0.0.1:{app.grpc_port}"
    finally:
        await app.stop()


async def test_any_order_any_repetition_agrees_with_the_model(service_address: str) -> None:
    await asyncio.to_thread(run_machine, service_address)
