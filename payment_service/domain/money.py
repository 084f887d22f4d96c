"""Money in minor units, and the conversion to QPay's decimal major units."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from paygrant import contract_rules
from payment_service.domain.errors import InvalidRequest

# ISO 4217 minor-unit exponents of the currencies paygrant accepts.
MINOR_UNIT_EXPONENTS = {"MNT": 2, "USD": 2, "EUR": 2, "CNY": 2, "KRW": 0, "JPY": 0}
DEFAULT_CURRENCY = "MNT"


def normalize_currency(currency: str, field: str = "currency") -> str:
    """The ISO 4217 code to use: MNT when empty; unknown codes are refused."""
    code = currency or DEFAULT_CURRENCY
    if code not in MINOR_UNIT_EXPONENTS:
        raise InvalidRequest(field, f"unsupported currency {code!r}; use one of {sorted(MINOR_UNIT_EXPONENTS)}")
    return code


def to_major(amount_minor: int, currency: str) -> Decimal:
    """1000050 MNT minor units -> Decimal('10000.50')."""
    return Decimal(amount_minor).scaleb(-MINOR_UNIT_EXPONENTS[currency])


def to_minor(amount_major: Decimal, currency: str) -> int:
    """Decimal('10000.50') MNT -> 1000050; fractions below the minor unit are dropped."""
    return int(amount_major.scaleb(MINOR_UNIT_EXPONENTS[currency]))


def require_amount(amount: int, field: str) -> int:
    """`amount` when it can be stored (0 to int64's maximum minor units); else InvalidRequest naming `field`."""
    problem = contract_rules.amount_problem(amount)
    if problem:
        raise InvalidRequest(field, problem)
    return amount


def require_total(amounts: Sequence[int], field: str) -> int:
    """The sum of `amounts` (each checked as `field[i]`) when it can be stored; else InvalidRequest naming `field`."""
    for index, amount in enumerate(amounts):
        require_amount(amount, f"{field}[{index}]")
    problem = contract_rules.total_problem(amounts)
    if problem:
        raise InvalidRequest(field, problem)
    return sum(amounts)
