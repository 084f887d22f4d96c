"""How long `paygrant reconcile` takes over a month of payments, and how much memory it needs.

Two fresh PostgreSQL databases, migrated as the services migrate them, are filled by COPY with
`--payments` paid checkouts spread over DAYS days (each paid at a microsecond of its own), as the services
store them once every payment's PaymentCompleted has been delivered:
- payment side: the catalog (ITEMS courses); per payment its PAID checkout session, the session's lines
  (one course; every 10th session two), the payment (PAID, GRANTED); and SENT outbox rows for the payments
  of the last OUTBOX_KEPT (the service prunes sent rows a week after sending them). No invoices: the
  reconcile reads none;
- entitlement side: per line the purchase it made (paid, active, purchased_at = the payment's paid_at),
  the entitlement that purchase gives, and per payment its event's id in the inbox.
USERS users each pay for courses they do not own yet, so no purchase is a double purchase. Both
databases are then VACUUM ANALYZEd, as autovacuum keeps a database in use.

`paygrant entitlement` and `paygrant payment` then run as their own processes over them (without Redis
and without QPay: nothing is paid meanwhile), and `paygrant reconcile --since --until --json` is run once
over the whole range, as an operator would, with PAYGRANT_PAYMENT_TARGET and PAYGRANT_ENTITLEMENT_TARGET
set. Measured: its wall time, rows read per second (payments + purchases), and its peak RSS (the rusage
os.wait4 reports for the reconcile process alone: see MEASURE). It must exit 0 and report every payment and
purchase scanned with no drift; anything else fails the bench (exit status 1).

Targets: 1,000,000 payments reconciled within 60 s, with a peak RSS of at most 300 MB.

Run: .venv/bin/python -m bench.reconcile [--payments 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import asyncpg
from sqlalchemy.engine import make_url

from bench.support import entitlement_process, fresh_database, paygrant_process, postgres_available
from entitlement_service.adapters import orm as entitlement_orm
from entitlement_service.domain.purchase import PurchaseStatus, Source
from paygrant.contract_rules import EventType
from paygrant.db import open_database, utcnow
from payment_service.adapters import orm as payment_orm
from payment_service.domain.checkout import CheckoutStatus
from payment_service.domain.events import PaidItem, PaymentEvent
from payment_service.domain.outbox import OutboxStatus
from payment_service.domain.payment import PaymentOutcome, PaymentStatus

DAYS = 30
USERS = 100_000
ITEMS = 1_000  # courses; a user's j-th payment buys course user + 2j (and user + 2j + 1), modulo ITEMS
TWO_LINES_EVERY = 10  # every 10th session buys two courses, the others one
CURRENCY = "MNT"
CHUNK = 50_000  # payments per round of COPYs
OUTBOX_KEPT = dt.timedelta(days=6)  # within the 7 days the payment service keeps sent outbox rows
TARGET_SECONDS = 60.0
TARGET_MB = 300.0


@dataclass(frozen=True)
class Span:
    """The payments' time range, [start, end): `payments` of them, payment i within its own step of it."""

    start: dt.datetime
    end: dt.datetime
    payments: int

    @property
    def step_us(self) -> int:
        """Microseconds between the starts of two payments' steps."""
        return (self.end - self.start) // dt.timedelta(microseconds=1) // self.payments

    @property
    def purchases(self) -> int:
        """How many purchases the payments made: one per line (_courses)."""
        return self.payments + self.payments // TWO_LINES_EVERY


def _span(payments: int) -> Span:
    """DAYS days ending at the last full hour before an hour ago: nothing in it is still in flight."""
    end = (utcnow() - dt.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    span = Span(end - dt.timedelta(days=DAYS), end, payments)
    if span.step_us < 1:
        raise SystemExit(f"{payments} payments do not fit in {DAYS} days at distinct microseconds")
    if 2 * -(-payments // USERS) > ITEMS:
        raise SystemExit(f"{payments} payments by {USERS} users would buy some of the {ITEMS} courses twice")
    return span


def _courses(i: int) -> list[int]:
    """The courses payment i pays for: distinct from those of every other payment of its user (i % USERS)."""
    user, nth = i % USERS, i // USERS
    lines = 2 if i % TWO_LINES_EVERY == TWO_LINES_EVERY - 1 else 1
    return [(user + 2 * nth + line) % ITEMS for line in range(lines)]


def _item_id(course: int) -> str:
    return f"course-{course}"


def _title(course: int) -> str:
    return f"Course {course}"


def _price(course: int) -> int:
    return 19_900 + (course % 50) * 10_000


# One NamedTuple per table, its fields the columns it is filled through (the others take their defaults).


class ProductRow(NamedTuple):
    kind: str
    item_id: str
    title: str
    amount: int
    currency: str
    active: bool
    updated_at: dt.datetime


class SessionRow(NamedTuple):
    id: str
    idempotency_key: str
    request_fingerprint: str
    user_id: str
    amount: int
    currency: str
    status: str
    callback_secret_hash: str
    created_at: dt.datetime
    expires_at: dt.datetime
    paid_at: dt.datetime
    payment_id: str
    received_amount: int


class LineRow(NamedTuple):
    session_id: str
    position: int
    kind: str
    item_id: str
    title: str
    amount: int


class PaymentRow(NamedTuple):
    id: str
    qpay_payment_id: str
    session_id: str
    user_id: str
    amount: int
    currency: str
    status: str
    paid_at: dt.datetime
    outcome: str


class OutboxRow(NamedTuple):
    event_id: str
    event_type: str
    payment_id: str
    payload: str  # JSON
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    created_at: dt.datetime
    sent_at: dt.datetime


class PurchaseRow(NamedTuple):
    id: str
    user_id: str
    item_kind: str
    item_id: str
    payment_id: str
    event_id: str
    amount: int
    currency: str
    source: str
    status: str
    purchased_at: dt.datetime


class EntitlementRow(NamedTuple):
    user_id: str
    item_kind: str
    item_id: str
    purchase_id: str
    purchased_at: dt.datetime
    source: str
    payment_id: str


class InboxRow(NamedTuple):
    event_id: str
    event_type: str
    payment_id: str
    received_at: dt.datetime


# A table's name and its rows, all of one NamedTuple.
TableRows = tuple[str, Sequence[NamedTuple]]


@dataclass
class Rows:
    """The rows of a run of payments in each database, in the order they are copied (a foreign key's table first)."""

    sessions: list[SessionRow] = field(default_factory=list)
    lines: list[LineRow] = field(default_factory=list)
    payments: list[PaymentRow] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)
    purchases: list[PurchaseRow] = field(default_factory=list)
    entitlements: list[EntitlementRow] = field(default_factory=list)
    inbox: list[InboxRow] = field(default_factory=list)

    def payment_side(self) -> list[TableRows]:
        return [
            ("checkout_sessions", self.sessions),
            ("checkout_lines", self.lines),
            ("payments", self.payments),
            ("outbox", self.outbox),
        ]

    def entitlement_side(self) -> list[TableRows]:
        return [("purchases", self.purchases), ("entitlements", self.entitlements), ("inbox", self.inbox)]


def _products(at: dt.datetime) -> list[ProductRow]:
    return [ProductRow("course", _item_id(k), _title(k), _price(k), CURRENCY, True, at) for k in range(ITEMS)]


def _rows(span: Span, first: int, count: int) -> Rows:
    """The rows of payments first .. first + count - 1, each paid at a random microsecond of its step."""
    rows = Rows()
    rng = random.Random(first)
    step = span.step_us
    for i in range(first, first + count):
        user = f"user-{i % USERS}"
        paid_at = span.start + dt.timedelta(microseconds=i * step + rng.randrange(step))
        courses = _courses(i)
        items = [PaidItem("course", _item_id(k), _price(k)) for k in courses]
        total = sum(item.amount for item in items)
        session_id, payment_id, event_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        created_at = paid_at - dt.timedelta(seconds=rng.randint(20, 600))
        rows.sessions.append(
            SessionRow(
                id=session_id,
                idempotency_key=uuid.uuid4().hex,
                request_fingerprint=secrets.token_hex(32),
                user_id=user,
                amount=total,
                currency=CURRENCY,
                status=CheckoutStatus.PAID.value,
                callback_secret_hash=secrets.token_hex(32),
                created_at=created_at,
                expires_at=created_at + dt.timedelta(minutes=15),
                paid_at=paid_at,
                payment_id=payment_id,
                received_amount=total,
            )
        )
        rows.payments.append(
            PaymentRow(
                id=payment_id,
                qpay_payment_id=str(400_000_000_000 + i),
                session_id=session_id,
                user_id=user,
                amount=total,
                currency=CURRENCY,
                status=PaymentStatus.PAID.value,
                paid_at=paid_at,
                outcome=PaymentOutcome.GRANTED.value,
            )
        )
        delivered_at = paid_at + dt.timedelta(milliseconds=rng.randint(5, 80))
        completed = PaymentEvent(
            event_id, EventType.PAYMENT_COMPLETED, payment_id, user, CURRENCY, tuple(items), paid_at
        )
        if paid_at >= span.end - OUTBOX_KEPT:
            rows.outbox.append(_sent(completed, delivered_at))
        rows.inbox.append(InboxRow(event_id, completed.type.value, payment_id, delivered_at))
        for position, (course, item) in enumerate(zip(courses, items, strict=True)):
            purchase_id = str(uuid.uuid4())
            rows.lines.append(LineRow(session_id, position, item.kind, item.item_id, _title(course), item.amount))
            rows.purchases.append(
                PurchaseRow(
                    id=purchase_id,
                    user_id=user,
                    item_kind=item.kind,
                    item_id=item.item_id,
                    payment_id=payment_id,
                    event_id=event_id,
                    amount=item.amount,
                    currency=CURRENCY,
                    source=Source.PAID.value,
                    status=PurchaseStatus.ACTIVE.value,
                    purchased_at=paid_at,
                )
            )
            rows.entitlements.append(
                EntitlementRow(user, item.kind, item.item_id, purchase_id, paid_at, Source.PAID.value, payment_id)
            )
    return rows


def _sent(event: PaymentEvent, at: dt.datetime) -> OutboxRow:
    """The outbox row of `event`, delivered at `at` by the relay's first attempt."""
    return OutboxRow(
        event_id=event.event_id,
        event_type=event.type.value,
        payment_id=event.payment_id,
        payload=json.dumps(event.to_payload()),
        status=OutboxStatus.SENT.value,
        attempts=1,
        next_attempt_at=event.occurred_at,
        created_at=event.occurred_at,
        sent_at=at,
    )


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _copy(connection: asyncpg.Connection, tables: Sequence[TableRows]) -> None:
    """COPYs each table's rows, one table after the other (each COPY commits by itself)."""
    for table, records in tables:
        if records:
            await connection.copy_records_to_table(table, records=records, columns=list(records[0]._fields))


async def _seed(payment_url: str, entitlement_url: str, span: Span) -> None:
    """Fills both databases with the catalog and the span's payments, CHUNK payments at a time, both at once.

    Seeding is bound by PostgreSQL's index upkeep, not by building the rows: more chunks in flight did not
    make it faster on 2 cores.
    """
    payment_db = await asyncpg.connect(_dsn(payment_url))
    entitlement_db = await asyncpg.connect(_dsn(entitlement_url))
    try:
        await _copy(payment_db, [("products", _products(span.start - dt.timedelta(days=1)))])
        for first in range(0, span.payments, CHUNK):
            rows = _rows(span, first, min(CHUNK, span.payments - first))
            async with asyncio.TaskGroup() as group:
                group.create_task(_copy(payment_db, rows.payment_side()))
                group.create_task(_copy(entitlement_db, rows.entitlement_side()))
    finally:
        await payment_db.close()
        await entitlement_db.close()


async def _vacuum_analyze(*urls: str) -> None:
    """What autovacuum keeps up on a database in use: visibility and hint bits set, and the planner's statistics."""
    for url in urls:
        connection = await asyncpg.connect(_dsn(url))
        try:
            await connection.execute("VACUUM (ANALYZE)")
        finally:
            await connection.close()


async def _migrate(payment_url: str, entitlement_url: str) -> None:
    """Both schemas at their newest, as each service brings its database there when it starts."""
    async with open_database(payment_url, payment_orm.SCHEMA):
        pass
    async with open_database(entitlement_url, entitlement_orm.SCHEMA):
        pass


@dataclass(frozen=True)
class Run:
    """One `paygrant reconcile`: how it ended, how long it took, its peak memory, and what it printed."""

    exit_code: int
    seconds: float
    peak_rss_mb: float
    output: str
    errors: str


# Runs argv[2:] and writes its exit code, wall seconds and peak RSS (KiB) to the file argv[1]. The kernel
# counts a process's peak RSS from before its exec too, so a process forked from the bench (hundreds of MB
# after seeding) would report the bench's peak: the command is forked from this small interpreter instead.
MEASURE = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {time.perf_counter() - started} {usage.ru_maxrss}")
"""


def reconcile(span: Span, payment_target: str, entitlement_target: str, folder: Path) -> Run:
    """Runs `paygrant reconcile` over the span to its end, its stdout and stderr in files under `folder`."""
    command = [
        *(sys.executable, "-m", "paygrant_cli", "reconcile"),
        *("--since", span.start.isoformat(), "--until", span.end.isoformat(), "--json"),
    ]
    env = {**os.environ, "PAYGRANT_PAYMENT_TARGET": payment_target, "PAYGRANT_ENTITLEMENT_TARGET": entitlement_target}
    stdout, stderr, measured = folder / "reconcile.json", folder / "reconcile.log", folder / "measured"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", MEASURE, str(measured), *command],
            env=env,
            stdout=out,
            stderr=err,
            check=True,
        )
    exit_code, seconds, peak_kib = measured.read_text().split()
    return Run(int(exit_code), float(seconds), int(peak_kib) * 1024 / 1e6, stdout.read_text(), stderr.read_text())


def problems(run: Run, span: Span) -> list[str]:
    """What is wrong with the run: it failed, misread the rows, or found drift where there is none."""
    found = []
    if run.exit_code != 0:
        tail = "\n".join(run.errors.strip().splitlines()[-10:])
        found.append(f"paygrant reconcile exited with {run.exit_code}:\n{tail}")
    try:
        report = json.loads(run.output)
    except ValueError as error:
        report = f"not JSON ({error})"
    if not isinstance(report, dict):
        return found or [f"its output is not one JSON object: {report!r:.200}"]
    scanned = report.get("scanned", {})
    expected = {"payments": span.payments, "purchases": span.purchases}
    found += [
        f"scanned {scanned.get(key)} {key}, not {count}" for key, count in expected.items() if scanned.get(key) != count
    ]
    if report.get("clean") is not True:
        found.append(f"clean is {report.get('clean')!r}")
    found += [f"drift: {c.get('name')}, {c.get('count')} rows" for c in report.get("classes", []) if c.get("count")]
    return found


@asynccontextmanager
async def _seeded_databases(span: Span) -> AsyncIterator[tuple[str, str]]:
    """Fresh payment and entitlement databases holding the span's payments; dropped afterwards, whatever happens."""
    async with (
        fresh_database("reconcile_payment", True) as payment_url,
        fresh_database("reconcile_entitlement", True) as entitlement_url,
    ):
        await _migrate(payment_url, entitlement_url)
        started = time.perf_counter()
        await _seed(payment_url, entitlement_url, span)
        copied = time.perf_counter()
        await _vacuum_analyze(payment_url, entitlement_url)
        print(
            f"  seeded by COPY in {copied - started:.1f} s ({span.payments / (copied - started):,.0f} payments/s),"
            f" then VACUUM ANALYZE in {time.perf_counter() - copied:.1f} s"
        )
        yield payment_url, entitlement_url


@asynccontextmanager
async def _services(payment_url: str, entitlement_url: str) -> AsyncIterator[tuple[str, str]]:
    """`paygrant entitlement` and `paygrant payment` as their own processes; yields their gRPC targets."""
    async with entitlement_process(entitlement_url) as entitlement_target:
        env = {
            **os.environ,
            "PAYGRANT_PAYMENT_DATABASE_URL": payment_url,
            "PAYGRANT_PAYMENT_GRPC_PORT": "0",
            "PAYGRANT_CALLBACK_PORT": "0",
            "PAYGRANT_ENTITLEMENT_TARGET": entitlement_target,
        }
        async with paygrant_process("payment", env) as payment:
            yield payment["PaymentService gRPC"], entitlement_target


def _report(run: Run, span: Span) -> list[str]:
    """Prints the run's figures against the targets; returns what is wrong with it."""
    print(f"  paygrant reconcile --since {span.start.isoformat()} --until {span.end.isoformat()} --json")
    rows = span.payments + span.purchases
    print(
        f"  exit {run.exit_code}; wall {run.seconds:.1f} s ({rows / run.seconds:,.0f} rows/s read),"
        f" peak RSS {run.peak_rss_mb:.0f} MB"
    )
    found = problems(run, span)
    if found:
        print("  targets not judged: the run failed")
    else:
        print(
            f"  targets: wall <= {TARGET_SECONDS:.0f} s {_verdict(run.seconds, TARGET_SECONDS)},"
            f" peak RSS <= {TARGET_MB:.0f} MB {_verdict(run.peak_rss_mb, TARGET_MB)}"
        )
    for problem in found:
        print(f"  FAILED: {problem}")
    return found


def _verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


async def main(payments: int) -> int:
    if not postgres_available():
        raise SystemExit("bench.reconcile needs PostgreSQL on 127.0.0.1:5432")
    span = _span(payments)
    print(f"reconcile of {payments:,} payments ({span.purchases:,} purchases) over {DAYS} days, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        async with _seeded_databases(span) as urls, _services(*urls) as (payment_target, entitlement_target):
            run = await asyncio.to_thread(reconcile, span, payment_target, entitlement_target, Path(folder))
    return 1 if _report(run, span) else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1_000_000, help="payments seeded (and reconciled)")
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.payments)))
