"""The rules of the fields both services' contracts share (item kinds, ids, event types), written once.

Each service raises its own InvalidRequest with the problem these functions describe, so an
item the payment service accepts is never refused by the entitlement service.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Protocol


class EventType(enum.StrEnum):
    """What happened to a payment: the outbox's event names, and PaymentEventType of the contract."""

    PAYMENT_COMPLETED = "PaymentCompleted"
    PAYMENT_REFUNDED = "PaymentRefunded"


KIND_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_ID_LENGTH = 128
# Ids made of these characters only break no rule: checked in one match, the rules walked for the rest.
PLAIN_ID_PATTERN = re.compile(rf"[A-Za-z0-9_.:@+=-]{{1,{MAX_ID_LENGTH}}}")
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def kind_problem(kind: str) -> str | None:
    """What is wrong with an item kind, or None when it is valid."""
    if KIND_PATTERN.fullmatch(kind):
        return None
    return "must be 1-32 lowercase letters, digits, '_' or '-', starting with a letter"


def id_problem(value: str) -> str | None:
    """What is wrong with a caller-chosen id (user, item, payment, key), or None when it is valid."""
    if PLAIN_ID_PATTERN.fullmatch(value):
        return None
    return id_rules_problem(value)


def id_rules_problem(value: str) -> str | None:
    """id_problem's rules, one by one, without the fast path for plain ids."""
    if not value:
        return "is required"
    if len(value) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters"
    if value.strip() != value:
        return "must not start or end with whitespace"
    if has_control_characters(value):
        return "must not contain control characters"
    return None


def has_control_characters(value: str, allowed: str = "") -> bool:
    """True when `value` holds a C0 or C1 control character other than those in `allowed`."""
    return any(found.group() not in allowed for found in CONTROL_CHARACTER.finditer(value))


class FieldError(Protocol):
    """A service's own "this field is invalid" exception class."""

    def __call__(self, field: str, message: str) -> Exception: ...


def require_kind(kind: str, field: str, invalid: FieldError) -> str:
    """`kind` when it is a valid item kind; else raises `invalid` naming `field`."""
    problem = kind_problem(kind)
    if problem:
        raise invalid(field, problem)
    return kind


def require_id(value: str, field: str, invalid: FieldError) -> str:
    """`value` when it is a valid caller-chosen id; else raises `invalid` naming `field`."""
    problem = id_problem(value)
    if problem:
        raise invalid(field, problem)
    return value


# Free text for people (a reason) may span lines (tab and newline), never carry terminal escapes.
MAX_REASON_LENGTH = 500
TEXT_CONTROLS_ALLOWED = "\t\n"


def require_text(value: str, field: str, max_length: int, invalid: FieldError) -> str:
    """`value` when it is 1 to `max_length` characters of text, not blank, without control characters."""
    if not value.strip():
        raise invalid(field, "is required and must not be blank")
    if len(value) > max_length:
        raise invalid(field, f"is longer than {max_length} characters")
    if has_control_characters(value, allowed=TEXT_CONTROLS_ALLOWED):
        raise invalid(field, "must not contain control characters")
    return value


# Amounts are minor units stored as BIGINT and sent as int64: a price and a payment's total must fit.
MAX_AMOUNT = 2**63 - 1


def amount_problem(amount: int) -> str | None:
    """What is wrong with one amount in minor units, or None when it can be stored."""
    if not 0 <= amount <= MAX_AMOUNT:
        return f"must be between 0 and {MAX_AMOUNT} minor units"
    return None


def total_problem(amounts: Iterable[int]) -> str | None:
    """What is wrong with the sum of a payment's amounts, or None when it can be stored."""
    if sum(amounts) > MAX_AMOUNT:
        return f"amounts add up to more than {MAX_AMOUNT} minor units"
    return None
