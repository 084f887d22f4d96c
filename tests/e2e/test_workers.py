"""`--workers N`: N processes serve one port together; a taken port is still refused; they stop together."""

from __future__ import annotations

import os
from pathlib import Path

import grpc

from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.payment.v1 import payment_pb2
from paygrant.payment.v1.payment_pb2_grpc import PaymentServiceStub
from paygrant.runtime import port_of
from paygrant_cli.children import start_child, stop_child
from tests.e2e.stack import run_paygrant


def _children(pid: int) -> set[int]:
    """The live child processes of `pid` (Linux /proc)."""
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _listening_inodes(pid: int) -> set[str]:
    """The socket inodes of `pid`'s open descriptors."""
    inodes = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(descriptor)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _listeners_on(port: int) -> set[str]:
    """Inodes of the sockets listening on 127.0.0.1:`port` (grpc binds it v4-mapped in IPv6, hence tcp6 too)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].partition(":")
            if address.endswith("0100007F") and int(hex_port, 16) == port and fields[3] == "0A":
                found.add(fields[9])
    return found


async def test_two_workers_serve_one_port_and_stop_together(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PAYGRANT_ENTITLEMENT_GRPC_PORT": "0",
        "PAYGRANT_ENTITLEMENT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'entitlement.db'}",
    }
    group, listening = await start_child("entitlement", env, extra_args=("--workers", "2"))
    try:
        target = listening["EntitlementService gRPC"]
        port = int(target.rpartition(":")[2])
        workers = _children(group.pid)
        assert len(workers) == 2
        listeners = _listeners_on(port)
        assert len(listeners) == 2, "each worker holds its own listening socket on the one port"
        assert all(_listening_inodes(worker) & listeners for worker in workers)
        async with grpc.aio.insecure_channel(target) as channel:
            answer = await EntitlementServiceStub(channel).CheckOwnership(
                pb.CheckOwnershipRequest(user_id="u1", item=ItemRef(kind="course", id="c1"))
            )
        assert not answer.owned
    finally:
        assert await stop_child(group) == 0
    assert not any(map(_alive, workers)), "no worker outlives the group"


async def test_workers_refuse_a_taken_port(tmp_path: Path, taken_port: int) -> None:
    code, stderr = await run_paygrant("entitlement", "--workers", "2", PAYGRANT_ENTITLEMENT_GRPC_PORT=str(taken_port))
    assert code == 2
    assert stderr.strip().splitlines()[-1] == (
        f"paygrant entitlement: cannot listen on 127.0.0.1:{taken_port}: the port is taken or the address is not local"
    )


async def test_payment_workers_share_the_grpc_and_the_callback_ports(tmp_path: Path, refused_port: int) -> None:
    env = {
        **os.environ,
        "PAYGRANT_PAYMENT_GRPC_PORT": "0",
        "PAYGRANT_CALLBACK_PORT": "0",
        "PAYGRANT_PAYMENT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'payment.db'}",
        "PAYGRANT_ENTITLEMENT_TARGET": f"127.0.0.1:{refused_port}",
        "PAYGRANT_QPAY_BASE_URL": f"http://127.0.0.1:{refused_port}/v2",
        "PAYGRANT_SWEEP_ENABLED": "false",
    }
    group, listening = await start_child("payment", env, extra_args=("--workers", "2"))
    try:
        workers = _children(group.pid)
        assert len(workers) == 2
        for label in ("PaymentService gRPC", "QPay callback"):
            listeners = _listeners_on(port_of(listening[label]))
            assert len(listeners) == 2, f"{label}: one listening socket per worker"
            assert all(_listening_inodes(worker) & listeners for worker in workers)
        async with grpc.aio.insecure_channel(listening["PaymentService gRPC"]) as channel:
            products = await PaymentServiceStub(channel).ListProducts(payment_pb2.ListProductsRequest())
        assert list(products.products) == []
    finally:
        assert await stop_child(group) == 0
    assert not any(map(_alive, workers))
