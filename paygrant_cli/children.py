"""`paygrant` commands as child processes: started until they say READY, stopped with SIGTERM.

Each child prints where it listens and then READY (paygrant.runtime.announce), so a parent
reads the addresses the child really bound (port 0 included) instead of probing ports.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import IO

from paygrant.runtime import READY, parse_listening

Child = asyncio.subprocess.Process


class ChildFailed(RuntimeError):
    """A child exited, or did not become ready in time."""


async def start_child(
    command: str,
    env: Mapping[str, str],
    stderr: IO[bytes] | None = None,
    log_level: str = "INFO",
    within: float = 60.0,
    extra_args: Sequence[str] = (),
) -> tuple[Child, dict[str, str]]:
    """Starts `paygrant <command> [extra_args]`; returns it once READY, with its listeners (label -> address)."""
    child = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "paygrant_cli", "--log-level", log_level, command, *extra_args),
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
    )
    assert child.stdout is not None
    listening: dict[str, str] = {}
    try:
        async with asyncio.timeout(within):
            while line := (await child.stdout.readline()).decode():
                if line.strip() == READY:
                    return child, listening
                if (listener := parse_listening(line)) is not None:
                    listening[listener[0]] = listener[1]
    except TimeoutError:
        child.kill()
        await child.wait()
        raise ChildFailed(f"paygrant {command} was not ready within {within:.0f}s") from None
    await child.wait()
    raise ChildFailed(f"paygrant {command} exited with {child.returncode} before it was ready")


async def stop_child(child: Child, grace: float = 15.0) -> int:
    """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code (negative: killed by a signal)."""
    if child.returncode is None:
        child.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(child.wait(), grace)
        except TimeoutError:
            child.kill()
            await child.wait()
    assert child.returncode is not None
    return child.returncode
