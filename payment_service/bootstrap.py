"""Wires the payment service: database, QPay, entitlement client, gRPC, callback, relay."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from paygrant.db import create_engine, is_sqlite, ping, session_factory, upgrade_to_head
from paygrant.grpc_server import GrpcServer
from paygrant.payment.v1 import payment_pb2, payment_pb2_grpc
from paygrant.settings import PaymentSettings
from payment_service.adapters import orm
from payment_service.adapters.entitlement_client import EntitlementClient
from payment_service.adapters.outbox_notifications import OutboxNotifications
from payment_service.adapters.qpay.client import QPayClient
from payment_service.domain.outbox import RetryPolicy
from payment_service.entrypoints.callback_http import create_callback_app
from payment_service.entrypoints.grpc_servicer import PaymentServicer
from payment_service.service_layer.checkout import CheckoutConfig, Checkouts
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from payment_service.service_layer.relay import OutboxRelay
from payment_service.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
SERVICE_NAME = payment_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name


async def migrate(database_url: str) -> None:
    """Brings the payment database to the newest schema (`paygrant db upgrade`)."""
    engine = create_engine(database_url)
    try:
        await upgrade_to_head(engine, MIGRATIONS)
    finally:
        await engine.dispose()


class PaymentApp:
    """The whole payment service in one process; start() does all the I/O, stop() undoes it."""

    def __init__(self, settings: PaymentSettings, *, serve: bool = True, relay: bool | None = None) -> None:
        self.settings = settings
        self._serve = serve
        self._run_relay = settings.relay_enabled if relay is None else relay
        self.engine: AsyncEngine | None = None
        self.relay: OutboxRelay | None = None
        self._notifications: OutboxNotifications | None = None
        self._qpay = QPayClient(
            settings.qpay_base_url,
            settings.qpay_client_id,
            settings.qpay_client_secret.get_secret_value(),
            timeout=settings.qpay_timeout_seconds,
        )
        self._entitlements = EntitlementClient(settings.entitlement_target, settings.relay_call_timeout_seconds)
        self._grpc: GrpcServer | None = None
        self._http: web.AppRunner | None = None
        self.grpc_port = 0
        self.callback_port = 0

    def uow_factory(self) -> UnitOfWorkFactory:
        """Units of work over this app's database; their outbox commits wake the relay."""
        assert self.engine is not None
        sessions = session_factory(self.engine)
        return lambda: UnitOfWork(sessions, on_outbox_commit=self._wake_relay)

    def _wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    async def start(self) -> None:
        """Migrates, connects, and starts whatever this process runs; undoes it all if a step fails."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        orm.start_mappers()
        self.engine = create_engine(self.settings.payment_database_url)
        await upgrade_to_head(self.engine, MIGRATIONS)
        await self._entitlements.start()
        uow_factory = self.uow_factory()
        if self._run_relay:
            policy = RetryPolicy(
                self.settings.relay_max_attempts,
                self.settings.relay_backoff_base_seconds,
                self.settings.relay_backoff_max_seconds,
            )
            self.relay = OutboxRelay(uow_factory, self._entitlements.apply, policy, self.settings.relay_poll_seconds)
            await self.relay.start()
            if not is_sqlite(self.settings.payment_database_url):
                self._notifications = OutboxNotifications(self.settings.payment_database_url, self.relay.wake)
                await self._notifications.start()
        if self._serve:
            await self._qpay.start()
            await self._start_servers(uow_factory)

    async def _start_servers(self, uow_factory: UnitOfWorkFactory) -> None:
        s = self.settings
        checkouts = Checkouts(
            uow_factory,
            self._qpay,
            self._entitlements,
            CheckoutConfig(s.qpay_invoice_code, s.callback_public_url, dt.timedelta(seconds=s.checkout_ttl_seconds)),
        )
        confirmation = PaymentConfirmation(
            uow_factory, self._qpay, dt.timedelta(seconds=s.check_payment_interval_seconds)
        )
        servicer = PaymentServicer(uow_factory, checkouts, confirmation)
        engine = self.engine
        assert engine is not None
        self._grpc = GrpcServer(
            host=s.payment_grpc_host,
            port=s.payment_grpc_port,
            service_names=[SERVICE_NAME],
            register=lambda server: payment_pb2_grpc.add_PaymentServiceServicer_to_server(servicer, server),
            is_ready=lambda: ping(engine),
        )
        self.grpc_port = await self._grpc.start()
        self._http = web.AppRunner(create_callback_app(confirmation), access_log=None)
        await self._http.setup()
        site = web.TCPSite(self._http, s.callback_host, s.callback_port)
        await site.start()
        self.callback_port = self._http.addresses[0][1]
        log.info(
            "payment service: gRPC on %s:%d, QPay callback on http://%s:%d/qpay/callback",
            s.payment_grpc_host,
            self.grpc_port,
            s.callback_host,
            self.callback_port,
        )

    async def stop(self) -> None:
        """Stops serving first, then the relay, then closes clients and the database; safe to repeat."""
        grpc_server, http, notifications, relay, engine = (
            self._grpc,
            self._http,
            self._notifications,
            self.relay,
            self.engine,
        )
        self._grpc = self._http = self._notifications = self.relay = self.engine = None
        if grpc_server is not None:
            await grpc_server.stop()
        if http is not None:
            await http.cleanup()
        if notifications is not None:
            await notifications.stop()
        if relay is not None:
            await relay.stop()
        await self._qpay.close()
        await self._entitlements.stop()
        if engine is not None:
            await engine.dispose()
