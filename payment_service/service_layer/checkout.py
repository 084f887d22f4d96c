"""Use cases of checkout: price a cart, store it, open its invoice with the payment provider, read it back."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from paygrant.db import utcnow
from paygrant.request_id import log_extra
from payment_service.domain.callback import callback_url, hash_secret, new_secret
from payment_service.domain.catalog import ItemRef
from payment_service.domain.checkout import CheckoutLine, CheckoutSession, CheckoutStatus, Invoice, InvoiceAttempt
from payment_service.domain.errors import (
    AlreadyRecorded,
    Conflict,
    FailedPrecondition,
    InvalidRequest,
    NotFound,
    PaymentServiceError,
)
from payment_service.domain.validation import require_id
from payment_service.service_layer.payment_provider import PaymentProvider
from payment_service.service_layer.session_cache import NO_SESSION_CACHE, SessionCache
from payment_service.service_layer.session_expiry import current_checkout
from payment_service.service_layer.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

MAX_ITEMS = 50


@dataclass(frozen=True)
class CreateCheckout:
    """A gateway's request to buy `items` for `user_id`.

    `request_id` (paygrant.request_id) is kept by the session it makes, not part of the request's content:
    a retry under another request id is the same request, and answers the session the first one made.
    """

    idempotency_key: str
    user_id: str
    items: tuple[ItemRef, ...]
    request_id: str | None = None

    def validate(self) -> None:
        """Raises InvalidRequest naming the first malformed field."""
        require_id(self.idempotency_key, "idempotency_key")
        require_id(self.user_id, "user_id")
        if not 0 < len(self.items) <= MAX_ITEMS:
            raise InvalidRequest("items", f"must hold 1-{MAX_ITEMS} items")
        for index, item in enumerate(self.items):
            item.validate(f"items[{index}]")
            if item in self.items[:index]:
                raise InvalidRequest(f"items[{index}]", "repeats an earlier item")

    def fingerprint(self) -> str:
        """Identifies the request's content, to tell a retry from a reused key."""
        body = json.dumps([self.user_id, sorted((i.kind, i.id) for i in self.items)])
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class CheckoutConfig:
    """What checkout needs from the settings."""

    callback_base_url: str  # where the provider reaches the callback listener, without the path
    ttl: dt.timedelta
    # The longest a request to the provider for an invoice can take (the QPay client's timeout for the token
    # and the invoice, and one retry after a 401): an attempt unanswered for longer died with its process.
    invoice_under_way: dt.timedelta = dt.timedelta(seconds=30)


class OwnershipLookup(Protocol):
    """Asks the entitlement service which items a user already owns."""

    async def owned_items(self, user_id: str, items: Sequence[ItemRef]) -> set[ItemRef]: ...


class Checkouts:
    """CreateCheckout and GetCheckout."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        provider: PaymentProvider,
        ownership: OwnershipLookup,
        config: CheckoutConfig,
        session_cache: SessionCache = NO_SESSION_CACHE,
    ) -> None:
        self._uow_factory = uow_factory
        self._provider = provider
        self._ownership = ownership
        self._config = config
        self._cache = session_cache
        self._asking: set[asyncio.Task[CheckoutSession]] = set()  # invoice requests under way (_open_invoice)

    async def create(self, command: CreateCheckout) -> CheckoutSession:
        """Same key and request: the same session. Same key, other request: Conflict.

        The session is stored before its invoice is asked for, so an invoice QPay opened but never
        answered about (a timeout) is of a stored session: a payment of it finds the session by its
        callback and its number (payment_confirmation.py), and is granted. Such a failure answers
        UpstreamUnavailable with the session stored without an invoice; a retry with the same key opens
        the next attempt (InvoiceBeingOpened while an earlier one may still be under way).
        """
        command.validate()
        session = await self._by_key(command)
        if session is None:
            session, secret = await self._price(command)
            try:
                await self._store(session)
            except AlreadyRecorded:
                # A concurrent request with this key stored its session first: carry on with that one.
                session = await self._by_key(command)
                if session is None:
                    raise
            else:
                if session.is_free:
                    await self._cache.remember(session)
                    return session
                return await self._open_invoice(session, session.invoice_attempts[0], secret)
        if not session.needs_invoice(utcnow()):
            return session
        secret = new_secret()
        session, attempt = await self._request_invoice(session.id, secret)
        if attempt is None:
            return session
        return await self._open_invoice(session, attempt, secret)

    async def get(self, session_id: str) -> CheckoutSession:
        """The session as recorded; one found unpaid past its expiry is stored EXPIRED first (session_expiry.py).

        Read through the session cache: a cached session still PENDING past its expiry is read from
        the database, which stores the expiry.
        """
        require_id(session_id, "session_id")
        cached = await self._cache.recall(session_id)
        if cached is not None and not (cached.status is CheckoutStatus.PENDING and utcnow() >= cached.expires_at):
            return cached
        session = await current_checkout(self._uow_factory, session_id)
        await self._cache.remember(session)
        return session

    async def _by_key(self, command: CreateCheckout) -> CheckoutSession | None:
        async with self._uow_factory() as uow:
            existing = await uow.checkouts.by_idempotency_key(command.idempotency_key)
        if existing is not None and existing.request_fingerprint != command.fingerprint():
            raise Conflict("was already used for a different checkout request", "idempotency_key")
        return existing

    async def _price(self, command: CreateCheckout) -> tuple[CheckoutSession, str]:
        async with self._uow_factory() as uow:
            products = await uow.catalog.get_many(command.items)
        lines = []
        for index, item in enumerate(command.items):
            product = products.get(item)
            if product is None:
                raise NotFound(f"{item.kind}/{item.id} is not in the catalog", f"items[{index}]")
            if not product.active:
                raise FailedPrecondition(f"{item.kind}/{item.id} is not for sale", f"items[{index}]")
            lines.append(CheckoutLine(item.kind, item.id, product.title, product.amount))
        currencies = {products[item].currency for item in command.items}
        if len(currencies) > 1:
            raise InvalidRequest("items", f"mixes currencies {sorted(currencies)}; check out each separately")
        owned = await self._ownership.owned_items(command.user_id, list(command.items))
        for index, item in enumerate(command.items):
            if item in owned:
                raise FailedPrecondition(f"user already owns {item.kind}/{item.id}", f"items[{index}]")
        now = utcnow()
        secret = new_secret()
        session = CheckoutSession(
            id=str(uuid.uuid4()),
            idempotency_key=command.idempotency_key,
            request_fingerprint=command.fingerprint(),
            user_id=command.user_id,
            currency=currencies.pop(),
            lines=lines,
            callback_secret_hash=hash_secret(secret),
            created_at=now,
            expires_at=now + self._config.ttl,
            request_id=command.request_id,
        )
        if not session.is_free:
            session.request_invoice(session.callback_secret_hash, now, self._config.invoice_under_way)
        return session, secret

    async def _store(self, session: CheckoutSession) -> None:
        """Stores the session with its first invoice attempt; a free one is paid at once, its PaymentCompleted
        in the same transaction."""
        async with self._uow_factory() as uow:
            uow.checkouts.add(session)
            if session.is_free:
                uow.payments.add(session.record_payment(None, 0, session.created_at))
            await uow.commit()
        log.info(
            "checkout %s stored for user %s: %d item(s), %d %s",
            session.id,
            session.user_id,
            len(session.lines),
            session.amount,
            session.currency,
            extra=log_extra(session.request_id),
        )

    async def _request_invoice(self, session_id: str, secret: str) -> tuple[CheckoutSession, InvoiceAttempt | None]:
        """Records the session's next invoice attempt, under its row lock so concurrent retries take turns.

        No attempt when the session no longer needs an invoice (another request stored one, or it was
        paid, cancelled or expired meanwhile); InvoiceBeingOpened while the last attempt may be under way.
        """
        async with self._uow_factory() as uow:
            session = await uow.checkouts.get(session_id, for_update=True)
            if session is None:
                raise NotFound(f"checkout {session_id} does not exist", "session_id")
            now = utcnow()
            if not session.needs_invoice(now):
                return session, None
            attempt = session.request_invoice(hash_secret(secret), now, self._config.invoice_under_way)
            await uow.commit()
        return session, attempt

    async def _open_invoice(self, session: CheckoutSession, attempt: InvoiceAttempt, secret: str) -> CheckoutSession:
        """_ask_for_invoice, carried to its end even when the caller goes away (a client's deadline).

        Once QPay is asked, it may open the invoice: its answer is stored, or the attempt ended, whatever
        became of the request, so that a retry with the same key finds the invoice at once, rather than
        waiting (InvoiceBeingOpened) for the attempt to outlive `invoice_under_way`.
        """
        asking = asyncio.create_task(self._ask_for_invoice(session, attempt, secret))
        self._asking.add(asking)
        asking.add_done_callback(self._asked)
        return await asyncio.shield(asking)

    def _asked(self, asking: asyncio.Task[CheckoutSession]) -> None:
        self._asking.discard(asking)
        if not asking.cancelled():
            asking.exception()  # retrieved: the caller that waited for it saw it, or had gone away

    async def _ask_for_invoice(self, session: CheckoutSession, attempt: InvoiceAttempt, secret: str) -> CheckoutSession:
        """Asks the provider for the attempt's invoice and stores it; the provider's failure ends the attempt.

        A failed attempt is ended (so a retry may try again at once) and kept: QPay may have opened its
        invoice all the same, which a later payment then brings to the session.
        """
        url = callback_url(self._config.callback_base_url, session.id, secret)
        try:
            invoice = await self._provider.open_invoice(session, attempt.sender_invoice_no, url)
        except PaymentServiceError:
            await self._end_attempt(session.id, attempt.number)
            raise
        return await self._store_invoice(session.id, attempt.number, invoice)

    async def _store_invoice(self, session_id: str, number: int, invoice: Invoice) -> CheckoutSession:
        async with self._uow_factory() as uow:
            session = await uow.checkouts.get(session_id, for_update=True)
            if session is None:
                raise NotFound(f"checkout {session_id} does not exist", "session_id")
            stored = session.invoice_opened(number, invoice, utcnow())
            await uow.commit()
        if not stored:
            # Another invoice became the session's first, or the session was cancelled: this one must not be paid.
            await self._cancel_invoice_quietly(invoice.invoice_id)
        await self._cache.remember(session)
        return session

    async def _end_attempt(self, session_id: str, number: int) -> None:
        try:
            async with self._uow_factory() as uow:
                session = await uow.checkouts.get(session_id, for_update=True)
                if session is not None:
                    session.invoice_not_opened(number, utcnow())
                    await uow.commit()
        except Exception as error:  # the provider's failure is the answer; the attempt then ends when its time is up
            log.warning("could not record the end of invoice attempt %d of session %s: %s", number, session_id, error)

    async def _cancel_invoice_quietly(self, invoice_id: str) -> None:
        try:
            await self._provider.cancel_invoice(invoice_id)
        except PaymentServiceError as error:
            log.warning("could not cancel orphan invoice %s: %s", invoice_id, error)
