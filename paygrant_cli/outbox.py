"""`paygrant outbox status | retry`: how the payment service's outbox stands, and dead rows sent again."""

from __future__ import annotations

from collections.abc import Sequence

from payment_service.bootstrap import open_units_of_work
from payment_service.service_layer.outbox_admin import outbox_report, retry_dead


async def run_outbox_command(database_url: str, action: str, event_ids: Sequence[str]) -> int:
    """Runs `status` (exit code 1 while any row is dead) or `retry` against the payment database."""
    async with open_units_of_work(database_url) as uow_factory:
        if action == "retry":
            revived = await retry_dead(uow_factory, list(event_ids) or None)
            print(f"{revived} dead outbox row(s) queued for delivery again")
            return 0
        report = await outbox_report(uow_factory)
    print("  ".join(f"{status.value.lower()}: {count}" for status, count in report.counts.items()))
    for row in report.dead:
        print(
            f"DEAD {row.event_id} {row.event_type} payment {row.payment_id}, {row.attempts} attempts: {row.last_error}"
        )
    return 1 if report.dead else 0
