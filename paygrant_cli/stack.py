"""`paygrant up`: the simulator and both services as child processes, stopped together."""

from __future__ import annotations

import asyncio
import os
import sys

from entitlement_service.settings import EntitlementSettings
from paygrant.db import is_sqlite
from paygrant.runtime import stop_requested
from paygrant_cli.children import Child, ChildFailed, start_child, stop_child
from payment_service.settings import PaymentSettings

# Started in this order: the payment service needs QPay and the entitlement service.
CHILDREN = ("qpay-sim", "entitlement", "payment")


async def run_stack() -> int:
    """Starts every child, prints where each listens, and stops all when one ends or on a signal."""
    stopping = stop_requested()
    children: list[Child] = []
    try:
        for name in CHILDREN:
            child, listening = await start_child(name, os.environ)
            children.append(child)
            for label, address in listening.items():
                print(f"  {label}  {address}", flush=True)
        embedded = is_sqlite(PaymentSettings().payment_database_url) and EntitlementSettings().redis_url is None
        profile = "embedded profile: SQLite in ./var, no Redis" if embedded else "configured by PAYGRANT_* variables"
        print(f"paygrant is up ({profile}). Try `make demo`; Ctrl-C stops.", flush=True)
        ended = [asyncio.ensure_future(child.wait()) for child in children]
        await asyncio.wait([*ended, asyncio.ensure_future(stopping.wait())], return_when="FIRST_COMPLETED")
        return 0 if stopping.is_set() else 1
    except ChildFailed as error:
        print(f"paygrant up: {error}", file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            await stop_child(child)
