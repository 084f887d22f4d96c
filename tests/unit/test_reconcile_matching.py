"""Reconcile's merge and matching, without services: time groups across batch edges, and what each group says."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from paygrant.common.v1 import common_pb2
from paygrant.entitlement.v1 import entitlement_pb2 as epb
from paygrant.payment.v1 import payment_pb2 as ppb
from paygrant_cli.reconcile.drift import Findings
from paygrant_cli.reconcile.matching import Suspects, check_window
from paygrant_cli.reconcile.streams import TimeBuffer, windows

COURSE = common_pb2.ItemRef(kind="course", id="algebra")
BOOK = common_pb2.ItemRef(kind="book", id="primer")
AT = Timestamp(seconds=1_800_000_000, nanos=5_000)


async def _batches(items: Sequence[int], size: int) -> AsyncIterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


instants = st.lists(st.integers(0, 12), max_size=40).map(sorted)


@given(instants, instants, st.integers(1, 6), st.integers(1, 6))
async def test_windows_hold_whole_instants_of_both_streams_across_batch_edges(
    left: list[int], right: list[int], left_size: int, right_size: int
) -> None:
    first = TimeBuffer(_batches(left, left_size), lambda n: (n, 0))
    second = TimeBuffer(_batches(right, right_size), lambda n: (n, 0))
    seen: list[tuple[list[int], list[int]]] = [window async for window in windows(first, second)]

    assert [n for a, _ in seen for n in a] == left and [n for _, b in seen for n in b] == right
    for earlier, later in itertools.pairwise(seen):
        assert max(earlier[0] + earlier[1]) < min(later[0] + later[1]), "an instant is never split"
    assert (first.read, second.read) == (len(left), len(right))


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
    check_window(payments, purchases, findings, suspects)
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
    check_window(payments, [], findings, suspects)
    tally = findings.tallies["late_payment"]
    assert (tally.count, [row.payment_id for row in tally.rows]) == (5, ["pay-0", "pay-1"])
    assert not findings.drift_found, "a late payment is a notice, not drift"
