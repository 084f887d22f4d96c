"""The shared gRPC server: health follows the database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from paygrant.db import create_engine, ping
from paygrant.grpc_server import GrpcServer
from paygrant.health_probe import is_serving
from tests.conftest import CreateDatabase
from tests.waiting import eventually


async def test_health_follows_whether_the_database_answers(
    create_pg_database: CreateDatabase, refused_port: int
) -> None:
    unreachable = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{refused_port}/nowhere")
    reachable = create_engine(await create_pg_database("health"))
    database = {"engine": unreachable}
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        services=[],
        register=lambda server: None,
        is_ready=lambda: ping(database["engine"]),
        readiness_interval=0.1,
    )
    target = f"127.0.0.1:{await server.start()}"

    def not_serving() -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return not await is_serving(target)

        return check

    try:
        for _ in range(5):
            assert not await is_serving(target), "no database yet: not SERVING"
        database["engine"] = reachable
        await eventually(lambda: is_serving(target), within=5, what="SERVING once the database answers")
        database["engine"] = unreachable
        await eventually(not_serving(), within=5, what="NOT_SERVING once it stops answering")
    finally:
        await server.stop()
        await unreachable.dispose()
        await reachable.dispose()
