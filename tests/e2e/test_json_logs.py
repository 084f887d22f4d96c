"""PAYGRANT_LOG_FORMAT=json: a service process writes one JSON object per log line, for a log collector."""

from __future__ import annotations

import json
import os
from pathlib import Path

from paygrant_cli.children import start_child, stop_child
from tests.conftest import NewDatabase
from tests.e2e.stack import run_paygrant


async def test_a_service_logs_one_json_object_a_line(new_database: NewDatabase, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PAYGRANT_LOG_FORMAT": "json",
        "PAYGRANT_ENTITLEMENT_DATABASE_URL": await new_database("entitlement"),
        "PAYGRANT_ENTITLEMENT_GRPC_PORT": "0",
    }
    log = tmp_path / "entitlement.log"
    with log.open("wb") as stderr:
        child, _ = await start_child("entitlement", env, stderr=stderr)
        assert await stop_child(child) == 0

    lines = [line for line in log.read_text().splitlines() if line]
    entries = [json.loads(line) for line in lines]  # every line is one object
    assert entries and all({"time", "level", "logger", "process", "message"} <= entry.keys() for entry in entries)
    assert any(
        entry["level"] == "WARNING" and entry["message"].startswith("protected mode") for entry in entries
    ), lines


async def test_an_unknown_log_format_is_refused_in_one_line() -> None:
    code, stderr = await run_paygrant("demo", PAYGRANT_LOG_FORMAT="xml")

    assert code == 2
    assert stderr.strip().splitlines() == [stderr.strip()] and "PAYGRANT_LOG_FORMAT must be text or json" in stderr
