"""Reading what is recorded: a checkout by id, a payment with the session it paid, payments by QPay's ids."""

from __future__ import annotations

from collections.abc import Sequence

from payment_service.domain.checkout import CheckoutSession
from payment_service.domain.errors import NotFound
from payment_service.domain.payment import Payment
from payment_service.domain.validation import require_id, require_ids
from payment_service.service_layer.unit_of_work import AbstractUnitOfWork, UnitOfWorkFactory


async def load_checkout(uow_factory: UnitOfWorkFactory, session_id: str) -> CheckoutSession:
    """The session with this id; InvalidRequest or NotFound naming `session_id` otherwise."""
    require_id(session_id, "session_id")
    async with uow_factory() as uow:
        session = await uow.checkouts.get(session_id)
    if session is None:
        raise NotFound(f"checkout {session_id} does not exist", "session_id")
    return session


async def get_payment(payment_id: str, uow_factory: UnitOfWorkFactory) -> tuple[Payment, CheckoutSession]:
    """A recorded payment with the session it paid (for its lines)."""
    async with uow_factory() as uow:
        return await load_payment(uow, payment_id)


async def load_payment(uow: AbstractUnitOfWork, payment_id: str) -> tuple[Payment, CheckoutSession]:
    """A recorded payment and its session, read in `uow`; InvalidRequest or NotFound naming `payment_id`."""
    require_id(payment_id, "payment_id")
    payment = await uow.payments.get(payment_id)
    session = await uow.checkouts.get(payment.session_id) if payment is not None else None
    if payment is None or session is None:
        raise NotFound(f"payment {payment_id} does not exist", "payment_id")
    return payment, session


MAX_QPAY_IDS = 1_000


async def payments_by_qpay_ids(qpay_payment_ids: Sequence[str], uow_factory: UnitOfWorkFactory) -> list[Payment]:
    """The payments recorded for 1 to MAX_QPAY_IDS QPay payment ids (those recorded nowhere are left out)."""
    ids = require_ids(qpay_payment_ids, "qpay_payment_ids", 1, MAX_QPAY_IDS)
    async with uow_factory() as uow:
        return await uow.payments.by_qpay_ids(ids)
