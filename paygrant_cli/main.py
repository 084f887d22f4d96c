"""The `paygrant` command: run the services, the relay, the QPay simulator, migrations, the demo."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from pydantic import ValidationError

from entitlement_service.adapters.orm import SCHEMA as ENTITLEMENT_SCHEMA
from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.db import open_database
from paygrant.errors import CannotServe
from paygrant.qpay_sim.app import SimulatorProcess
from paygrant.qpay_sim.config import SimulatorConfig
from paygrant.qpay_sim.settings import SimulatorSettings
from paygrant.runtime import Component, configure_logging, run_until_signalled
from paygrant.settings import PaygrantSettings
from paygrant_cli.credentials import new_credential, roles_argument
from paygrant_cli.demo import run_demo
from paygrant_cli.health import run_health
from paygrant_cli.outbox import run_outbox_command
from paygrant_cli.reconcile.command import add_arguments as add_reconcile_arguments
from paygrant_cli.reconcile.command import run_reconcile
from paygrant_cli.settings import CliSettings
from paygrant_cli.stack import run_stack
from paygrant_cli.workers import run_workers
from payment_service.adapters.orm import SCHEMA as PAYMENT_SCHEMA
from payment_service.bootstrap import PaymentApp
from payment_service.settings import PaymentSettings


def _simulator() -> SimulatorProcess:
    settings = SimulatorSettings()
    config = SimulatorConfig(
        client_id=settings.qpay_client_id,
        client_secret=settings.qpay_client_secret.get_secret_value(),
        invoice_code=settings.qpay_invoice_code,
    )
    return SimulatorProcess(settings.qpay_sim_host, settings.qpay_sim_port, config)


async def _db_upgrade(service: str) -> None:
    targets = {
        "payment": (PaymentSettings().payment_database_url, PAYMENT_SCHEMA),
        "entitlement": (EntitlementSettings().entitlement_database_url, ENTITLEMENT_SCHEMA),
    }
    for name, (url, schema) in targets.items():
        if service in (name, "all"):
            async with open_database(url, schema):
                print(f"{name} database is at the newest schema")  # opening it migrated it


class _OneLineErrors(argparse.ArgumentParser):
    """Bad arguments end the command with one line on standard error and exit code 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        """Prints `<prog>: <message>` and exits 2."""
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog="paygrant", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineErrors)
    commands.add_parser("up", help="start the simulator and both services (embedded profile by default)")
    workers_help = "server processes sharing the ports (SO_REUSEPORT), to use more than one core"
    payment = commands.add_parser("payment", help="run the payment service (gRPC, QPay callback, relay)")
    payment.add_argument("--workers", type=int, default=1, choices=range(1, 65), metavar="N", help=workers_help)
    entitlement = commands.add_parser("entitlement", help="run the entitlement service")
    entitlement.add_argument("--workers", type=int, default=1, choices=range(1, 65), metavar="N", help=workers_help)
    commands.add_parser("relay", help="run only an outbox relay worker")
    commands.add_parser("qpay-sim", help="run the QPay v2 simulator")
    commands.add_parser("demo", help="buy a course on the running stack and watch it become owned")
    health = commands.add_parser("health", help="both services, the outbox and Redis (exit code 1 when unhealthy)")
    health.add_argument("--json", action="store_true", help="one JSON object (the schema is in paygrant_cli/health.py)")
    health.add_argument(
        "--stale-after", type=float, default=60.0, metavar="SECONDS", help="a pending outbox row older is unhealthy"
    )
    reconcile = commands.add_parser(
        "reconcile", help="prove QPay, payments and purchases agree over a time range; repair with --fix"
    )
    add_reconcile_arguments(reconcile)
    outbox = commands.add_parser("outbox", help="the payment service's outbox, for operators")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True)
    outbox_commands.add_parser("status", help="row counts and dead rows (exit code 1 when any row is dead)")
    retry = outbox_commands.add_parser("retry", help="send dead rows back to the relay")
    retry.add_argument("event_ids", nargs="*", metavar="EVENT_ID", help="only these rows (default: every dead row)")
    credentials = commands.add_parser("credentials", help="bearer tokens for callers")
    credentials_commands = credentials.add_subparsers(dest="credentials_command", required=True)
    new = credentials_commands.add_parser("new", help="make a token; prints it and the entry a service is given")
    roles_help = "comma-separated roles: relay, gateway, reader, operator"
    new.add_argument("roles", type=roles_argument, metavar="ROLES", help=roles_help)
    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply the migrations a database lacks")
    upgrade.add_argument("--service", choices=("payment", "entitlement", "all"), default="all")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `paygrant` console script."""
    args = _parser().parse_args(argv)
    try:
        log_format = PaygrantSettings().log_format
    except ValidationError as error:
        print(f"paygrant: PAYGRANT_LOG_FORMAT must be text or json: {error.errors()[0]['msg']}", file=sys.stderr)
        return 2
    configure_logging(args.log_level, log_format)
    try:
        return _run(args)
    except CannotServe as error:  # e.g. a certificate file that cannot be read
        print(f"paygrant {args.command}: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    match args.command:
        case "up":
            return asyncio.run(run_stack())
        case "demo":
            return asyncio.run(run_demo(_cli_settings()))
        case "health":
            return run_health(_cli_settings(), args.json, args.stale_after)
        case "reconcile":
            return run_reconcile(_cli_settings(), args)
        case "credentials":
            print(new_credential(args.roles))
        case "outbox":
            url = PaymentSettings().payment_database_url
            return asyncio.run(run_outbox_command(url, args.outbox_command, getattr(args, "event_ids", [])))
        case "db":
            asyncio.run(_db_upgrade(args.service))
        case "payment" | "relay" | "entitlement" | "qpay-sim":
            if getattr(args, "workers", 1) > 1:
                return asyncio.run(run_workers(args.command, args.workers, os.environ, args.log_level))
            asyncio.run(run_until_signalled(_server(args.command)))
    return 0


def _cli_settings() -> CliSettings:
    """The client commands' settings; a malformed PAYGRANT_* variable ends the command in one line, exit code 2."""
    try:
        return CliSettings()
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        print(f"paygrant: PAYGRANT_{where.upper()}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def _server(command: str) -> Component:
    match command:
        case "payment":
            return PaymentApp(PaymentSettings())
        case "relay":
            return PaymentApp(PaymentSettings(), serve=False, relay=True)
        case "entitlement":
            return EntitlementApp(EntitlementSettings())
    return _simulator()


if __name__ == "__main__":
    sys.exit(main())
