"""Both services' Prometheus metrics (prometheus-client), and the HTTP endpoint that serves them.

The metrics live in prometheus-client's default registry, which also carries the process's own
(CPU, memory, open files). Each process serves its own on `/metrics` when its settings name a
metrics port; with `--workers N` every worker binds that port (SO_REUSEPORT), so a scrape reads
one worker: scrape each worker on a port of its own to count them all.

RPCs are timed by a wrapper put around each method's handler when it is registered, as the
guards are (paygrant.grpc_guards), not by an interceptor that runs on every call: the status code
is the one the call ended with (OK, or what the handler aborted with).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from paygrant.errors import CannotServe
from paygrant.grpc_guards import Context

# Seconds, from a cached ownership answer (well below a millisecond) to a slow QPay call.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

RPC_SECONDS = Histogram(
    "paygrant_rpc_duration_seconds",
    "gRPC calls served, by method and the status code they ended with",
    ["method", "code"],
    buckets=LATENCY_BUCKETS,
)
OWNERSHIP_ANSWERS = Counter(
    "paygrant_ownership_answers_total",
    "Ownership answers (one per query), by where they came from: memory, redis or database",
    ["source"],
)
OUTBOX_ROWS = Gauge("paygrant_outbox_rows", "Outbox rows by status (PENDING, SENT, DEAD)", ["status"])
OUTBOX_OLDEST_PENDING_SECONDS = Gauge(
    "paygrant_outbox_oldest_pending_age_seconds", "Age of the oldest outbox row not delivered yet (0 when none)"
)
RELAY_DELIVERY_SECONDS = Histogram(
    "paygrant_relay_delivery_seconds",
    "From an outbox row's commit to its delivery recorded by a relay",
    buckets=LATENCY_BUCKETS,
)
SESSION_CACHE_FALLBACKS = Counter(
    "paygrant_session_cache_fallbacks_total",
    "Session cache reads and writes that failed on Redis (the database answered)",
)
QPAY_SECONDS = Histogram(
    "paygrant_qpay_request_duration_seconds",
    "Requests to QPay by endpoint and outcome (ok, 4xx, 5xx, unreachable)",
    ["endpoint", "outcome"],
    buckets=LATENCY_BUCKETS,
)


def timed(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """`handler` with its calls observed in RPC_SECONDS under `method` (/package.Service/Method)."""
    answered = RPC_SECONDS.labels(method, "OK")  # looked up once: most calls end OK

    def observe(context: Context, started: float) -> None:
        code = context.code()  # set by an abort; None when the call is answered
        ended = answered if code is None else RPC_SECONDS.labels(method, getattr(code, "name", str(code)))
        ended.observe(time.perf_counter() - started)

    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: Context) -> Any:
            started = time.perf_counter()
            try:
                return await unary(request, context)
            finally:
                observe(context, started)

        return handler._replace(unary_unary=unary_unary)
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            started = time.perf_counter()
            try:
                async for response in stream(request, context):
                    yield response
            finally:
                observe(context, started)

        return handler._replace(unary_stream=unary_stream)
    return handler


class MetricsEndpoint:
    """Serves the registry on http://host:port/metrics; start() binds, stop() closes."""

    def __init__(self, host: str, port: int, *, share_port: bool = False) -> None:
        self._host = host
        self._port = port
        self._share_port = share_port
        self._runner: web.AppRunner | None = None
        self.listening: dict[str, str] = {}

    async def start(self) -> None:
        """Binds the port; CannotServe when it is taken."""
        app = web.Application()
        app.router.add_get("/metrics", _metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port, reuse_port=self._share_port).start()
        except OSError as error:
            await runner.cleanup()
            raise CannotServe.port_taken(f"{self._host}:{self._port}", str(error.strerror).lower()) from None
        self._runner = runner
        self.listening = {"Prometheus metrics": f"http://{self._host}:{runner.addresses[0][1]}/metrics"}

    async def stop(self) -> None:
        """Stops serving; safe to call more than once."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


async def _metrics(_request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
