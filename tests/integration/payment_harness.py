"""The payment service's use cases over a real database and the in-process QPay simulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from paygrant.db import create_engine, session_factory, upgrade_to_head
from paygrant.qpay_sim.app import RunningSimulator, start_simulator
from paygrant.qpay_sim.control_client import SimulatorControl
from payment_service.adapters import orm
from payment_service.adapters.qpay.client import QPayClient
from payment_service.bootstrap import MIGRATIONS
from payment_service.domain.catalog import ItemRef
from payment_service.service_layer.catalog import PutProduct, put_product
from payment_service.service_layer.checkout import CheckoutConfig, Checkouts, CreateCheckout
from payment_service.service_layer.payment_confirmation import PaymentConfirmation
from payment_service.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.conftest import CreateDatabase

COURSE = ItemRef("course", "algebra-1")
CHECK_INTERVAL = dt.timedelta(minutes=1)


class NobodyOwnsAnything:
    """The entitlement service's answer for a fresh user (the real one is tested elsewhere)."""

    async def owned_items(self, user_id: str, items: Sequence[ItemRef]) -> set[ItemRef]:
        return set()


@dataclass
class PaymentHarness:
    """Everything a payment-service integration test touches."""

    engine: AsyncEngine
    uow_factory: UnitOfWorkFactory
    qpay: QPayClient
    simulator: RunningSimulator
    checkouts: Checkouts
    confirmation: PaymentConfirmation

    @property
    def sim(self) -> SimulatorControl:
        return SimulatorControl(self.simulator.base_url)

    async def count(self, table: str) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(orm.metadata.tables[table]))).scalar_one())

    async def new_checkout(self, key: str = "key-1", user: str = "user-1") -> str:
        session = await self.checkouts.create(CreateCheckout(key, user, (COURSE,)))
        return session.id


async def make_database_url(request: pytest.FixtureRequest, create_pg_database: CreateDatabase, tmp_path: Path) -> str:
    """A fresh database of the kind the test is parametrized with."""
    if request.param == "postgresql":
        return await create_pg_database("payment")
    return f"sqlite+aiosqlite:///{tmp_path}/payment.db"


async def open_harness(url: str) -> AsyncIterator[PaymentHarness]:
    """Migrates `url`, starts the simulator and a QPay client, and tears all down after."""
    orm.start_mappers()
    engine = create_engine(url)
    await upgrade_to_head(engine, Path(MIGRATIONS))
    simulator = await start_simulator()
    qpay = QPayClient(simulator.base_url, "TEST_MERCHANT", "123456")
    await qpay.start()
    sessions = session_factory(engine)

    def uow_factory() -> UnitOfWork:
        return UnitOfWork(sessions)

    config = CheckoutConfig("TEST_INVOICE", "http://127.0.0.1:9/unused", dt.timedelta(minutes=15))
    await put_product(PutProduct(COURSE, "Algebra I", 1_500_000, "MNT", True), uow_factory)
    harness = PaymentHarness(
        engine=engine,
        uow_factory=uow_factory,
        qpay=qpay,
        simulator=simulator,
        checkouts=Checkouts(uow_factory, qpay, NobodyOwnsAnything(), config),
        confirmation=PaymentConfirmation(uow_factory, qpay, CHECK_INTERVAL),
    )
    try:
        yield harness
    finally:
        await qpay.close()
        await simulator.stop()
        await engine.dispose()
