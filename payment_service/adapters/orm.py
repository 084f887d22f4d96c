"""The payment service's tables, and the mapping of domain objects onto them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.ext.orderinglist import ordering_list
from sqlalchemy.orm import registry, relationship

from paygrant.db import NAMING_CONVENTION, Schema, UTCDateTime
from payment_service.domain.catalog import Product
from payment_service.domain.checkout import CheckoutLine, CheckoutSession, CheckoutStatus, Invoice, InvoiceAttempt
from payment_service.domain.outbox import OutboxMessage, OutboxStatus
from payment_service.domain.payment import Payment, PaymentOutcome, PaymentStatus
from payment_service.domain.refund import Refund

metadata = MetaData(naming_convention=NAMING_CONVENTION)
mapper_registry = registry(metadata=metadata)

# SQLite autoincrements only INTEGER PRIMARY KEY columns.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _status(enum: Any) -> Enum:
    return Enum(enum, native_enum=False, length=16, validate_strings=True)


products = Table(
    "products",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("item_id", String(128), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

checkout_sessions = Table(
    "checkout_sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("idempotency_key", String(128), nullable=False, unique=True),
    Column("request_fingerprint", String(64), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", _status(CheckoutStatus), nullable=False),
    Column("callback_secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime),
    Column("payment_id", String(36)),
    # When QPay was last asked about this session (CheckPayment may not poll it tightly).
    Column("last_checked_at", UTCDateTime),
    # The sum of the session's payments not refunded: short payments add up to a grant.
    Column("received_amount", BigInteger, nullable=False, server_default="0"),
    Column("cancelled_at", UTCDateTime),
    # The x-request-id of the CreateCheckout that made it, which its events carry (migration 0009).
    Column("request_id", String(128)),
    Index("ix_checkout_sessions_status_expires_at", "status", "expires_at"),
)

checkout_lines = Table(
    "checkout_lines",
    metadata,
    Column("session_id", String(36), ForeignKey("checkout_sessions.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("item_id", String(128), nullable=False),
    Column("title", String(200), nullable=False),
    Column("amount", BigInteger, nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", String(64), primary_key=True),
    Column("session_id", String(36), ForeignKey("checkout_sessions.id"), nullable=False, unique=True),
    Column("qr_text", Text, nullable=False),
    Column("qr_image", Text, nullable=False),
    Column("short_url", String(512), nullable=False),
    Column("deeplinks", JSON, nullable=False),
)

# Every request to QPay for a session's invoice, kept for good: one whose answer was lost may have opened an
# invoice that is paid later, which its number and callback secret match to the session (migration 0008).
invoice_attempts = Table(
    "invoice_attempts",
    metadata,
    # QPay's sender_invoice_no: unique at QPay, and so here.
    Column("sender_invoice_no", String(45), primary_key=True),
    Column("session_id", String(36), ForeignKey("checkout_sessions.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("callback_secret_hash", String(64), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    UniqueConstraint("session_id", "number"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", String(36), primary_key=True),
    # One row per QPay payment: a duplicated callback cannot record it twice (I3).
    Column("qpay_payment_id", String(64), unique=True),
    Column("session_id", String(36), ForeignKey("checkout_sessions.id"), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", _status(PaymentStatus), nullable=False),
    Column("paid_at", UTCDateTime, nullable=False),
    Column("refunded_at", UTCDateTime),
    # What recording it did (granted, short, duplicate) and its flags (domain.payment.Payment);
    # payments recorded before migration 0005 were all granted, hence the defaults.
    Column("outcome", _status(PaymentOutcome), nullable=False, server_default=PaymentOutcome.GRANTED.value),
    Column("late", Boolean, nullable=False, server_default=false()),
    Column("overpaid", Boolean, nullable=False, server_default=false()),
    Column("refund_due", Boolean, nullable=False, server_default=false()),
    Index("ix_payments_session_id", "session_id"),
    # ListPayments and StreamPayments read by keyset over (paid_at, id), per user or not (migration 0006).
    Index("ix_payments_paid_at_id", "paid_at", "id"),
    Index("ix_payments_user_id_paid_at_id", "user_id", "paid_at", "id"),
)

# Who returned a payment's money, why and how; one row per refunded payment, whose refunded_at says when.
refunds = Table(
    "refunds",
    metadata,
    Column("payment_id", String(36), ForeignKey("payments.id"), primary_key=True),
    # The same RefundPayment sent twice refunds once.
    Column("idempotency_key", String(128), nullable=False, unique=True),
    Column("reason", String(500), nullable=False),
    Column("refunded_by", String(128), nullable=False),
    Column("external", Boolean, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_type", String(32), nullable=False),
    Column("payment_id", String(36), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", _status(OutboxStatus), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    # The claim of the relay delivering the row until next_attempt_at (domain.outbox); NULL when none.
    Column("lease_token", String(36)),
    Index("ix_outbox_payment_id", "payment_id"),
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    # Sent rows are deleted after the retention period, oldest first.
    Index("ix_outbox_sent_at", "sent_at"),
)


_mapped = False


def start_mappers() -> None:
    """Maps the domain classes onto the tables; safe to call more than once."""
    global _mapped
    if _mapped:
        return
    mapper_registry.map_imperatively(Product, products)
    mapper_registry.map_imperatively(CheckoutLine, checkout_lines)
    mapper_registry.map_imperatively(Invoice, invoices)
    mapper_registry.map_imperatively(InvoiceAttempt, invoice_attempts)
    mapper_registry.map_imperatively(
        CheckoutSession,
        checkout_sessions,
        properties={
            "lines": relationship(
                CheckoutLine,
                order_by=checkout_lines.c.position,
                collection_class=ordering_list("position"),
                cascade="all, delete-orphan",
                lazy="selectin",
            ),
            "invoice": relationship(Invoice, uselist=False, cascade="all, delete-orphan", lazy="selectin"),
            "invoice_attempts": relationship(
                InvoiceAttempt, order_by=invoice_attempts.c.number, cascade="all, delete-orphan", lazy="selectin"
            ),
        },
    )
    mapper_registry.map_imperatively(Refund, refunds)
    mapper_registry.map_imperatively(
        Payment,
        payments,
        properties={
            "refund_record": relationship(Refund, uselist=False, cascade="all, delete-orphan", lazy="selectin"),
        },
    )
    mapper_registry.map_imperatively(OutboxMessage, outbox)
    event.listen(CheckoutSession, "load", _no_events_yet)
    _mapped = True


def _no_events_yet(session: CheckoutSession, _context: Any) -> None:
    # Loading does not call __init__; a loaded session has recorded nothing new yet.
    session.events = []


SCHEMA = Schema(metadata, Path(__file__).resolve().parent.parent / "migrations", start_mappers)
