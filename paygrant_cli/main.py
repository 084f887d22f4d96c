"""The `paygrant` command: run the services, the relay, the QPay simulator, migrations, the demo."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from paygrant.runtime import configure_logging, run_until_signalled
from entitlement_service.settings import EntitlementSettings
from paygrant.qpay_sim.settings import SimulatorSettings
from payment_service.settings import PaymentSettings


async def _payment() -> None:
    from payment_service.bootstrap import PaymentApp

    await run_until_signalled(PaymentApp(PaymentSettings()))


async def _relay() -> None:
    from payment_service.bootstrap import PaymentApp

    await run_until_signalled(PaymentApp(PaymentSettings(), serve=False, relay=True))


async def _entitlement() -> None:
    from entitlement_service.bootstrap import EntitlementApp

    await run_until_signalled(EntitlementApp(EntitlementSettings()))


async def _qpay_sim() -> None:
    from paygrant.qpay_sim.app import SimulatorProcess
    from paygrant.qpay_sim.config import SimulatorConfig

    settings = SimulatorSettings()
    config = SimulatorConfig(
        client_id=settings.qpay_client_id,
        client_secret=settings.qpay_client_secret.get_secret_value(),
        invoice_code=settings.qpay_invoice_code,
    )
    await run_until_signalled(SimulatorProcess(settings.qpay_sim_host, settings.qpay_sim_port, config))


async def _db_upgrade(service: str) -> None:
    if service in ("payment", "all"):
        from payment_service.bootstrap import migrate as migrate_payment

        await migrate_payment(PaymentSettings().payment_database_url)
        print("payment database is at the newest schema")
    if service in ("entitlement", "all"):
        from entitlement_service.bootstrap import open_database

        await (await open_database(EntitlementSettings().entitlement_database_url)).dispose()
        print("entitlement database is at the newest schema")


async def _outbox(action: str, event_ids: list[str]) -> int:
    from payment_service.bootstrap import open_unit_of_work_factory
    from payment_service.service_layer.outbox_admin import outbox_report, retry_dead

    async with open_unit_of_work_factory(PaymentSettings().payment_database_url) as uow_factory:
        if action == "retry":
            revived = await retry_dead(uow_factory, event_ids or None)
            print(f"{revived} dead outbox row(s) queued for delivery again")
            return 0
        report = await outbox_report(uow_factory)
    print("  ".join(f"{status.value.lower()}: {count}" for status, count in report.counts.items()))
    for row in report.dead:
        print(
            f"DEAD {row.event_id} {row.event_type} payment {row.payment_id}, {row.attempts} attempts: {row.last_error}"
        )
    return 1 if report.dead else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paygrant", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the simulator and both services (embedded profile by default)")
    commands.add_parser("payment", help="run the payment service (gRPC, QPay callback, relay)")
    commands.add_parser("entitlement", help="run the entitlement service")
    commands.add_parser("relay", help="run only an outbox relay worker")
    commands.add_parser("qpay-sim", help="run the QPay v2 simulator")
    commands.add_parser("demo", help="buy a course on the running stack and watch it become owned")
    outbox = commands.add_parser("outbox", help="the payment service's outbox, for operators")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True)
    outbox_commands.add_parser("status", help="row counts and dead rows (exit code 1 when any row is dead)")
    retry = outbox_commands.add_parser("retry", help="send dead rows back to the relay")
    retry.add_argument("event_ids", nargs="*", metavar="EVENT_ID", help="only these rows (default: every dead row)")
    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply the migrations a database lacks")
    upgrade.add_argument("--service", choices=("payment", "entitlement", "all"), default="all")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `paygrant` console script."""
    args = _parser().parse_args(argv)
    configure_logging(args.log_level)
    if args.command == "up":
        from paygrant_cli.stack import run_stack

        return run_stack()
    if args.command == "demo":
        from paygrant_cli.demo import run_demo

        return asyncio.run(run_demo())
    if args.command == "outbox":
        return asyncio.run(_outbox(args.outbox_command, getattr(args, "event_ids", [])))
    runners = {"payment": _payment, "entitlement": _entitlement, "relay": _relay, "qpay-sim": _qpay_sim}
    if args.command in runners:
        asyncio.run(runners[args.command]())
    else:
        asyncio.run(_db_upgrade(args.service))
    return 0


if __name__ == "__main__":
    sys.exit(main())
