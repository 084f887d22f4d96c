"""Both services and the QPay simulator as real `paygrant` processes, on PostgreSQL and Redis.

Every process binds port 0 and says where it listens (paygrant.runtime.announce); the stack
reads the addresses back. A restarted process gets the port it had, as a real restart would.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from paygrant.db import create_engine
from paygrant.qpay_sim.control_client import SimulatorControl
from paygrant.runtime import port_of
from paygrant_cli.children import start_child, stop_child

# Each announced listener, and the variable that sets its port: 0 at first, then the port it bound.
PORT_VARIABLES = {
    "QPay simulator": "PAYGRANT_QPAY_SIM_PORT",
    "EntitlementService gRPC": "PAYGRANT_ENTITLEMENT_GRPC_PORT",
    "PaymentService gRPC": "PAYGRANT_PAYMENT_GRPC_PORT",
    "QPay callback": "PAYGRANT_CALLBACK_PORT",
}


@dataclass
class Stack:
    """Addresses and child processes of one end-to-end stack."""

    payment_db_url: str
    entitlement_db_url: str
    redis_url: str
    redis_prefix: str
    log_dir: Path
    addresses: dict[str, str] = field(default_factory=dict)
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)

    @property
    def qpay_base_url(self) -> str:
        return self.addresses["QPay simulator"]

    @property
    def payment_target(self) -> str:
        return self.addresses["PaymentService gRPC"]

    @property
    def entitlement_target(self) -> str:
        return self.addresses["EntitlementService gRPC"]

    @property
    def sim(self) -> SimulatorControl:
        return SimulatorControl(self.qpay_base_url)

    def env(self) -> dict[str, str]:
        """The PAYGRANT_* variables every child reads, as an operator would set them."""
        env = {
            **os.environ,
            "PAYGRANT_PAYMENT_DATABASE_URL": self.payment_db_url,
            "PAYGRANT_ENTITLEMENT_DATABASE_URL": self.entitlement_db_url,
            "PAYGRANT_REDIS_URL": self.redis_url,
            "PAYGRANT_REDIS_KEY_PREFIX": self.redis_prefix,
            "PAYGRANT_RELAY_POLL_SECONDS": "0.2",
            "PAYGRANT_RELAY_BACKOFF_BASE_SECONDS": "0.2",
            "PAYGRANT_RELAY_BACKOFF_MAX_SECONDS": "1",
        }
        for label, variable in PORT_VARIABLES.items():
            env[variable] = str(port_of(self.addresses[label])) if label in self.addresses else "0"
        if "QPay simulator" in self.addresses:
            env["PAYGRANT_QPAY_BASE_URL"] = self.qpay_base_url
        if "EntitlementService gRPC" in self.addresses:
            env["PAYGRANT_ENTITLEMENT_TARGET"] = self.entitlement_target
        if "PaymentService gRPC" in self.addresses:
            env["PAYGRANT_PAYMENT_TARGET"] = self.payment_target
        return env

    async def start(self, name: str, **overrides: str) -> None:
        """Starts `paygrant <name>` (environment plus `overrides`) and waits until it says READY."""
        with (self.log_dir / f"{name}.log").open("ab") as log:
            self.processes[name], listening = await start_child(name, {**self.env(), **overrides}, stderr=log)
        self.addresses.update(listening)

    async def stop(self, name: str) -> None:
        """SIGTERM, as an orchestrator would; the process must exit on its own, and cleanly."""
        code = await stop_child(self.processes.pop(name), grace=20)
        assert code == 0, f"{name} exited with {code} after SIGTERM (log: {self.log_dir / name}.log)"

    async def stop_all(self) -> None:
        """Stops every child still running, newest first."""
        for name in list(self.processes)[::-1]:
            await self.stop(name)

    async def count(self, database_url: str, sql: str) -> int:
        """A single number from one of the stack's databases (the tests' independent view)."""
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(text(sql))).scalar_one())
        finally:
            await engine.dispose()


async def run_paygrant(*args: str, **variables: str) -> tuple[int, str]:
    """Runs `paygrant <args>` to its end with PAYGRANT_* `variables` added; returns its exit code and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "paygrant_cli",
        *args,
        env={**os.environ, **variables},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stderr.decode()
