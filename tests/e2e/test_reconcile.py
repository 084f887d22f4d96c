"""`paygrant reconcile` as an operator runs it: drift made for real, found, repaired, and clean again.

Each test runs the pair as processes on PostgreSQL and Redis, makes one kind of drift (through the
services, the simulator, a stopped process, or a write to one service's database, as an outage or a
bad hand-edit would), runs `paygrant reconcile` as a subprocess and reads its JSON and exit code.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from paygrant.db import create_engine
from paygrant.entitlement.v1 import entitlement_pb2 as epb
from paygrant.entitlement.v1 import entitlement_pb2_grpc
from paygrant.payment.v1 import payment_pb2 as ppb
from paygrant.payment.v1 import payment_pb2_grpc
from paygrant.timestamps import to_timestamp
from payment_service.adapters.qpay.client import QPayClient
from tests.e2e.conftest import COURSE, PRICE
from tests.e2e.stack import Stack
from tests.waiting import eventually

Payments = payment_pb2_grpc.PaymentServiceStub
Entitlements = entitlement_pb2_grpc.EntitlementServiceStub
CLASSES = [
    "paid_not_granted",
    "granted_without_payment",
    "refunded_still_granted",
    "amount_mismatch",
    "double_purchase",
    "duplicate_payment",
    "short_payment",
    "late_payment",
    "outbox_stuck",
    "outbox_dead",
    "paid_at_qpay_pending_here",
    "refunded_at_qpay_paid_here",
    "paid_here_unknown_to_qpay",
]


async def reconcile(stack: Stack, *args: str) -> tuple[int, str]:
    """Runs `paygrant reconcile` over the last hour and the next minute with `args`; its exit code and stdout."""
    now = dt.datetime.now(dt.UTC)
    window = (
        "--since",
        (now - dt.timedelta(hours=1)).isoformat(),
        "--until",
        (now + dt.timedelta(minutes=1)).isoformat(),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "paygrant_cli",
        "reconcile",
        *window,
        *args,
        env={**stack.env(), "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert b"Traceback" not in stderr, stderr.decode()
    assert process.returncode in (0, 1), stderr.decode()
    return process.returncode, stdout.decode()


async def report(stack: Stack, *args: str) -> tuple[int, dict[str, Any]]:
    """reconcile --json: the exit code and the document."""
    code, out = await reconcile(stack, "--json", *args)
    return code, json.loads(out)


def counts(document: dict[str, Any]) -> dict[str, int]:
    """The classes with findings, and their counts."""
    return {c["name"]: c["count"] for c in document["classes"] if c["count"]}


def rows(document: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return next(c["rows"] for c in document["classes"] if c["name"] == name)


async def execute(database_url: str, sql: str, **values: object) -> None:
    """A write straight to one service's database: how an outage or a bad hand-edit leaves drift."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql), values)
    finally:
        await engine.dispose()


async def owns(entitlements: Entitlements, user: str) -> bool:
    request = epb.CheckOwnershipRequest(user_id=user, item=COURSE, consistency=epb.CONSISTENCY_FULLY_CONSISTENT)
    return bool((await entitlements.CheckOwnership(request)).owned)


async def checkout(payments: Payments, user: str) -> ppb.Checkout:
    request = ppb.CreateCheckoutRequest(idempotency_key=uuid.uuid4().hex, user_id=user, items=[COURSE])
    answer: ppb.Checkout = await payments.CreateCheckout(request)
    return answer


async def paid_and_owned(stack: Stack, payments: Payments, entitlements: Entitlements, user: str) -> str:
    """A checkout paid in full at the simulator and owned; its payment id."""
    session = await checkout(payments, user)
    await stack.sim.pay(session.invoice.invoice_id)
    await eventually(lambda: owns(entitlements, user), what=f"{user} to own the course")
    paid = await payments.GetCheckout(ppb.GetCheckoutRequest(session_id=session.session_id))
    return str(paid.payment_id)


async def test_agreeing_records_are_clean_in_json_and_in_the_table(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    ana = await paid_and_owned(stack, payments, entitlements, "ana")
    await paid_and_owned(stack, payments, entitlements, "bat")

    code, document = await report(stack)

    assert code == 0 and document["clean"] is True, document
    assert document["schema"] == "paygrant.reconcile/v1" and document["mode"] == "report"
    assert [c["name"] for c in document["classes"]] == CLASSES
    assert counts(document) == {}
    assert document["scanned"] == {"payments": 2, "purchases": 2, "qpay_payments": None}
    assert {c["name"] for c in document["classes"] if not c["checked"]} == set(CLASSES[-3:])
    code, document = await report(stack, "--user", "ana")
    assert (code, document["scanned"]["payments"], document["user"]) == (0, 1, "ana")
    assert document["repairs"] == [] and ana

    code, table = await reconcile(stack)
    assert code == 0
    assert "drift classes" in table and "paid_not_granted" in table and table.rstrip().endswith("clean")


async def test_paid_but_not_granted_is_repaired_by_sending_its_event_again(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    payment_id = await paid_and_owned(stack, payments, entitlements, "ana")
    await execute(stack.entitlement_db_url, "DELETE FROM entitlements WHERE user_id = 'ana'")
    await execute(stack.entitlement_db_url, "DELETE FROM purchases WHERE payment_id = :p", p=payment_id)

    code, document = await report(stack)

    assert (code, document["clean"], counts(document)) == (1, False, {"paid_not_granted": 1})
    [row] = rows(document, "paid_not_granted")
    assert (row["payment_id"], row["user_id"], row["event_id"]) == (payment_id, "ana", None)
    assert "course/calculus-2 (no purchase)" in row["detail"]

    code, planned = await report(stack, "--dry-run")
    assert code == 1 and planned["mode"] == "dry-run"
    assert [(r["action"], r["target"], r["outcome"]) for r in planned["repairs"]] == [
        ("ResendPaymentEvent", payment_id, "planned")
    ]
    assert not await owns(entitlements, "ana"), "a dry run changes nothing"

    code, fixed = await report(stack, "--fix")
    assert code == 1, "the run that found drift says so, also when it repaired it"
    [repair] = fixed["repairs"]
    assert (repair["class"], repair["outcome"]) == ("paid_not_granted", "done") and "delivered" in repair["detail"]

    code, after = await report(stack)
    assert (code, counts(after)) == (0, {})
    assert await owns(entitlements, "ana")
    purchases = f"SELECT count(*) FROM purchases WHERE payment_id = '{payment_id}'"
    assert await stack.count(stack.entitlement_db_url, purchases) == 1
    code, again = await report(stack, "--fix")
    assert (code, again["repairs"]) == (0, []), "a clean range has nothing to repair"


async def test_a_dead_event_is_retried_once_and_grants_once(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    await stack.stop("payment")
    await stack.start("payment", PAYGRANT_RELAY_MAX_ATTEMPTS="1")
    session = await checkout(payments, "cy")
    await stack.stop("entitlement")
    await stack.sim.pay(session.invoice.invoice_id)
    dead = "SELECT count(*) FROM outbox WHERE status = 'DEAD'"
    await eventually(lambda: _is(stack.count(stack.payment_db_url, dead), 1), what="the event to die")
    await stack.start("entitlement")  # back, but the relay gave up on the event

    code, document = await report(stack)

    assert (code, counts(document)) == (1, {"paid_not_granted": 1, "outbox_dead": 1})
    [event] = rows(document, "outbox_dead")
    [ungranted] = rows(document, "paid_not_granted")
    assert ungranted["event_id"] == event["event_id"] and event["detail"].startswith("PAYMENT_COMPLETED: dead")

    code, fixed = await report(stack, "--fix")
    assert [(r["action"], r["target"], r["outcome"]) for r in fixed["repairs"]] == [
        ("RetryOutboxEvents", event["event_id"], "done")
    ], "one event, retried once"
    assert (await report(stack))[0] == 0
    assert await owns(entitlements, "cy")
    assert await stack.count(stack.entitlement_db_url, "SELECT count(*) FROM purchases") == 1


async def test_an_event_on_its_way_is_in_flight_until_it_is_stale(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    await stack.stop("payment")
    await stack.start("payment", PAYGRANT_RELAY_BACKOFF_BASE_SECONDS="60", PAYGRANT_RELAY_BACKOFF_MAX_SECONDS="60")
    session = await checkout(payments, "dee")
    await stack.stop("entitlement")
    await stack.sim.pay(session.invoice.invoice_id)
    tried = "SELECT count(*) FROM outbox WHERE attempts > 0"
    await eventually(lambda: _is(stack.count(stack.payment_db_url, tried), 1), what="a failed delivery")
    await stack.start("entitlement")  # back; the relay tries again a minute later

    code, fresh = await report(stack)
    assert (code, counts(fresh), fresh["in_flight"]) == (0, {}, 1)

    code, stale = await report(stack, "--stale-after", "0")
    assert (code, counts(stale), stale["in_flight"]) == (1, {"paid_not_granted": 1, "outbox_stuck": 1}, 0)
    assert "last error" in rows(stale, "outbox_stuck")[0]["detail"]


async def test_purchases_without_a_paid_payment_are_revoked_by_fix(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    refunded = await paid_and_owned(stack, payments, entitlements, "ana")
    await execute(
        stack.payment_db_url,
        "UPDATE payments SET status = 'REFUNDED', refunded_at = paid_at WHERE id = :p",
        p=refunded,
    )
    unknown = str(uuid.uuid4())  # a grant no payment stands behind, applied as the relay would
    event = epb.ApplyPaymentEventRequest(
        event_id=str(uuid.uuid4()),
        type=epb.PAYMENT_EVENT_TYPE_COMPLETED,
        payment_id=unknown,
        user_id="bat",
        items=[epb.PaidItem(item=COURSE, amount=PRICE)],
        occurred_at=to_timestamp(dt.datetime.now(dt.UTC)),
    )
    await entitlements.ApplyPaymentEvent(event)
    assert await owns(entitlements, "bat")

    code, document = await report(stack)

    assert (code, counts(document)) == (1, {"granted_without_payment": 1, "refunded_still_granted": 1})
    assert rows(document, "granted_without_payment")[0]["payment_id"] == unknown
    assert rows(document, "refunded_still_granted")[0]["payment_id"] == refunded
    code, fixed = await report(stack, "--fix")
    assert sorted((r["action"], r["outcome"]) for r in fixed["repairs"]) == [("RevokePurchase", "done")] * 2
    assert (await report(stack))[0] == 0
    assert not await owns(entitlements, "ana") and not await owns(entitlements, "bat")
    revoked = "SELECT count(*) FROM purchases WHERE status = 'revoked' AND revoke_reason = 'reconcile'"
    assert await stack.count(stack.entitlement_db_url, revoked) == 2


async def test_an_amount_that_differs_is_reported_and_left_for_people(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    payment_id = await paid_and_owned(stack, payments, entitlements, "ana")
    await execute(
        stack.entitlement_db_url, "UPDATE purchases SET amount = amount - 100 WHERE payment_id = :p", p=payment_id
    )

    code, document = await report(stack, "--dry-run")

    assert (code, counts(document), document["repairs"]) == (1, {"amount_mismatch": 1}, [])
    [row] = rows(document, "amount_mismatch")
    assert row["detail"] == f"purchase says {PRICE - 100} MNT, the payment paid {PRICE} MNT"
    assert row["item"] == "course/calculus-2" and row["purchase_id"]


async def test_money_to_review_is_listed_without_failing_the_run_or_being_refunded(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    first, second = await checkout(payments, "eve"), await checkout(payments, "eve")
    await stack.sim.pay(first.invoice.invoice_id)
    await eventually(lambda: owns(entitlements, "eve"), what="eve to own the course")
    await stack.sim.pay(second.invoice.invoice_id)  # the same item again: a double purchase
    await stack.sim.pay(first.invoice.invoice_id)  # the paid invoice paid again: a duplicate payment
    short = await checkout(payments, "fay")
    await stack.sim.pay(short.invoice.invoice_id, amount=Decimal(100))
    await eventually(
        lambda: _is(stack.count(stack.entitlement_db_url, "SELECT count(*) FROM purchases"), 2), what="both grants"
    )
    await eventually(
        lambda: _is(stack.count(stack.payment_db_url, "SELECT count(*) FROM payments"), 4), what="every payment"
    )

    code, document = await report(stack, "--fix")

    assert (code, document["clean"]) == (0, True), "review findings are not drift"
    assert counts(document) == {"double_purchase": 1, "duplicate_payment": 1, "short_payment": 1}
    assert document["repairs"] == [], "reconcile refunds nothing by its own decision"
    assert {c["name"]: c["severity"] for c in document["classes"] if c["count"]} == {
        "double_purchase": "review",
        "duplicate_payment": "review",
        "short_payment": "review",
    }
    assert f"its session is PENDING, 10000 of {PRICE} paid" in rows(document, "short_payment")[0]["detail"]


async def test_a_payment_after_expiry_is_a_late_notice(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    await stack.stop("payment")
    await stack.start("payment", PAYGRANT_CHECKOUT_TTL_SECONDS="1")
    session = await checkout(payments, "gus")
    expired = ppb.GetCheckoutRequest(session_id=session.session_id)
    await eventually(lambda: _expired(payments, expired), what="the session to expire")
    await stack.sim.pay(session.invoice.invoice_id)
    await eventually(lambda: owns(entitlements, "gus"), what="gus to own the course")

    code, document = await report(stack)

    assert (code, counts(document)) == (0, {"late_payment": 1})
    assert rows(document, "late_payment")[0]["user_id"] == "gus"


async def test_against_qpay_a_missed_callback_is_recorded_by_fix(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    await paid_and_owned(stack, payments, entitlements, "ana")
    await stack.sim.set_faults(callback="drop")
    session = await checkout(payments, "bat")
    paid = await stack.sim.pay(session.invoice.invoice_id)

    code, document = await report(stack, "--against-qpay")

    assert (code, counts(document)) == (1, {"paid_at_qpay_pending_here": 1})
    assert document["scanned"]["qpay_payments"] == 2
    [row] = rows(document, "paid_at_qpay_pending_here")
    assert (row["qpay_payment_id"], row["session_id"], row["payment_id"]) == (
        paid["payment_id"],
        session.session_id,
        None,
    )
    code, fixed = await report(stack, "--against-qpay", "--fix")
    assert [(r["action"], r["target"], r["outcome"]) for r in fixed["repairs"]] == [
        ("CheckPayment", session.session_id, "done")
    ]
    await eventually(lambda: owns(entitlements, "bat"), what="bat to own the course")
    code, after = await report(stack, "--against-qpay")
    assert (code, counts(after)) == (0, {})


async def test_against_qpay_a_refund_made_at_qpay_is_recorded_and_revokes(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    session = await checkout(payments, "cy")
    paid = await stack.sim.pay(session.invoice.invoice_id, payment_type="CARD")
    await eventually(lambda: owns(entitlements, "cy"), what="cy to own the course")
    async with QPayClient(stack.qpay_base_url, "TEST_MERCHANT", "123456") as qpay:
        await qpay.refund_payment(paid["payment_id"])  # in QPay's merchant portal, not through paygrant

    code, document = await report(stack, "--against-qpay")

    assert (code, counts(document)) == (1, {"refunded_at_qpay_paid_here": 1})
    code, fixed = await report(stack, "--against-qpay", "--fix")
    assert [(r["action"], r["outcome"], r["detail"]) for r in fixed["repairs"]] == [
        ("RefundPayment", "done", "refund recorded")
    ]
    await eventually(lambda: _not(owns(entitlements, "cy")), what="the refund to revoke the course")
    code, after = await report(stack, "--against-qpay")
    assert (code, counts(after)) == (0, {})


async def test_against_qpay_a_payment_qpay_does_not_know_is_reported_for_people(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    payment_id = await paid_and_owned(stack, payments, entitlements, "dee")
    await stack.sim.reset()  # QPay's records lost (or the payment was never QPay's)

    code, document = await report(stack, "--against-qpay", "--dry-run")

    assert (code, counts(document), document["repairs"]) == (1, {"paid_here_unknown_to_qpay": 1}, [])
    assert rows(document, "paid_here_unknown_to_qpay")[0]["payment_id"] == payment_id


async def test_bad_arguments_and_an_unreachable_service_exit_2_in_one_line(stack: Stack) -> None:
    for args, reason in [
        (("--since", "yesterday"), "is not an ISO 8601 date"),
        (("--since", "2026-12-02", "--until", "2026-12-01"), "must be after --since"),
        (("--since", "2026-12-01", "--fix", "--dry-run"), "not allowed with argument"),
    ]:
        code, err = await run_cli(stack.env(), "reconcile", *args)
        assert code == 2 and reason in err and len(err.strip().splitlines()) == 1, err
    await stack.stop("entitlement")
    code, err = await run_cli(stack.env(), "reconcile", "--since", "2026-12-01")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(
        f"paygrant reconcile: entitlement service at {stack.entitlement_target}: StreamPurchases: UNAVAILABLE"
    )


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "paygrant_cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert b"Traceback" not in stderr
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def _is(count: Any, expected: int) -> bool:
    return bool(await count == expected)


async def _not(check: Any) -> bool:
    return not await check


async def _expired(payments: Payments, request: ppb.GetCheckoutRequest) -> bool:
    return bool((await payments.GetCheckout(request)).status == ppb.CHECKOUT_STATUS_EXPIRED)
