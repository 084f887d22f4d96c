"""Typed views of QPay v2 request and response bodies.

Amounts are `Decimal`: QPay sends them as strings in rows and as numbers in
`paid_amount`, and both are read through `str` so no binary float ever touches money.
A body that lacks a required field raises `ValueError`; the client turns that into
`QPayProtocolError`. A request the adapter builds wrongly raises `QPayRequestInvalid`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from payment_service.adapters.qpay.errors import QPayRequestInvalid

SENDER_INVOICE_NO_MAX = 45


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None or isinstance(value, (dict, list)):
        raise ValueError(f"QPay body has no usable {key!r}")
    return str(value)


def _optional_text(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return default if value is None else str(value)


def _count(data: Mapping[str, Any], key: str) -> int:
    try:
        return int(data.get(key) or 0)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"QPay body has a non-integer {key!r}") from exc


def parse_amount(value: Any) -> Decimal:
    """Read a QPay amount (string or JSON number) as an exact, finite Decimal."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return amount


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    # QPay's examples carry no offset; reading them as UTC keeps every datetime aware.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rows(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rows = data.get("rows") or []
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError("QPay body has malformed 'rows'")
    return rows


@dataclass(frozen=True)
class InvoiceRequest:
    """What `POST /invoice` needs; validated on construction so QPay never sees junk."""

    invoice_code: str
    sender_invoice_no: str
    invoice_receiver_code: str
    invoice_description: str
    amount: Decimal
    callback_url: str

    def __post_init__(self) -> None:
        if not self.sender_invoice_no:
            raise QPayRequestInvalid("sender_invoice_no", "is required")
        if len(self.sender_invoice_no) > SENDER_INVOICE_NO_MAX:
            raise QPayRequestInvalid("sender_invoice_no", f"is longer than {SENDER_INVOICE_NO_MAX} characters")
        if not self.amount.is_finite() or self.amount <= 0:
            raise QPayRequestInvalid("amount", "must be a positive amount")
        if not self.callback_url:
            raise QPayRequestInvalid("callback_url", "is required")

    def to_json(self) -> dict[str, Any]:
        """The body for `POST /invoice`; the amount is a JSON number, as QPay documents."""
        return {
            "invoice_code": self.invoice_code,
            "sender_invoice_no": self.sender_invoice_no,
            "invoice_receiver_code": self.invoice_receiver_code,
            "invoice_description": self.invoice_description,
            "amount": amount_as_number(self.amount),
            "callback_url": self.callback_url,
        }


def amount_as_number(amount: Decimal) -> int | float:
    """A JSON number for `amount` that prints back exactly (tögrög amounts are short)."""
    if amount == amount.to_integral_value():
        return int(amount)
    # float's repr is the shortest round-trip text, so "1234.56" is sent as 1234.56.
    return float(amount)


@dataclass(frozen=True)
class Deeplink:
    """One bank app link that opens the invoice for payment."""

    name: str
    description: str
    logo: str
    link: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Deeplink:
        """Read one entry of an invoice's `urls`."""
        return cls(
            name=_optional_text(data, "name"),
            description=_optional_text(data, "description"),
            logo=_optional_text(data, "logo"),
            link=_text(data, "link"),
        )


@dataclass(frozen=True)
class QPayInvoice:
    """A created invoice: what the payer needs to pay it."""

    invoice_id: str
    qr_text: str
    qr_image: str
    short_url: str
    deeplinks: tuple[Deeplink, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QPayInvoice:
        """Read the answer of `POST /invoice`."""
        urls = data.get("urls") or []
        if not isinstance(urls, list):
            raise ValueError("QPay body has malformed 'urls'")
        return cls(
            invoice_id=_text(data, "invoice_id"),
            qr_text=_optional_text(data, "qr_text"),
            qr_image=_optional_text(data, "qr_image"),
            short_url=_optional_text(data, "qPay_shortUrl"),
            deeplinks=tuple(Deeplink.from_json(url) for url in urls if isinstance(url, dict)),
        )


@dataclass(frozen=True)
class QPayPayment:
    """One payment as QPay reports it (statuses: NEW, FAILED, PAID, PARTIAL, REFUNDED)."""

    payment_id: str
    status: str
    amount: Decimal
    currency: str
    object_type: str
    object_id: str
    paid_at: datetime | None
    payment_type: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, invoice_id: str = "") -> QPayPayment:
        """Read a payment; `invoice_id` fills the object for rows (as in /payment/check)
        that omit it because the request already named the invoice."""
        object_id = _optional_text(data, "object_id") or invoice_id
        default_type = "INVOICE" if invoice_id else ""
        return cls(
            payment_id=_text(data, "payment_id"),
            status=_text(data, "payment_status"),
            amount=parse_amount(data.get("payment_amount")),
            currency=_optional_text(data, "payment_currency", "MNT"),
            object_type=_optional_text(data, "object_type") or default_type,
            object_id=object_id,
            paid_at=_timestamp(data.get("payment_date")),
            # /payment/check names it payment_type, /payment/{id} transaction_type.
            payment_type=_optional_text(data, "payment_type") or _optional_text(data, "transaction_type"),
        )


@dataclass(frozen=True)
class PaymentCheck:
    """The payments made on one invoice, and how much of them is paid."""

    count: int
    paid_amount: Decimal
    rows: tuple[QPayPayment, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, invoice_id: str = "") -> PaymentCheck:
        """Read the answer of `POST /payment/check` for `invoice_id`."""
        return cls(
            count=_count(data, "count"),
            paid_amount=parse_amount(data.get("paid_amount", 0)),
            rows=tuple(QPayPayment.from_json(row, invoice_id=invoice_id) for row in _rows(data)),
        )


@dataclass(frozen=True)
class PaymentList:
    """One page of the merchant's payments; `count` is the total over all pages."""

    count: int
    rows: tuple[QPayPayment, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PaymentList:
        """Read the answer of `POST /payment/list`."""
        return cls(
            count=_count(data, "count"),
            rows=tuple(QPayPayment.from_json(row) for row in _rows(data)),
        )


@dataclass(frozen=True)
class InvoiceInfo:
    """An invoice's current state (statuses: OPEN, PAID, CANCELLED)."""

    invoice_id: str
    status: str
    sender_invoice_no: str
    amount: Decimal

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InvoiceInfo:
        """Read the answer of `GET /invoice/{id}`."""
        # QPay reports the invoice total as total_amount; older answers as amount.
        raw_amount = next(
            (data[key] for key in ("total_amount", "gross_amount", "amount") if data.get(key) is not None),
            None,
        )
        return cls(
            invoice_id=_text(data, "invoice_id"),
            status=_text(data, "invoice_status"),
            sender_invoice_no=_optional_text(data, "sender_invoice_no"),
            amount=parse_amount(raw_amount),
        )
