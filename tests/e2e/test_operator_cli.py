"""The operator's `paygrant` commands, run as a real process against a real database."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

from paygrant.contract_rules import EventType
from paygrant.db import utcnow
from payment_service.bootstrap import open_units_of_work
from payment_service.domain.events import PaidItem, PaymentEvent
from payment_service.domain.outbox import RetryPolicy
from tests.conftest import CreateDatabase


async def _paygrant(database_url: str, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "paygrant_cli", "--log-level", "WARNING", *args),
        env={**os.environ, "PAYGRANT_PAYMENT_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_db_upgrade_then_outbox_status_and_retry_of_a_dead_row(create_pg_database: CreateDatabase) -> None:
    url = await create_pg_database("cli")
    assert (await _paygrant(url, "db", "upgrade", "--service", "payment"))[0] == 0
    event = PaymentEvent(
        str(uuid.uuid4()), EventType.PAYMENT_COMPLETED, "pay-1", "u1", "MNT", (PaidItem("course", "c", 1),), utcnow()
    )
    async with open_units_of_work(url) as uow_factory:
        async with uow_factory() as uow:
            uow.outbox.add(event, utcnow())
            await uow.commit()
        async with uow_factory() as uow:
            [message] = await uow.outbox.claim_due(utcnow(), 1, utcnow())
            one_attempt = RetryPolicy(max_attempts=1, base_seconds=1, max_seconds=1)
            message.record_failure("UNAVAILABLE: connection refused", False, one_attempt, utcnow())
            await uow.outbox.record_outcomes([message])
            await uow.commit()

    code, output = await _paygrant(url, "outbox", "status")
    assert code == 1, "dead rows make the status command fail, so cron and CI notice"
    assert "pending: 0  sent: 0  dead: 1" in output and event.event_id in output and "connection refused" in output

    code, output = await _paygrant(url, "outbox", "retry")
    assert (code, output.strip()) == (0, "1 dead outbox row(s) queued for delivery again")
    code, output = await _paygrant(url, "outbox", "status")
    assert (code, output.strip()) == (0, "pending: 1  sent: 0  dead: 0")
