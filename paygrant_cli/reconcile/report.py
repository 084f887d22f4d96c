"""What a reconcile run found and did: a stable JSON document for machines, tables for people (rich).

The JSON document (`--json`), version "paygrant.reconcile/v1"; every key is always present:

    {"schema": "paygrant.reconcile/v1",
     "range": {"since": ISO-8601, "until": ISO-8601},   # [since, until), UTC
     "user": str | null,                               # --user, or null for everyone
     "mode": "report" | "dry-run" | "fix",
     "against_qpay": bool,
     "clean": bool,                                    # no finding of severity "drift"
     "scanned": {"payments": int, "purchases": int, "qpay_payments": int | null},
     "in_flight": int,           # payments whose event was still on its way (younger than --stale-after)
     "classes": [{"name": str, "severity": "drift" | "review" | "notice", "description": str,
                  "repair": str, "checked": bool, "count": int, "rows_truncated": bool,
                  "rows": [{"detail": str, "payment_id": str | null, "user_id": str | null,
                            "session_id": str | null, "purchase_id": str | null, "item": str | null,
                            "event_id": str | null, "qpay_payment_id": str | null}, ...]}, ...],
     "repairs": [{"class": str, "action": str, "target": str,
                  "outcome": "planned" | "done" | "queued" | "failed", "detail": str}, ...],
     "seconds": float}

Every class is listed, in the same order, whether it has findings or not; "checked" is false for the
QPay classes unless --against-qpay. A class keeps at most --max-rows rows (count stays exact).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from paygrant_cli.reconcile.drift import QPAY_CLASSES, DriftClass, Findings, Severity
from paygrant_cli.reconcile.repair import Action

SCHEMA = "paygrant.reconcile/v1"
ROWS_SHOWN = 20
SEVERITY_STYLE = {Severity.DRIFT: "red", Severity.REVIEW: "yellow", Severity.NOTICE: "cyan"}


@dataclass
class Report:
    """One run: what it read, what it found, what it repaired."""

    since: dt.datetime
    until: dt.datetime
    user: str | None
    mode: str
    against_qpay: bool
    findings: Findings
    payments: int = 0
    purchases: int = 0
    qpay_payments: int | None = None
    in_flight: int = 0
    seconds: float = 0.0
    repairs: tuple[Action, ...] = ()

    def checked(self, drift_class: DriftClass) -> bool:
        """False for a QPay class when QPay was not asked."""
        return self.against_qpay or drift_class not in QPAY_CLASSES

    @property
    def clean(self) -> bool:
        """True when no class of severity drift has a finding."""
        return not self.findings.drift_found

    def as_json(self) -> dict[str, Any]:
        """The documented JSON document (see the module's docstring)."""
        classes = []
        for tally in self.findings.tallies.values():
            drift_class = tally.drift_class
            classes.append(
                {
                    "name": drift_class.name,
                    "severity": drift_class.severity.value,
                    "description": drift_class.description,
                    "repair": drift_class.repair.value,
                    "checked": self.checked(drift_class),
                    "count": tally.count,
                    "rows_truncated": tally.count > len(tally.rows),
                    "rows": [row.as_json() for row in tally.rows],
                }
            )
        return {
            "schema": SCHEMA,
            "range": {"since": self.since.isoformat(), "until": self.until.isoformat()},
            "user": self.user,
            "mode": self.mode,
            "against_qpay": self.against_qpay,
            "clean": self.clean,
            "scanned": {"payments": self.payments, "purchases": self.purchases, "qpay_payments": self.qpay_payments},
            "in_flight": self.in_flight,
            "classes": classes,
            "repairs": [action.as_json() for action in self.repairs],
            "seconds": round(self.seconds, 3),
        }

    def to_json(self) -> str:
        """The JSON document as one line."""
        return json.dumps(self.as_json(), ensure_ascii=False)


def print_report(report: Report, console: Console) -> None:
    """The summary table, the rows of each class with findings, the repairs, and a last line that says it all."""
    scanned = f"{report.payments:,} payments, {report.purchases:,} purchases"
    if report.qpay_payments is not None:
        scanned += f", {report.qpay_payments:,} QPay payments"
    who = f" for user {report.user}" if report.user else ""
    console.print(
        f"paygrant reconcile{who}: {report.since.isoformat()} to {report.until.isoformat()}: "
        f"{scanned} in {report.seconds:.1f} s"
    )
    console.print(_summary(report))
    for tally in report.findings.tallies.values():
        if tally.count:
            console.print(_rows(tally.drift_class.name, tally.rows, tally.count))
    if report.repairs:
        console.print(_repairs(report))
    if report.in_flight:
        console.print(f"{report.in_flight} payment(s) in flight: their events were still on their way")
    drift = sum(t.count for t in report.findings.tallies.values() if t.drift_class.severity is Severity.DRIFT)
    console.print("[green]clean[/green]" if report.clean else f"[red]drift found: {drift} finding(s)[/red]")


def _summary(report: Report) -> Table:
    table = Table(title="drift classes", caption="--fix repairs what has a repair; '-' is for people to decide")
    table.add_column("class", no_wrap=True)
    table.add_column("severity")
    table.add_column("count", justify="right")
    table.add_column("repair")
    for tally in report.findings.tallies.values():
        drift_class = tally.drift_class
        style = SEVERITY_STYLE[drift_class.severity] if tally.count else "dim"
        count = str(tally.count) if report.checked(drift_class) else "unchecked"
        table.add_row(drift_class.name, drift_class.severity.value, count, drift_class.repair.short, style=style)
    return table


def _rows(name: str, rows: list[Any], count: int) -> Table:
    table = Table(title=f"{name}: {count}", title_justify="left")
    for column in ("payment", "purchase / event", "user", "item", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows[:ROWS_SHOWN]:
        table.add_row(row.payment_id, row.purchase_id or row.event_id, row.user_id, row.item, row.detail)
    if count > ROWS_SHOWN:
        table.caption = f"{count - ROWS_SHOWN} more not shown (--json lists up to --max-rows)"
    return table


def _repairs(report: Report) -> Table:
    table = Table(title="repairs" if report.mode == "fix" else "repairs --fix would make")
    for column in ("class", "action", "target", "outcome", "detail"):
        table.add_column(column, overflow="fold")
    for action in report.repairs:
        table.add_row(action.drift_class, action.action, action.target, action.outcome, action.detail)
    return table
