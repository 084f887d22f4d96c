"""Reconcile's merge and matching, without services: time groups across batch edges, and what each group says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from paygrant.common.v1 import common_pb2
from paygrant.entitlement.v1 import entitlement_pb2 as epb
from paygrant.payment.v1 import payment_pb2 as ppb
from paygrant_cli.reconcile.drift import Findings
from paygrant_cli.reconcile.matching import Suspects, check_group
from paygrant_cli.reconcile.streams import TimeCursor

COURSE = common_pb2.ItemRef(kind="course", id="algebra")
BOOK = common_pb2.ItemRef(kind="book", id="primer")
AT = Timestamp(seconds=1_800_000_000, nanos=5_000)


async def _batches(items: Sequence[int], size: int) -> AsyncIterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@given(st.lists(st.integers(0, 20), max_size=60).map(sorted), st.integers(1, 7))
async def test_a_cursor_gives_each_instant_whole_across_batch_edges(instants: list[int], size: int) -> None:
    cursor = TimeCursor(_batches(instants, size), lambda n: (n, 0))
    groups = []
    while (head := await cursor.head()) is not None:
        groups.append(await cursor.take(head))
    assert groups == [[n] * instants.count(n) for n in sorted(set(instants))]
    assert cursor.read == len(instants)
    assert await cursor.take((99, 0)) == []


def payment(
    outcome: int = ppb.PAYMENT_OUTCOME_GRANTED, status: int = ppb.PAYMENT_STATUS_PAID, **fields: object
) -> ppb.Payment:
    lines = [ppb.CheckoutLine(item=COURSE, amount=1_000), ppb.CheckoutLine(item=BOOK, amount=500)]
    defaults: dict[str, object] = {"payment_id": "pay-1", "user_id": "ana", "currency": "MNT", "paid_at": AT}
    return ppb.Payment(outcome=outcome, status=status, lines=lines, **{**defaults, **fields})  # type: ignore[arg-type]


def purchase(item: common_pb2.ItemRef, amount: int, **fields: object) -> epb.Purchase:
    defaults: dict[str, object] = {
        "purchase_id": f"pur-{item.id}",
        "payment_id": "pay-1",
        "user_id": "ana",
        "currency": "MNT",
        "status": epb.PURCHASE_STATUS_ACTIVE,
        "purchased_at": AT,
    }
    return epb.Purchase(item=item, amount=amount, **{**defaults, **fields})  # type: ignore[arg-type]


def run(payments: Sequence[ppb.Payment], purchases: Sequence[epb.Purchase]) -> tuple[dict[str, int], Suspects]:
    findings, suspects = Findings(max_rows=10), Suspects()
    check_group(payments, purchases, findings, suspects)
    return {name: t.count for name, t in findings.tallies.items() if t.count}, suspects


def test_a_payment_owned_line_by_line_at_its_prices_is_clean() -> None:
    counts, suspects = run([payment()], [purchase(COURSE, 1_000), purchase(BOOK, 500)])
    assert (counts, len(suspects)) == ({}, 0)


def test_a_missing_or_revoked_line_is_a_suspect_until_its_events_are_looked_at() -> None:
    revoked = purchase(BOOK, 500, status=epb.PURCHASE_STATUS_REVOKED)
    counts, suspects = run([payment()], [revoked])
    assert counts == {}
    assert suspects.ungranted["pay-1"].detail == (
        "not owned through it: course/algebra (no purchase), book/primer (revoked)"
    )


def test_prices_items_flags_and_outcomes_that_disagree_are_findings() -> None:
    counts, _ = run(
        [payment()],
        [
            purchase(COURSE, 999),
            purchase(BOOK, 500, double_purchase=True),
            purchase(common_pb2.ItemRef(kind="course", id="extra"), 1),
        ],
    )
    assert counts == {"amount_mismatch": 1, "double_purchase": 1, "granted_without_payment": 1}
    counts, _ = run([payment(currency="USD")], [purchase(COURSE, 1_000), purchase(BOOK, 500)])
    assert counts == {"amount_mismatch": 2}
    counts, _ = run([payment(ppb.PAYMENT_OUTCOME_DUPLICATE, refund_due=True)], [purchase(COURSE, 1_000)])
    assert counts == {"granted_without_payment": 1, "duplicate_payment": 1}


def test_refunded_short_late_and_orphaned_records_are_sorted_out() -> None:
    counts, suspects = run([payment(status=ppb.PAYMENT_STATUS_REFUNDED)], [purchase(COURSE, 1_000)])
    assert (counts, list(suspects.still_granted)) == ({}, ["pay-1"])
    counts, suspects = run([payment(ppb.PAYMENT_OUTCOME_SHORT, late=True)], [])
    assert (counts, list(suspects.short)) == ({"late_payment": 1}, ["pay-1"])
    counts, suspects = run([], [purchase(COURSE, 1_000, payment_id="pay-elsewhere"), purchase(BOOK, 0, payment_id="")])
    assert (counts, list(suspects.orphans)) == ({}, ["pay-elsewhere"]), "a grant by hand has no payment to match"


def test_a_class_keeps_its_first_rows_and_counts_them_all() -> None:
    findings, suspects = Findings(max_rows=2), Suspects()
    payments = [payment(payment_id=f"pay-{n}", late=True) for n in range(5)]
    check_group(payments, [], findings, suspects)
    tally = findings.tallies["late_payment"]
    assert (tally.count, [row.payment_id for row in tally.rows]) == (5, ["pay-0", "pay-1"])
    assert not findings.drift_found, "a late payment is a notice, not drift"
