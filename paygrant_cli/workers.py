"""`paygrant payment|entitlement --workers N`: N server processes sharing the service's ports.

A Python gRPC server uses about one core; N processes pass that wall. Each worker is a plain
`paygrant <service>` child that binds with SO_REUSEPORT (on purpose, and only here), so the kernel
spreads connections over them. The ports are checked free first, so a group of workers refuses a
taken port just as a single server does. The first worker binds (port 0 included) and the others
join the ports it announced. The group announces the first worker's addresses, then READY; when
one worker ends, the others are stopped too (an orchestrator restarts the group).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Mapping

from entitlement_service.settings import EntitlementSettings
from paygrant.errors import CannotServe
from paygrant.runtime import announce_listening, port_of, stop_requested
from paygrant_cli.children import Child, ChildFailed, start_child, stop_child
from payment_service.settings import PaymentSettings

# The listeners of each service, and the variable that sets each one's port.
PORT_VARIABLES = {
    "payment": {"PaymentService gRPC": "PAYGRANT_PAYMENT_GRPC_PORT", "QPay callback": "PAYGRANT_CALLBACK_PORT"},
    "entitlement": {"EntitlementService gRPC": "PAYGRANT_ENTITLEMENT_GRPC_PORT"},
}


def configured_addresses(command: str) -> list[tuple[str, int]]:
    """The (host, port) pairs the service is configured to listen on."""
    if command == "payment":
        payment = PaymentSettings()
        return [(payment.payment_grpc_host, payment.payment_grpc_port), (payment.callback_host, payment.callback_port)]
    entitlement = EntitlementSettings()
    return [(entitlement.entitlement_grpc_host, entitlement.entitlement_grpc_port)]


def ensure_free(host: str, port: int) -> None:
    """Raises CannotServe when another process holds the port (port 0 is always free)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))  # without SO_REUSEPORT: fails while anyone holds the port
        except OSError:
            raise CannotServe.port_taken(f"{host}:{port}") from None


async def run_workers(command: str, count: int, env: Mapping[str, str], log_level: str) -> int:
    """Runs `count` workers of `command` until a signal (0) or until one of them ends (1)."""
    stopping = stop_requested()
    for host, port in configured_addresses(command):
        ensure_free(host, port)
    shared = {**env, "PAYGRANT_SHARED_PORTS": "true"}
    workers: list[Child] = []
    try:
        first, listening = await start_child(command, shared, log_level=log_level)
        workers.append(first)
        for label, variable in PORT_VARIABLES[command].items():
            if label in listening:
                shared[variable] = str(port_of(listening[label]))
        for _ in range(count - 1):
            workers.append((await start_child(command, shared, log_level=log_level))[0])
        announce_listening(listening)
        ended = [asyncio.ensure_future(worker.wait()) for worker in workers]
        await asyncio.wait([*ended, asyncio.ensure_future(stopping.wait())], return_when="FIRST_COMPLETED")
        return 0 if stopping.is_set() else 1
    except ChildFailed as error:
        print(f"paygrant {command} --workers {count}: {error}", file=sys.stderr)
        return 1
    finally:
        for worker in reversed(workers):
            await stop_child(worker)
