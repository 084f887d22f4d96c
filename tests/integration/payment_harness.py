"""The payment service's use cases over a real database and the in-process QPay simulator."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from paygrant.db import Database, open_database
from paygrant.qpay_sim.app import RunningSimulator, start_simulator
from paygrant.qpay_sim.control_client import SimulatorControl
from payment_service.adapters.orm import SCHEMA, metadata
from payment_service.adapters.qpay.client import QPayClient
from payment_service.adapters.qpay.provider import QPayProvider
from payment_service.domain.callback import CallbackQuery
from payment_service.domain.catalog import ItemRef
from payment_service.service_layer.catalog import PutProduct, put_product
from payment_service.service_layer.checkout import CheckoutConfig, Checkouts, CreateCheckout
from payment_service.service_layer.checkout_cancellation import CheckoutCancellation
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from payment_service.service_layer.payment_refunds import PaymentRefunds
from payment_service.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory

COURSE = ItemRef("course", "algebra-1")
CHECK_INTERVAL = dt.timedelta(minutes=1)


class NobodyOwnsAnything:
    """The entitlement service's answer for a fresh user (the real one is tested elsewhere)."""

    async def owned_items(self, user_id: str, items: Sequence[ItemRef]) -> set[ItemRef]:
        return set()


@dataclass
class PaymentHarness:
    """Everything a payment-service integration test touches."""

    database: Database
    uow_factory: UnitOfWorkFactory
    provider: QPayProvider
    simulator: RunningSimulator
    checkouts: Checkouts
    confirmation: PaymentConfirmation
    cancellation: CheckoutCancellation
    refunds: PaymentRefunds

    @property
    def sim(self) -> SimulatorControl:
        return SimulatorControl(self.simulator.base_url)

    async def count(self, table: str) -> int:
        async with self.database.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(metadata.tables[table]))).scalar_one())

    async def new_checkout(self, key: str = "key-1", user: str = "user-1") -> str:
        session = await self.checkouts.create(CreateCheckout(key, user, (COURSE,)))
        return session.id

    async def invoice_id(self, session_id: str) -> str:
        """QPay's invoice of the session."""
        async with self.uow_factory() as uow:
            session = await uow.checkouts.get(session_id)
        assert session is not None and session.invoice is not None
        return session.invoice.invoice_id

    async def pay_silently(
        self,
        session_id: str,
        amount: str | None = None,
        *,
        even_if_cancelled: bool = False,
        payment_type: str | None = None,
    ) -> str:
        """Pays the session's invoice at the simulator (all of it unless `amount`, in MNT; by bank transfer
        unless `payment_type` says CARD) with callbacks dropped, so the test decides when to confirm;
        returns QPay's payment id."""
        await self.sim.set_faults(callback="drop")
        invoice_id = await self.invoice_id(session_id)
        paid = await self.sim.pay(
            invoice_id,
            Decimal(amount) if amount else None,
            payment_type=payment_type,
            even_if_cancelled=even_if_cancelled,
        )
        return str(paid["payment_id"])

    async def callback(self, session_id: str, qpay_payment_id: str, secret: str | None = None) -> CallbackQuery:
        """The callback QPay sends for the session, with its secret as checkout gave it (unless `secret` forges one)."""
        record = await self.sim.invoice(await self.invoice_id(session_id))
        [given] = parse_qs(urlsplit(str(record["invoice"]["callback_url"])).query)["secret"]
        return CallbackQuery(session_id, secret if secret is not None else given, qpay_payment_id)


@contextlib.asynccontextmanager
async def open_harness(url: str) -> AsyncIterator[PaymentHarness]:
    """Opens the database at `url`, starts the simulator and a QPay client, and tears all down after."""
    simulator = await start_simulator()
    try:
        async with (
            open_database(url, SCHEMA) as database,
            QPayClient(simulator.base_url, "TEST_MERCHANT", "123456") as qpay,
        ):

            def uow_factory() -> UnitOfWork:
                return UnitOfWork(database.sessions)

            provider = QPayProvider(qpay, "TEST_INVOICE")
            config = CheckoutConfig("http://127.0.0.1:9/unused", dt.timedelta(minutes=15))
            await put_product(PutProduct(COURSE, "Algebra I", 1_500_000, "MNT", True), uow_factory)
            confirmation = PaymentConfirmation(uow_factory, provider, CHECK_INTERVAL)
            yield PaymentHarness(
                database=database,
                uow_factory=uow_factory,
                provider=provider,
                simulator=simulator,
                checkouts=Checkouts(uow_factory, provider, NobodyOwnsAnything(), config),
                confirmation=confirmation,
                cancellation=CheckoutCancellation(uow_factory, provider, confirmation),
                refunds=PaymentRefunds(uow_factory, provider),
            )
    finally:
        await simulator.stop()
