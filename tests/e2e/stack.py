"""Both services and the QPay simulator as real `paygrant` processes, on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from sqlalchemy import text

from paygrant.db import create_engine
from paygrant.health_probe import is_serving
from paygrant.qpay_sim.control_client import SimulatorControl
from tests.conftest import free_port


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0, what: str = "condition") -> None:
    """Waits until `check()` is true; fails the test with `what` after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


@dataclass
class Stack:
    """Ports, URLs and child processes of one end-to-end stack."""

    payment_db_url: str
    entitlement_db_url: str
    redis_url: str
    redis_prefix: str
    log_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: {n: free_port() for n in ("sim", "pay", "ent", "cb")})
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)

    @property
    def qpay_base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sim']}/v2"

    @property
    def payment_target(self) -> str:
        return f"127.0.0.1:{self.ports['pay']}"

    @property
    def entitlement_target(self) -> str:
        return f"127.0.0.1:{self.ports['ent']}"

    @property
    def sim(self) -> SimulatorControl:
        return SimulatorControl(self.qpay_base_url)

    def env(self) -> dict[str, str]:
        """The PAYGRANT_* variables every child reads, as an operator would set them."""
        return {
            **os.environ,
            "PAYGRANT_PAYMENT_DATABASE_URL": self.payment_db_url,
            "PAYGRANT_ENTITLEMENT_DATABASE_URL": self.entitlement_db_url,
            "PAYGRANT_REDIS_URL": self.redis_url,
            "PAYGRANT_REDIS_KEY_PREFIX": self.redis_prefix,
            "PAYGRANT_QPAY_SIM_PORT": str(self.ports["sim"]),
            "PAYGRANT_QPAY_BASE_URL": self.qpay_base_url,
            "PAYGRANT_PAYMENT_GRPC_PORT": str(self.ports["pay"]),
            "PAYGRANT_ENTITLEMENT_GRPC_PORT": str(self.ports["ent"]),
            "PAYGRANT_ENTITLEMENT_TARGET": self.entitlement_target,
            "PAYGRANT_CALLBACK_PORT": str(self.ports["cb"]),
            "PAYGRANT_CALLBACK_PUBLIC_URL": f"http://127.0.0.1:{self.ports['cb']}",
            "PAYGRANT_RELAY_POLL_SECONDS": "0.2",
            "PAYGRANT_RELAY_BACKOFF_BASE_SECONDS": "0.2",
            "PAYGRANT_RELAY_BACKOFF_MAX_SECONDS": "1",
        }

    async def start(self, name: str, **overrides: str) -> None:
        """Starts `paygrant <name>` (environment plus `overrides`) and waits until it is ready."""
        with (self.log_dir / f"{name}.log").open("ab") as log:
            self.processes[name] = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "paygrant_cli", name),
                env={**self.env(), **overrides},
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        readiness = {
            "qpay-sim": self._sim_ready,
            "entitlement": lambda: is_serving(self.entitlement_target),
            "payment": lambda: is_serving(self.payment_target),
            "relay": self._still_running(name),
        }[name]
        await eventually(readiness, 60, f"{name} to be ready (log: {self.log_dir / name}.log)")

    def _still_running(self, name: str) -> Callable[[], Awaitable[bool]]:
        # A relay has no port; it is ready once it has run a moment without dying.
        process = self.processes[name]

        async def check() -> bool:
            await asyncio.sleep(0.5)
            assert process.returncode is None, f"{name} exited with {process.returncode}"
            return True

        return check

    async def stop(self, name: str) -> None:
        """SIGTERM, as an orchestrator would; the process must exit on its own."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            raise AssertionError(f"{name} did not stop within 20s of SIGTERM") from None
        assert process.returncode == 0, f"{name} exited with {process.returncode} after SIGTERM"

    async def stop_all(self) -> None:
        """Stops every child still running, newest first."""
        for name in list(self.processes)[::-1]:
            await self.stop(name)

    async def _sim_ready(self) -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(self.qpay_base_url[:-3] + "/_sim/health") as reply:
                return reply.status == 200
        except aiohttp.ClientError:
            return False

    async def count(self, database_url: str, sql: str) -> int:
        """A single number from one of the stack's databases (the tests' independent view)."""
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(text(sql))).scalar_one())
        finally:
            await engine.dispose()
