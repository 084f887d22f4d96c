"""Constraints by name: 0003 names them by the convention; only the expected races become AlreadyRecorded."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from paygrant.db import alembic_config, open_database, utcnow
from payment_service.adapters.orm import SCHEMA
from payment_service.domain.errors import AlreadyRecorded
from payment_service.domain.payment import Payment
from payment_service.service_layer.unit_of_work import UnitOfWork
from tests.conftest import CreateDatabase, NewDatabase
from tests.integration.payment_harness import PaymentHarness

NAMES = "SELECT conname FROM pg_constraint WHERE conrelid = CAST('payments' AS regclass) ORDER BY conname"


async def test_0003_renames_postgresqls_default_names_to_the_convention(create_pg_database: CreateDatabase) -> None:
    async with open_database(await create_pg_database("names"), SCHEMA) as database:
        config = alembic_config(SCHEMA.migrations, database.engine.url.render_as_string(hide_password=False))

        def migrate(connection: Connection, revision: str) -> None:
            config.attributes["connection"] = connection
            step = command.downgrade if revision < "0003" else command.upgrade
            step(config, revision)

        async with database.engine.begin() as conn:
            await conn.run_sync(migrate, "0002")  # the names 0001 got before the convention
            assert (await conn.execute(text(NAMES))).scalars().all() == [
                "payments_pkey",
                "payments_qpay_payment_id_key",
                "payments_session_id_fkey",
            ]
            await conn.run_sync(migrate, "head")
            assert (await conn.execute(text(NAMES))).scalars().all() == [
                "fk_payments_session_id_checkout_sessions",
                "pk_payments",
                "uq_payments_qpay_payment_id",
            ]
            differences = await conn.run_sync(
                lambda sync: list(compare_metadata(MigrationContext.configure(sync), SCHEMA.metadata))
            )
        assert differences == []


def _payment(payment_id: str, session_id: str, qpay_payment_id: str) -> Payment:
    return Payment(
        id=payment_id,
        qpay_payment_id=qpay_payment_id,
        session_id=session_id,
        user_id="u",
        amount=1,
        currency="MNT",
        paid_at=utcnow(),
    )


async def test_a_qpay_payment_recorded_twice_is_already_recorded(harness: PaymentHarness) -> None:
    session_id = await harness.new_checkout()
    async with harness.uow_factory() as uow:
        uow.payments.add(_payment("pay-1", session_id, "qp-1"))
        await uow.commit()

    with pytest.raises(AlreadyRecorded):
        async with harness.uow_factory() as uow:
            uow.payments.add(_payment("pay-2", session_id, "qp-1"))
            await uow.commit()


async def test_a_foreign_key_violation_is_not_mistaken_for_a_duplicate(new_database: NewDatabase) -> None:
    async with open_database(await new_database("payment"), SCHEMA) as database:
        with pytest.raises(IntegrityError) as raised:
            async with UnitOfWork(database.sessions) as uow:
                uow.payments.add(_payment("pay-1", "no-such-session", "qp-1"))
                await uow.commit()
    assert not isinstance(raised.value, AlreadyRecorded)
