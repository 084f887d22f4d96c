"""The whole pair with credentials configured: every process presents its own token, nothing else gets in."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from paygrant.credentials import hash_token, new_token
from paygrant.entitlement.v1 import entitlement_pb2, entitlement_pb2_grpc
from tests.conftest import NewDatabase
from tests.e2e.conftest import COURSE
from tests.e2e.stack import Stack

RELAY, READER, OPERATOR = new_token(), new_token(), new_token()


@pytest.fixture
async def guarded_stack(
    new_database: NewDatabase, redis_url: str, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    """Both services accept only their configured credentials; the payment service holds the relay token."""
    credentials_file = tmp_path / "entitlement-credentials"
    credentials_file.write_text(f"# the payment service and its relay\nrelay {hash_token(RELAY)}\n")
    stack = Stack(
        payment_db_url=await new_database("payment"),
        entitlement_db_url=await new_database("entitlement"),
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        log_dir=tmp_path,
    )
    try:
        await stack.start("qpay-sim")
        await stack.start(
            "entitlement",
            PAYGRANT_ENTITLEMENT_CREDENTIALS_FILE=str(credentials_file),
            PAYGRANT_ENTITLEMENT_CREDENTIALS=f"reader {hash_token(READER)}",
        )
        await stack.start(
            "payment",
            PAYGRANT_PAYMENT_CREDENTIALS=f"operator,gateway {hash_token(OPERATOR)}",
            PAYGRANT_ENTITLEMENT_TOKEN=RELAY,
        )
        yield stack
    finally:
        await stack.stop_all()


async def test_the_demo_buys_with_tokens_and_the_relay_delivers_with_its_own(guarded_stack: Stack) -> None:
    env = {**guarded_stack.env(), "PAYGRANT_PAYMENT_TOKEN": OPERATOR, "PAYGRANT_ENTITLEMENT_TOKEN": READER}
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "paygrant_cli", "demo", env=env, stdout=PIPE, stderr=STDOUT
    )
    output = (await asyncio.wait_for(demo.communicate(), 60))[0].decode()
    assert demo.returncode == 0, output
    assert output.rstrip().endswith("owns it: True")
    logs = "".join(path.read_text() for path in guarded_stack.log_dir.glob("*.log"))
    assert not any(token in logs for token in (RELAY, READER, OPERATOR)), "a token reached a log"


async def test_without_a_token_the_demo_is_refused(guarded_stack: Stack) -> None:
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "paygrant_cli", "demo", env=guarded_stack.env(), stdout=PIPE, stderr=STDOUT
    )
    output = (await asyncio.wait_for(demo.communicate(), 60))[0].decode()
    assert demo.returncode != 0
    assert "UNAUTHENTICATED" in output


async def test_the_relay_token_cannot_read_what_others_own(guarded_stack: Stack) -> None:
    async with grpc.aio.insecure_channel(guarded_stack.entitlement_target) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        request = entitlement_pb2.ListEntitlementsRequest(user_id="someone")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListEntitlements(request, metadata=(("authorization", f"Bearer {RELAY}"),))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        check = entitlement_pb2.CheckOwnershipRequest(user_id="someone", item=COURSE)
        answer = await stub.CheckOwnership(check, metadata=(("authorization", f"Bearer {READER}"),))
        assert not answer.owned
