"""`paygrant health`: both services' gRPC health, the payment service's outbox and Redis, for people and monitors.

Everything is asked over the network (gRPC health, GetOutboxState, a Redis PING), never read from a
database. A table for a terminal (rich), or `--json` for machines:

    {"healthy": bool,
     "checks": [{"name": str, "healthy": bool, "detail": str}, ...],
     "outbox": {"pending": int, "sent": int, "dead": int, "oldest_pending_age_seconds": float | null} | null,
     "session_cache_fallbacks": int | null}

Exit code 0 when every check is healthy, 1 when one is not: a service not serving or unreachable,
a dead outbox row, a pending row older than `--stale-after` seconds, or Redis (when
PAYGRANT_REDIS_URL is set) not answering.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table

from paygrant.db import utcnow
from paygrant.grpc_channel import open_channel
from paygrant.payment.v1 import payment_pb2
from paygrant.payment.v1.payment_pb2_grpc import PaymentServiceStub
from paygrant.timestamps import from_timestamp
from paygrant_cli.settings import CliSettings

CALL_TIMEOUT = 5.0


@dataclass(frozen=True)
class Check:
    """One thing looked at: healthy or not, and what was seen."""

    name: str
    healthy: bool
    detail: str


@dataclass
class HealthReport:
    """Every check, and the outbox's figures when the payment service gave them."""

    checks: list[Check] = field(default_factory=list)
    outbox: dict[str, Any] | None = None
    session_cache_fallbacks: int | None = None

    @property
    def healthy(self) -> bool:
        """True when every check is."""
        return all(check.healthy for check in self.checks)

    def as_json(self) -> str:
        """The documented JSON form (the module's docstring)."""
        return json.dumps(
            {
                "healthy": self.healthy,
                "checks": [asdict(check) for check in self.checks],
                "outbox": self.outbox,
                "session_cache_fallbacks": self.session_cache_fallbacks,
            }
        )


async def health_report(settings: CliSettings, stale_after: float) -> HealthReport:
    """Asks both services and Redis; a failure to reach one is a check that failed, never an exception."""
    report = HealthReport()
    async with (
        open_channel(settings.payment_target, settings.payment_channel()) as payment,
        open_channel(settings.entitlement_target, settings.entitlement_channel()) as entitlement,
    ):
        report.checks.append(await _serving("payment service", settings.payment_target, payment))
        report.checks.append(await _serving("entitlement service", settings.entitlement_target, entitlement))
        await _outbox(report, PaymentServiceStub(payment), stale_after)
    report.checks.append(await _redis(settings.redis_url))
    return report


async def _serving(name: str, target: str, channel: grpc.aio.Channel) -> Check:
    try:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        return Check(name, False, f"{target}: {error.code().name}")
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    return Check(name, answer.status == health_pb2.HealthCheckResponse.SERVING, f"{target}: {status}")


async def _outbox(report: HealthReport, payments: PaymentServiceStub, stale_after: float) -> None:
    try:
        state = await payments.GetOutboxState(payment_pb2.GetOutboxStateRequest(), timeout=CALL_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        report.checks.append(Check("outbox", False, f"GetOutboxState: {error.code().name}: {error.details()}"))
        return
    age = None
    if state.HasField("oldest_pending_created_at"):
        oldest = from_timestamp(state.oldest_pending_created_at)
        age = max(0.0, (utcnow() - oldest).total_seconds())
    counts = {"pending": state.pending, "sent": state.sent, "dead": state.dead}
    report.outbox = {**counts, "oldest_pending_age_seconds": age}
    report.session_cache_fallbacks = state.session_cache_fallbacks
    report.checks.append(Check("outbox dead rows", state.dead == 0, f"{state.dead} dead (paygrant outbox retry)"))
    waited = "none pending" if age is None else f"{state.pending} pending, the oldest for {age:.1f} s"
    report.checks.append(Check("outbox delivery", age is None or age <= stale_after, waited))


async def _redis(url: str | None) -> Check:
    if url is None:
        return Check("redis", True, "not configured (PAYGRANT_REDIS_URL unset)")
    redis = Redis.from_url(url, socket_connect_timeout=CALL_TIMEOUT, socket_timeout=CALL_TIMEOUT)
    try:
        await redis.ping()
    except (RedisError, OSError) as error:
        return Check("redis", False, f"unreachable: {error}")
    finally:
        await redis.aclose()
    return Check("redis", True, "answers PING")


def print_table(report: HealthReport, console: Console) -> None:
    """The report as a table, and a last line that says it all."""
    table = Table(title="paygrant health")
    table.add_column("check")
    table.add_column("state")
    table.add_column("detail")
    for check in report.checks:
        table.add_row(check.name, "[green]ok[/green]" if check.healthy else "[red]FAILING[/red]", check.detail)
    console.print(table)
    if report.session_cache_fallbacks is not None:  # a figure to watch, not a check: the database answered
        console.print(f"session cache: {report.session_cache_fallbacks} fallback(s) to the database since start")
    console.print("healthy" if report.healthy else "[red]unhealthy[/red]")


def run_health(settings: CliSettings, as_json: bool, stale_after: float) -> int:
    """Prints the report; 0 when healthy, 1 when not."""
    report = asyncio.run(health_report(settings, stale_after))
    if as_json:
        print(report.as_json())
    else:
        print_table(report, Console())
    return 0 if report.healthy else 1
