"""Wires the payment service: database, QPay, entitlement client, gRPC, callback, relay, sweep."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from paygrant.db import Database, is_sqlite, open_database, ping
from paygrant.errors import CannotServe
from paygrant.grpc_server import GrpcServer
from paygrant.metrics import MetricsEndpoint
from paygrant.payment.v1 import payment_pb2, payment_pb2_grpc
from paygrant.runtime import ServiceApp
from paygrant.server_security import ServerSecurity
from payment_service.adapters.entitlement_client import EntitlementClient
from payment_service.adapters.orm import SCHEMA
from payment_service.adapters.outbox_notifications import OutboxNotifications
from payment_service.adapters.qpay.client import QPayClient
from payment_service.adapters.qpay.provider import QPayProvider
from payment_service.adapters.redis_session_cache import RedisSessionCache
from payment_service.domain.callback import CALLBACK_PATH
from payment_service.domain.outbox import RetryPolicy
from payment_service.entrypoints.callback_http import create_callback_app
from payment_service.entrypoints.grpc_servicer import PaymentServicer
from payment_service.service_layer.checkout import CheckoutConfig, Checkouts
from payment_service.service_layer.checkout_cancellation import CheckoutCancellation
from payment_service.service_layer.outbox_metrics import OutboxGauges
from payment_service.service_layer.outbox_retention import OutboxRetention
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from payment_service.service_layer.payment_refunds import PaymentRefunds
from payment_service.service_layer.payment_sweep import PaymentSweep, SweepWindow
from payment_service.service_layer.relay import OutboxRelay
from payment_service.service_layer.session_cache import NO_SESSION_CACHE, SessionCache
from payment_service.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory
from payment_service.settings import PaymentSettings

log = logging.getLogger(__name__)

SERVICE = payment_pb2.DESCRIPTOR.services_by_name["PaymentService"]
SERVICE_NAME = SERVICE.full_name


@contextlib.asynccontextmanager
async def open_units_of_work(database_url: str) -> AsyncIterator[UnitOfWorkFactory]:
    """Units of work over the payment database, migrated to the newest schema first (CLI, tools)."""
    async with open_database(database_url, SCHEMA) as database:
        yield lambda: UnitOfWork(database.sessions)


class PaymentApp(ServiceApp):
    """The whole payment service in one process: serving stops before the relay and the database."""

    def __init__(self, settings: PaymentSettings, *, serve: bool = True, relay: bool | None = None) -> None:
        super().__init__()
        self.settings = settings
        self._serve = serve
        self._run_relay = settings.relay_enabled if relay is None else relay
        self.relay: OutboxRelay | None = None
        # GetCheckout's cache; a RedisSessionCache (whose `fallbacks` count its failures) when Redis is set.
        self.session_cache: SessionCache = NO_SESSION_CACHE
        self.outbox_gauges: OutboxGauges | None = None  # with a metrics port

    async def stop(self) -> None:
        """Stops everything that was started, newest first; safe to call more than once."""
        await super().stop()
        self.relay = None
        self.outbox_gauges = None

    async def _start(self) -> None:
        s = self.settings
        security = s.server_security() if self._serve else None  # a misconfiguration stops the start at once
        database = await self._started.enter_async_context(open_database(s.payment_database_url, SCHEMA))
        entitlements = EntitlementClient(s.entitlement_target, s.relay_call_timeout_seconds, s.entitlement_channel())
        await self._component(entitlements)

        def uow_factory() -> UnitOfWork:
            return UnitOfWork(database.sessions, on_outbox_commit=self._wake_relay)

        if s.payment_metrics_port is not None:
            metrics = MetricsEndpoint(s.payment_metrics_host, s.payment_metrics_port, share_port=s.shared_ports)
            await self._component(metrics)
            self.listening.update(metrics.listening)
            self.outbox_gauges = OutboxGauges(uow_factory)
            await self._component(self.outbox_gauges)

        if self._run_relay:
            policy = RetryPolicy(s.relay_max_attempts, s.relay_backoff_base_seconds, s.relay_backoff_max_seconds)
            self.relay = OutboxRelay(
                # Claims and outcomes are single statements, and a crash that loses one only has rows delivered again.
                lambda: UnitOfWork(database.async_commit_sessions),
                entitlements.apply_events,
                policy,
                s.relay_poll_seconds,
                batch_size=s.relay_batch_size,
                lease=dt.timedelta(seconds=s.relay_lease_seconds),
            )
            await self._component(self.relay)
            retention = dt.timedelta(seconds=s.outbox_retention_seconds)
            await self._component(
                OutboxRetention(uow_factory, retention, s.outbox_prune_batch_size, s.outbox_prune_interval_seconds)
            )
            if not is_sqlite(s.payment_database_url):
                await self._component(OutboxNotifications(s.payment_database_url, self.relay.wake))
        if security is not None:
            await self._start_serving(database, uow_factory, entitlements, security)

    async def _start_serving(
        self,
        database: Database,
        uow_factory: UnitOfWorkFactory,
        entitlements: EntitlementClient,
        security: ServerSecurity,
    ) -> None:
        s = self.settings
        qpay = QPayClient(
            s.qpay_base_url, s.qpay_client_id, s.qpay_client_secret.get_secret_value(), timeout=s.qpay_timeout_seconds
        )
        await qpay.start()
        self._started.push_async_callback(qpay.close)
        provider = QPayProvider(qpay, s.qpay_invoice_code)
        cache = self.session_cache = self._session_cache()
        confirmation = PaymentConfirmation(
            uow_factory, provider, dt.timedelta(seconds=s.check_payment_interval_seconds), cache
        )
        callback_base_url = await self._start_callback_listener(confirmation)
        checkouts = Checkouts(
            uow_factory,
            provider,
            entitlements,
            CheckoutConfig(
                callback_base_url,
                dt.timedelta(seconds=s.checkout_ttl_seconds),
                # The token, the invoice and one retry after a 401, each within the QPay client's timeout.
                invoice_under_way=dt.timedelta(seconds=3 * s.qpay_timeout_seconds),
            ),
            cache,
        )
        cancellation = CheckoutCancellation(uow_factory, provider, confirmation, cache)
        refunds = PaymentRefunds(uow_factory, provider, cache)
        grpc_server = GrpcServer(
            host=s.payment_grpc_host,
            port=s.payment_grpc_port,
            services=[SERVICE],
            register=lambda server: payment_pb2_grpc.add_PaymentServiceServicer_to_server(
                PaymentServicer(uow_factory, checkouts, confirmation, cancellation, refunds, cache), server
            ),
            is_ready=lambda: ping(database.engine),
            security=security,
            share_port=s.shared_ports,
        )
        self.grpc_port = await grpc_server.start()
        self._started.push_async_callback(grpc_server.stop)
        self.listening["PaymentService gRPC"] = f"{s.payment_grpc_host}:{self.grpc_port}"
        if s.sweep_enabled:
            window = SweepWindow(
                lead=dt.timedelta(seconds=s.sweep_lead_seconds),
                grace=dt.timedelta(seconds=s.sweep_grace_seconds),
                recheck=dt.timedelta(seconds=s.sweep_recheck_seconds),
            )
            await self._component(PaymentSweep(uow_factory, confirmation, window, s.sweep_interval_seconds))
        log.info("payment service: %s", ", ".join(f"{label} on {address}" for label, address in self.listening.items()))

    def _session_cache(self) -> SessionCache:
        """Redis when configured (not pinged at start: while Redis is down the database answers)."""
        s = self.settings
        if s.redis_url is None:
            return NO_SESSION_CACHE
        cache = RedisSessionCache.connect(
            s.redis_url, s.redis_key_prefix, s.session_cache_ttl_seconds, s.session_cache_pending_ttl_seconds
        )
        self._started.push_async_callback(cache.aclose)
        return cache

    async def _start_callback_listener(self, confirmation: PaymentConfirmation) -> str:
        """Starts the HTTP listener QPay calls back; returns the base URL to give QPay."""
        s = self.settings
        http = web.AppRunner(create_callback_app(confirmation), access_log=None)
        await http.setup()
        self._started.push_async_callback(http.cleanup)
        try:
            await web.TCPSite(http, s.callback_host, s.callback_port, reuse_port=s.shared_ports).start()
        except OSError as error:
            raise CannotServe.port_taken(f"{s.callback_host}:{s.callback_port}", str(error.strerror).lower()) from None
        bound = f"http://{s.callback_host}:{http.addresses[0][1]}"
        self.listening["QPay callback"] = bound + CALLBACK_PATH
        return s.callback_public_url or bound

    def _wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()
