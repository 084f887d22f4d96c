"""`paygrant health` as an operator or a monitor runs it, against the pair running as processes."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.e2e.stack import Stack


async def health(stack: Stack, *args: str, **variables: str) -> tuple[int, str]:
    """Runs `paygrant health <args>` with the stack's settings and `variables`; its exit code and standard output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "paygrant_cli",
        "health",
        *args,
        env={**stack.env(), "COLUMNS": "160", **variables},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert b"Traceback" not in stderr, stderr.decode()
    assert process.returncode is not None
    return process.returncode, stdout.decode()


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


async def test_a_healthy_pair_answers_0_with_the_outbox_and_redis(stack: Stack) -> None:
    code, out = await health(stack, "--json")

    report = json.loads(out)
    assert code == 0 and report["healthy"] is True, out
    assert set(checks(report)) == {
        "payment service",
        "entitlement service",
        "outbox dead rows",
        "outbox delivery",
        "redis",
    }
    assert checks(report)["payment service"]["detail"] == f"{stack.payment_target}: SERVING"
    assert report["outbox"] == {"pending": 0, "sent": 0, "dead": 0, "oldest_pending_age_seconds": None}
    assert report["session_cache_fallbacks"] == 0
    assert checks(report)["redis"]["detail"] == "answers PING"

    code, table = await health(stack)  # for people: a table
    assert code == 0
    assert "paygrant health" in table and "entitlement service" in table and table.rstrip().endswith("healthy")
    assert "session cache: 0 fallback(s) to the database since start" in table


async def test_an_unreachable_service_or_redis_makes_it_answer_1(stack: Stack, refused_port: int) -> None:
    await stack.stop("entitlement")

    code, out = await health(stack, "--json")

    report = json.loads(out)
    assert code == 1 and report["healthy"] is False
    assert checks(report)["entitlement service"] == {
        "name": "entitlement service",
        "healthy": False,
        "detail": f"{stack.entitlement_target}: UNAVAILABLE",
    }
    assert checks(report)["payment service"]["healthy"] is True

    code, out = await health(stack, "--json", PAYGRANT_REDIS_URL=f"redis://127.0.0.1:{refused_port}/0")
    assert code == 1 and checks(json.loads(out))["redis"]["healthy"] is False
