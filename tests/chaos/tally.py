"""Counting after a chaos run: what was paid at QPay against what both databases and the gRPC API say.

The ledger is the test's own record of every invoice it paid at the simulator. Every figure is
counted twice where it can be: from the databases directly (the independent view) and through
the entitlement service's API (what a caller sees, the Redis cache included).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from paygrant.common.v1 import common_pb2
from paygrant.db import create_engine
from paygrant.entitlement.v1 import entitlement_pb2, entitlement_pb2_grpc
from paygrant.qpay_sim.callbacks import ABANDONED
from paygrant.qpay_sim.control_client import SimulatorControl
from tests.chaos.plan import CATALOG, Item

Pair = tuple[str, Item]  # (user, item)


@dataclass(frozen=True)
class PaidSession:
    """A checkout the test paid at the simulator: the money was taken."""

    session_id: str
    user_id: str
    items: tuple[Item, ...]
    invoice_id: str
    qpay_payment_id: str


@dataclass
class Figures:
    """The run's counts; `failures()` names every one that breaks an invariant."""

    paid_sessions: int = 0
    paid_items: int = 0
    unrecorded_after_faults: int = 0
    payments_recorded: int = 0
    purchases: int = 0
    owned_db: int = 0
    owned_api_listed: int = 0
    owned_api_checked: int = 0
    lost_db: int = 0
    lost_api: int = 0
    double: int = 0
    false_db: int = 0
    false_api: int = 0
    wrong_amounts: int = 0
    outbox: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def failures(self) -> list[str]:
        """What went wrong, as lines for the assertion message."""
        broken = {
            "lost grants (databases)": self.lost_db,
            "lost grants (API)": self.lost_api,
            "double grants": self.double,
            "false grants (databases)": self.false_db,
            "false grants (API)": self.false_api,
            "payments of the wrong amount": self.wrong_amounts,
            "dead outbox rows": self.outbox["DEAD"],
            "outbox rows still pending": self.outbox["PENDING"],
        }
        return [f"{name}: {count}" for name, count in broken.items() if count]


async def rows(database_url: str, sql: str) -> list[Any]:
    """Every row of a query on one of the stack's databases."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql)))
    finally:
        await engine.dispose()


async def count_everything(
    ledger: Sequence[PaidSession],
    payment_db_url: str,
    entitlement_db_url: str,
    entitlements: entitlement_pb2_grpc.EntitlementServiceStub,
) -> Figures:
    """Counts the run from the ledger, both databases and the entitlement API."""
    figures = Figures(paid_sessions=len(ledger), paid_items=sum(len(paid.items) for paid in ledger))
    expected = {(paid.user_id, item) for paid in ledger for item in paid.items}
    assert len(expected) == figures.paid_items, "the plan buys each (user, item) once"
    await _count_databases(figures, ledger, expected, payment_db_url, entitlement_db_url)
    await _count_api(figures, ledger, expected, entitlements)
    return figures


async def _count_databases(
    figures: Figures, ledger: Sequence[PaidSession], expected: set[Pair], payment_db_url: str, entitlement_db_url: str
) -> None:
    payments = await rows(payment_db_url, "SELECT id, session_id, user_id, amount, status FROM payments")
    lines = await rows(payment_db_url, "SELECT session_id, kind, item_id FROM checkout_lines")
    outbox = await rows(payment_db_url, "SELECT status, count(*) FROM outbox GROUP BY status")
    purchases = await rows(
        entitlement_db_url,
        "SELECT user_id, item_kind, item_id, payment_id, status FROM purchases WHERE source = 'paid'",
    )
    owned = await rows(entitlement_db_url, "SELECT user_id, item_kind, item_id FROM entitlements")

    items_of_session: dict[str, set[Item]] = {}
    for session_id, kind, item_id in lines:
        items_of_session.setdefault(session_id, set()).add((kind, item_id))
    paid_sessions = {paid.session_id for paid in ledger}
    payments_of_session = Counter(session_id for _, session_id, _, _, _ in payments)
    figures.payments_recorded = sum(1 for _, session_id, _, _, _ in payments if session_id in paid_sessions)
    figures.double += sum(n - 1 for n in payments_of_session.values() if n > 1)
    figures.wrong_amounts = sum(
        1 for _, session_id, _, amount, _ in payments if amount != _price(items_of_session.get(session_id, set()))
    )
    # What each PAID payment pays for: its user and the items of its session.
    paid_for = {
        payment_id: {(user_id, item) for item in items_of_session.get(session_id, set())}
        for payment_id, session_id, user_id, _, status in payments
        if status == "PAID"
    }

    figures.purchases = len(purchases)
    purchased = Counter((user_id, (kind, item_id)) for user_id, kind, item_id, _, _ in purchases)
    figures.double += sum(n - 1 for pair, n in purchased.items() if n > 1 and pair in expected)
    unbacked = {
        (user_id, (kind, item_id))
        for user_id, kind, item_id, payment_id, status in purchases
        if status == "active" and (user_id, (kind, item_id)) not in paid_for.get(payment_id, set())
    }
    owned_pairs = {(user_id, (kind, item_id)) for user_id, kind, item_id in owned}
    figures.owned_db = len(owned_pairs)
    lost = expected - owned_pairs
    false = (owned_pairs - expected) | unbacked | {pair for pair in purchased if pair not in expected}
    figures.lost_db, figures.false_db = len(lost), len(false)
    figures.outbox = Counter({status: int(n) for status, n in outbox})
    _note(figures, "lost (databases)", lost)
    _note(figures, "false (databases)", false)


async def _count_api(
    figures: Figures,
    ledger: Sequence[PaidSession],
    expected: set[Pair],
    entitlements: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    users = sorted({paid.user_id for paid in ledger})
    listings = await asyncio.gather(
        *(entitlements.ListEntitlements(entitlement_pb2.ListEntitlementsRequest(user_id=user)) for user in users)
    )
    listed = {
        (user, (e.item.kind, e.item.id))
        for user, reply in zip(users, listings, strict=True)
        for e in reply.entitlements
    }
    pairs = sorted(expected)
    checks = await asyncio.gather(
        *(
            entitlements.CheckOwnership(
                entitlement_pb2.CheckOwnershipRequest(user_id=user, item=common_pb2.ItemRef(kind=kind, id=item_id))
            )
            for user, (kind, item_id) in pairs
        )
    )
    checked = {pair for pair, reply in zip(pairs, checks, strict=True) if reply.owned}
    figures.owned_api_listed, figures.owned_api_checked = len(listed), len(checked)
    lost = (expected - listed) | (expected - checked)
    false = listed - expected
    figures.lost_api, figures.false_api = len(lost), len(false)
    _note(figures, "lost (API)", lost)
    _note(figures, "false (API)", false)


def _price(items: Iterable[Item]) -> int:
    return sum(CATALOG[item][1] for item in items)


def _note(figures: Figures, what: str, pairs: set[Pair]) -> None:
    for user, (kind, item_id) in sorted(pairs)[:5]:
        figures.examples.append(f"{what}: {user} {kind}/{item_id}")


async def count_callbacks(sim: SimulatorControl, ledger: Sequence[PaidSession]) -> Counter[str]:
    """How the simulator's callbacks for the paid invoices went, by outcome."""
    records = await asyncio.gather(*(sim.invoice(paid.invoice_id) for paid in ledger))
    outcomes: Counter[str] = Counter()
    for record in records:
        attempts = record["callbacks"]
        if not attempts:
            outcomes["never sent (drop)"] += 1
        for attempt in attempts:
            if attempt["status"] == 200:
                outcomes["answered SUCCESS"] += 1
            elif attempt["status"] is not None:
                outcomes[f"refused with HTTP {attempt['status']}"] += 1
            elif attempt["error"] == ABANDONED:
                outcomes["abandoned (fail)"] += 1
            else:
                outcomes["unreachable merchant"] += 1
    return outcomes


def count_log_problems(log_dir: Path) -> dict[str, Counter[str]]:
    """Tracebacks and ERROR lines per process log, for the report."""
    problems: dict[str, Counter[str]] = {}
    for log in sorted(log_dir.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        problems[log.stem] = Counter(
            tracebacks=sum(1 for line in lines if line.startswith("Traceback")),
            errors=sum(1 for line in lines if " ERROR " in line),
        )
    return problems
