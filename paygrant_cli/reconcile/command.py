"""Running a reconcile: both streams merged a window of whole instants at a time, suspects settled, repairs made.

Exit codes: 0 when no drift was found, 1 when some was (also when --fix repaired it: the report says
what was done), 2 when reconcile could not run (a service unreachable or refusing, bad arguments),
with one line on standard error and no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from paygrant.db import utcnow
from paygrant.entitlement.v1 import entitlement_pb2 as epb
from paygrant.payment.v1 import payment_pb2 as ppb
from paygrant_cli.reconcile.drift import Findings
from paygrant_cli.reconcile.matching import Suspects, check_window
from paygrant_cli.reconcile.qpay_check import QPayComparison
from paygrant_cli.reconcile.repair import Repairer
from paygrant_cli.reconcile.report import Report, print_report
from paygrant_cli.reconcile.services import ReconcileFailed, Services, connected
from paygrant_cli.reconcile.streams import TimeBuffer, TimeKey, payment_batches, purchase_batches, time_key, windows
from paygrant_cli.reconcile.verify import Verifier
from paygrant_cli.settings import CliSettings
from payment_service.adapters.qpay.client import QPayClient

SETTLE_EVERY = 500  # suspects held before they are looked at again


@dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    since: dt.datetime
    until: dt.datetime
    user: str | None = None
    against_qpay: bool = False
    fix: bool = False
    dry_run: bool = False
    as_json: bool = False
    stale_after: float = 60.0
    max_rows: int = 1_000
    fix_timeout: float = 30.0

    @property
    def mode(self) -> str:
        """report, dry-run or fix."""
        return "fix" if self.fix else "dry-run" if self.dry_run else "report"


def instant(text: str) -> dt.datetime:
    """An ISO 8601 date or date-time (UTC when it names no offset), or `now`; for argparse."""
    if text == "now":
        return utcnow()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or date-time (or 'now')") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The reconcile subcommand's options."""
    parser.add_argument("--since", type=instant, required=True, metavar="T", help="from this instant (ISO 8601)")
    parser.add_argument("--until", type=instant, default="now", metavar="T", help="to this instant (default: now)")
    parser.add_argument("--user", metavar="U", help="only this user's payments and purchases")
    parser.add_argument("--against-qpay", action="store_true", help="also compare with QPay's own payment list")
    repair = parser.add_mutually_exclusive_group()
    repair.add_argument("--fix", action="store_true", help="repair what has a repair, through the services")
    repair.add_argument("--dry-run", action="store_true", help="list the repairs --fix would make")
    parser.add_argument("--json", action="store_true", help="one JSON document (paygrant_cli/reconcile/report.py)")
    parser.add_argument(
        "--stale-after", type=float, default=60.0, metavar="SECONDS", help="an event pending longer is stuck"
    )
    parser.add_argument("--max-rows", type=int, default=1_000, metavar="N", help="rows kept per class (default 1000)")
    parser.add_argument(
        "--fix-timeout", type=float, default=30.0, metavar="SECONDS", help="how long --fix waits for its events"
    )


def options_of(args: argparse.Namespace) -> Options:
    """The options, checked together; ReconcileFailed for a combination that cannot run."""
    if args.until <= args.since:
        raise ReconcileFailed(f"--until ({args.until.isoformat()}) must be after --since ({args.since.isoformat()})")
    if args.stale_after < 0 or args.fix_timeout < 0 or args.max_rows < 0:
        raise ReconcileFailed("--stale-after, --fix-timeout and --max-rows must not be negative")
    return Options(
        since=args.since,
        until=args.until,
        user=args.user or None,
        against_qpay=args.against_qpay,
        fix=args.fix,
        dry_run=args.dry_run,
        as_json=args.json,
        stale_after=args.stale_after,
        max_rows=args.max_rows,
        fix_timeout=args.fix_timeout,
    )


def run_reconcile(settings: CliSettings, args: argparse.Namespace) -> int:
    """Runs reconcile and prints its report; the exit code (see the module's docstring)."""
    console = Console(stderr=True)
    try:
        options = options_of(args)
        report = asyncio.run(reconcile(settings, options, console))
    except ReconcileFailed as failure:
        print(f"paygrant reconcile: {failure}", file=sys.stderr)
        return 2
    if options.as_json:
        print(report.to_json())
    else:
        print_report(report, Console())
    return 0 if report.clean else 1


async def reconcile(settings: CliSettings, options: Options, console: Console) -> Report:
    """One whole run."""
    started = time.monotonic()
    findings = Findings(options.max_rows)
    report = Report(options.since, options.until, options.user, options.mode, options.against_qpay, findings)
    async with connected(settings) as services:
        verifier = Verifier(services, findings, utcnow() - dt.timedelta(seconds=options.stale_after))
        user_payments = await _merge(services, options, findings, verifier, report, console)
        await verifier.check_outbox(user_payments)
        report.in_flight = verifier.in_flight
        if options.against_qpay:
            report.qpay_payments = await _compare_with_qpay(settings, services, options, findings)
        if options.fix or options.dry_run:
            repairer = Repairer(services, verifier, options.dry_run, options.fix_timeout)
            report.repairs = tuple(await repairer.repair(findings))
    report.seconds = time.monotonic() - started
    return report


async def _merge(
    services: Services, options: Options, findings: Findings, verifier: Verifier, report: Report, console: Console
) -> set[str] | None:
    """Both streams, merged a window of whole instants at a time; returns the user's payment ids with --user
    (else None)."""
    user = options.user or ""
    payments = TimeBuffer(payment_batches(services, options.since, options.until, user), _paid_at)
    purchases = TimeBuffer(purchase_batches(services, options.since, options.until, user), _purchased_at)
    user_payments: set[str] | None = set() if options.user else None
    suspects = Suspects()
    try:
        with _progress(options, console) as advance:
            async for window_payments, window_purchases in windows(payments, purchases):
                check_window(window_payments, window_purchases, findings, suspects)
                if user_payments is not None:
                    user_payments.update(payment.payment_id for payment in window_payments)
                if len(suspects) >= SETTLE_EVERY:
                    await verifier.settle(suspects)
                if window_payments:
                    advance(time_key(window_payments[-1].paid_at), payments.read)
            await verifier.settle(suspects)
    finally:
        await payments.close()
        await purchases.close()
    report.payments, report.purchases = payments.read, purchases.read
    return user_payments


def _paid_at(payment: ppb.Payment) -> TimeKey:
    return time_key(payment.paid_at)


def _purchased_at(purchase: epb.Purchase) -> TimeKey:
    return time_key(purchase.purchased_at)


async def _compare_with_qpay(settings: CliSettings, services: Services, options: Options, findings: Findings) -> int:
    """QPay's payment list against the records; returns how many of QPay's rows the range holds."""
    secret = settings.qpay_client_secret.get_secret_value()
    async with QPayClient(settings.qpay_base_url, settings.qpay_client_id, secret) as qpay:
        comparison = QPayComparison(services, qpay, settings.qpay_invoice_code, findings)
        await comparison.compare(options.since, options.until, options.user or "")
    return comparison.read


@contextmanager
def _progress(options: Options, console: Console) -> Iterator[Callable[[TimeKey, int], None]]:
    """A bar over the time range on a terminal (standard error), and nothing otherwise."""
    if options.as_json or not console.is_terminal:
        yield lambda at, read: None
        return
    start, span = options.since.timestamp(), (options.until - options.since).total_seconds()
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[read]:,} payments"))
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("reconciling", total=span, read=0)
        last = 0.0

        def advance(at: TimeKey, read: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= 0.1:  # rich redraws ten times a second anyway
                progress.update(task, completed=at[0] - start, read=read)
                last = now

        yield advance
