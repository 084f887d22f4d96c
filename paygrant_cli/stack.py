"""`paygrant up`: the simulator and both services as child processes, stopped together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from paygrant.db import is_sqlite
from entitlement_service.settings import EntitlementSettings
from paygrant.qpay_sim.settings import SimulatorSettings
from payment_service.settings import PaymentSettings

# Started in this order: the payment service needs QPay and the entitlement service.
CHILDREN = ("qpay-sim", "entitlement", "payment")


def _wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def run_stack() -> int:
    """Starts every child, prints where each listens, and stops all when one ends or on a signal."""
    sim, ent, pay = SimulatorSettings(), EntitlementSettings(), PaymentSettings()
    listens = {
        "qpay-sim": [
            (sim.qpay_sim_host, sim.qpay_sim_port, f"QPay simulator  http://{sim.qpay_sim_host}:{sim.qpay_sim_port}/v2")
        ],
        "entitlement": [
            (
                ent.entitlement_grpc_host,
                ent.entitlement_grpc_port,
                f"EntitlementService gRPC  {ent.entitlement_grpc_host}:{ent.entitlement_grpc_port}",
            )
        ],
        "payment": [
            (
                pay.payment_grpc_host,
                pay.payment_grpc_port,
                f"PaymentService gRPC  {pay.payment_grpc_host}:{pay.payment_grpc_port}",
            ),
            (
                pay.callback_host,
                pay.callback_port,
                f"QPay callback  http://{pay.callback_host}:{pay.callback_port}/qpay/callback",
            ),
        ],
    }
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for name in CHILDREN:
            children.append(subprocess.Popen([sys.executable, "-m", "paygrant_cli", name], env=os.environ.copy()))
            for host, port, label in listens[name]:
                if not _wait_for_port(host, port, 60):
                    print(f"paygrant up: {name} did not start listening on {host}:{port}", file=sys.stderr)
                    return 1
                print(f"  {label}", flush=True)
        embedded = is_sqlite(pay.payment_database_url) and ent.redis_url is None
        profile = "embedded profile: SQLite in ./var, no Redis" if embedded else "configured by PAYGRANT_* variables"
        print(f"paygrant is up ({profile}). Try `make demo`; Ctrl-C stops.", flush=True)
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        return 0 if stopping else 1
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
