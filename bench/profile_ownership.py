"""Where a CheckOwnership call spends the server's time: py-spy samples the service under load.

Starts the entitlement service (PostgreSQL, with Redis unless --no-redis), grants the benchmark's
purchases, then keeps 64 unary checks in flight (or batches of 100 with --batch) while
`py-spy record` samples the server process. Prints the functions with the most samples, by their
own time (self) and with what they call (total), as shares of all samples; --flamegraph FILE also
writes py-spy's SVG flame graph.

Run: .venv/bin/python -m bench.profile_ownership [--seconds 10] [--batch] [--no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import grpc

from bench.ownership_check import BATCH_SIZE, REDIS_URL, USERS, grant_everything, item_ref
from bench.support import entitlement_child, fresh_database, postgres_available
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub

TOP = 15
PROJECT = str(Path(__file__).resolve().parents[1])


async def keep_busy(stub: Any, batch: bool, stop: asyncio.Event) -> None:
    """64 unary checks (or 8 batches) in flight until `stop` is set."""
    single = pb.CheckOwnershipRequest(user_id="u1", item=item_ref(1))
    many = pb.BatchCheckOwnershipRequest(
        queries=[pb.OwnershipQuery(user_id=f"u{i % USERS}", item=item_ref(i % USERS)) for i in range(BATCH_SIZE)]
    )

    async def worker() -> None:
        while not stop.is_set():
            if batch:
                await stub.BatchCheckOwnership(many)
            else:
                await stub.CheckOwnership(single)

    await asyncio.gather(*(worker() for _ in range(8 if batch else 64)))


def frame_name(frame: str) -> str:
    """`function (path/to/module.py:line)` -> `function (module.py)`: one row per function, not per line."""
    function, _, where = frame.partition(" (")
    return f"{function} ({Path(where.rsplit(':', 1)[0]).name})"


def top_frames(collapsed: str) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    """(self, total, all samples) from py-spy's collapsed stacks ("frame;frame;frame count" lines).

    Total time is listed for the project's own functions only: the event loop's frames hold everything.
    """
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frame_name(frames[-1])] += count
        for name in {frame_name(frame) for frame in frames if PROJECT in frame and "/.venv/" not in frame}:
            total[name] += count
    return own.most_common(TOP), total.most_common(TOP), samples


async def main(seconds: int, batch: bool, use_redis: bool, flamegraph: Path | None) -> None:
    """Profiles the server under load and prints its top frames."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    async with (
        fresh_database("profile", postgres_available()) as database_url,
        entitlement_child(database_url, REDIS_URL if use_redis else None) as (target, child),
        grpc.aio.insecure_channel(target) as channel,
    ):
        stub = EntitlementServiceStub(channel)
        await grant_everything(stub)
        stop = asyncio.Event()
        load = asyncio.create_task(keep_busy(stub, batch, stop))
        with tempfile.TemporaryDirectory() as folder:
            raw = Path(folder) / "stacks.txt"
            record = [py_spy, "record", "--full-filenames", "--pid", str(child.pid), "--rate", "500"]
            record += ["--duration", str(seconds)]
            profiler = await asyncio.create_subprocess_exec(
                *record, "--format", "raw", "--output", str(raw), stdout=asyncio.subprocess.DEVNULL
            )
            await profiler.wait()
            if flamegraph is not None:
                svg = await asyncio.create_subprocess_exec(
                    *record[:-2], "--duration", "3", "--output", str(flamegraph), stdout=asyncio.subprocess.DEVNULL
                )
                await svg.wait()
            stop.set()
            await load
            if profiler.returncode != 0 or not raw.exists():
                raise SystemExit("py-spy could not sample the server (it needs ptrace permission)")
            own, total, samples = top_frames(raw.read_text())
    what = f"{'BatchCheckOwnership x100' if batch else 'CheckOwnership'}, {'Redis warm' if use_redis else 'no Redis'}"
    print(f"py-spy, {seconds}s of {what}: {samples} samples of the server process")
    for title, rows in (("self", own), ("total", total)):
        print(f"  top frames by {title} time" + (" (the project's own functions)" if title == "total" else ""))
        for name, count in rows:
            print(f"    {count / samples:6.1%}  {name}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--batch", action="store_true")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--flamegraph", type=Path)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.seconds, arguments.batch, not arguments.no_redis, arguments.flamegraph))
