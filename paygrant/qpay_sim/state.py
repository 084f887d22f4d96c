"""The simulator's memory: tokens, invoices, payments, callbacks and fault switches.

Every method here is synchronous, so under asyncio each one runs without interleaving:
no lock is needed for the store to stay consistent.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from paygrant.qpay_sim.config import SimulatorConfig
from paygrant.qpay_sim.faults import Faults

PAYMENT_STATUSES = frozenset({"NEW", "FAILED", "PAID", "PARTIAL", "REFUNDED"})
PAYMENT_TYPES = frozenset({"P2P", "CARD"})


@dataclass
class SimPayment:
    """One payment on an invoice, as QPay would record it."""

    payment_id: str
    invoice_id: str
    amount: Decimal
    payment_type: str
    status: str
    paid_at: datetime
    currency: str = "MNT"


@dataclass
class CallbackAttempt:
    """One `GET <callback_url>` the simulator made, and how it went."""

    url: str
    status: int | None
    error: str | None
    at: datetime

    def to_json(self) -> dict[str, Any]:
        """The attempt as the control API shows it."""
        return {"url": self.url, "status": self.status, "error": self.error, "at": iso(self.at)}


@dataclass
class SimInvoice:
    """An invoice: OPEN until paid in full (PAID) or cancelled (CANCELLED)."""

    invoice_id: str
    invoice_code: str
    sender_invoice_no: str
    receiver_code: str
    description: str
    amount: Decimal
    callback_url: str
    created_at: datetime
    status: str = "OPEN"
    payments: list[SimPayment] = field(default_factory=list)
    callbacks: list[CallbackAttempt] = field(default_factory=list)

    def paid_amount(self) -> Decimal:
        """The sum of this invoice's PAID payments."""
        return sum((p.amount for p in self.payments if p.status == "PAID"), Decimal(0))


def iso(moment: datetime) -> str:
    """A UTC timestamp in the ISO form QPay-like clients parse."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SimState:
    """Everything the simulator knows, in memory."""

    def __init__(self, settings: SimulatorConfig, clock: Callable[[], float] = time.time):
        self.settings = settings
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        """Forget every token, invoice, payment and fault."""
        self.invoices: dict[str, SimInvoice] = {}
        self.invoice_by_sender_no: dict[str, str] = {}
        self.payments: dict[str, SimPayment] = {}
        self.access_tokens: dict[str, float] = {}
        self.refresh_tokens: dict[str, float] = {}
        # Calls per endpoint name (as in the fault switches), for tests and chaos runs.
        self.requests: Counter[str] = Counter()
        self.faults = Faults()

    def now(self) -> datetime:
        """The simulator's current time, aware, in UTC."""
        return datetime.fromtimestamp(self._clock(), UTC)

    # --- tokens ---------------------------------------------------------------------

    def issue_tokens(self) -> dict[str, Any]:
        """A fresh token pair in QPay's answer shape; expiries are Unix timestamps."""
        now = self._clock()
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        access_expiry = int(now + self.settings.token_ttl)
        refresh_expiry = int(now + self.settings.refresh_ttl)
        self.access_tokens[access] = access_expiry
        self.refresh_tokens[refresh] = refresh_expiry
        return {
            "token_type": "bearer",
            "refresh_expires_in": refresh_expiry,
            "refresh_token": refresh,
            "access_token": access,
            "expires_in": access_expiry,
            "scope": "profile email",
            "not-before-policy": "0",
            "session_state": str(uuid.uuid4()),
        }

    def access_valid(self, token: str) -> bool:
        """Whether `token` is a live access token."""
        return self.access_tokens.get(token, 0.0) > self._clock()

    def refresh_valid(self, token: str) -> bool:
        """Whether `token` is a live refresh token."""
        return self.refresh_tokens.get(token, 0.0) > self._clock()

    def revoke_tokens(self, *, refresh: bool) -> None:
        """Invalidate every access token (and refresh token if asked) before expiry."""
        self.access_tokens.clear()
        if refresh:
            self.refresh_tokens.clear()

    # --- invoices and payments ------------------------------------------------------

    def add_invoice(
        self,
        *,
        sender_invoice_no: str,
        receiver_code: str,
        description: str,
        amount: Decimal,
        callback_url: str,
    ) -> SimInvoice:
        """Record a new OPEN invoice under the configured invoice code."""
        invoice = SimInvoice(
            invoice_id=str(uuid.uuid4()),
            invoice_code=self.settings.invoice_code,
            sender_invoice_no=sender_invoice_no,
            receiver_code=receiver_code,
            description=description,
            amount=amount,
            callback_url=callback_url,
            created_at=self.now(),
        )
        self.invoices[invoice.invoice_id] = invoice
        self.invoice_by_sender_no[sender_invoice_no] = invoice.invoice_id
        return invoice

    def add_payment(self, invoice: SimInvoice, *, amount: Decimal, payment_type: str, status: str) -> SimPayment:
        """Record a payment on `invoice`; the invoice is PAID once PAID payments cover it."""
        payment = SimPayment(
            payment_id=self._new_payment_id(),
            invoice_id=invoice.invoice_id,
            amount=amount,
            payment_type=payment_type,
            status=status,
            paid_at=self.now(),
        )
        self.payments[payment.payment_id] = payment
        invoice.payments.append(payment)
        if invoice.status == "OPEN" and invoice.paid_amount() >= invoice.amount:
            invoice.status = "PAID"
        return payment

    def _new_payment_id(self) -> str:
        # QPay's payment ids are long decimal numbers sent as strings.
        while True:
            candidate = str(10**14 + secrets.randbelow(9 * 10**14))
            if candidate not in self.payments:
                return candidate


STATE_KEY = web.AppKey("qpay_sim_state", SimState)
