"""The entitlement service on port 0 with Redis, as the grants and history tests call it over a real channel."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from tests.waiting import wait_for_event


@contextlib.asynccontextmanager
async def serving(database_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[Any]:
    """A stub of a running EntitlementApp over the database and Redis given, once it keeps answers in memory."""
    settings = EntitlementSettings(
        entitlement_database_url=database_url,
        entitlement_grpc_port=0,
        redis_url=redis_url,
        redis_key_prefix=redis_prefix,
    )
    app = EntitlementApp(settings)
    await app.start()
    try:
        assert app.invalidations is not None
        await wait_for_event(app.invalidations.subscribed, what="the app's invalidation subscription")  # memory live
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            yield EntitlementServiceStub(channel)
    finally:
        await app.stop()


async def refusal(call: Any) -> tuple[grpc.StatusCode, str]:
    """The code of a failed call and the field its BadRequest names ("" when it has none)."""
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    status = rpc_status.from_call(failed.value)
    for detail in status.details if status else []:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            field = bad_request.field_violations[0].field
            assert (failed.value.details() or "").startswith(field)
            return failed.value.code(), field
    return failed.value.code(), ""
