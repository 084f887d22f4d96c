"""The chaos run's figures as a small table, printed so `make chaos` shows them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tests.chaos.gateway import CallLog
from tests.chaos.monkey import FiredFault
from tests.chaos.tally import Figures


@dataclass(frozen=True)
class RunReport:
    """Everything one run measured."""

    seed: int
    customers: int
    seconds: float
    figures: Figures
    fired: Sequence[FiredFault]
    calls: CallLog
    callbacks: Counter[str]
    log_problems: dict[str, Counter[str]]

    def render(self) -> str:
        """The report as text: faults, then figures from the databases and the API, then what clients saw."""
        f = self.figures
        out = [
            f"chaos run: seed {self.seed} (replay: PAYGRANT_CHAOS_SEED={self.seed} make chaos), "
            f"{f.paid_sessions} paid checkouts by {self.customers} customers in {self.seconds:.1f}s",
            "",
            f"{'fault':<32}{'at':>8}{'paid':>7}{'failed calls':>14}  detail",
        ]
        out += [
            f"{fault.label:<32}{fault.at_seconds:>7.1f}s{fault.paid_before:>7}{fault.failed_calls:>14}  {fault.detail}"
            for fault in self.fired
        ]
        out += [
            "",
            f"{'figure':<44}{'databases':>10}{'gRPC API':>10}",
            _row("paid sessions (paid at QPay)", f.paid_sessions),
            _row("paid items", f.paid_items),
            _row("sessions unrecorded when the faults ended", f.unrecorded_after_faults),
            _row("payments recorded", f.payments_recorded),
            _row("paid purchases", f.purchases),
            _row("owned items (listed / checked)", f.owned_db, f"{f.owned_api_listed}/{f.owned_api_checked}"),
            _row("LOST grants", f.lost_db, f.lost_api),
            _row("DOUBLE grants", f.double),
            _row("FALSE grants", f.false_db, f.false_api),
            _row("payments of the wrong amount", f.wrong_amounts),
            _row("outbox rows SENT", f.outbox["SENT"]),
            _row("outbox rows DEAD", f.outbox["DEAD"]),
            _row("outbox rows PENDING", f.outbox["PENDING"]),
            "",
            "client retries: " + _counts(self.calls.retried),
            f"answers other than OK/UNAVAILABLE/DEADLINE_EXCEEDED: {len(self.calls.unexpected)}",
            *(f"  {line}" for line in _first(self.calls.unexpected)),
            "callbacks: " + _counts(self.callbacks),
            "process logs: "
            + ", ".join(
                f"{name} {c['tracebacks']} tracebacks/{c['errors']} errors" for name, c in self.log_problems.items()
            ),
            *(f"  {example}" for example in f.examples),
        ]
        return "\n".join(out)


def _row(label: str, database: int, api: int | str = "") -> str:
    return f"{label:<44}{database:>10}{api!s:>10}"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counter.most_common()) or "none"


def _first(lines: Sequence[str], limit: int = 8) -> list[str]:
    distinct = list(dict.fromkeys(lines))
    return distinct[:limit] + ([f"... and {len(distinct) - limit} more"] if len(distinct) > limit else [])
