"""The shared contract rules (item kinds, caller-chosen ids), raising the payment service's InvalidRequest."""

from __future__ import annotations

from collections.abc import Sequence

from paygrant import contract_rules
from payment_service.domain.errors import InvalidRequest


def require_id(value: str, field: str) -> str:
    """`value` when it is a valid caller-chosen id; else InvalidRequest naming `field`."""
    return contract_rules.require_id(value, field, InvalidRequest)


def require_ids(values: Sequence[str], field: str, low: int, high: int) -> list[str]:
    """`low` to `high` valid ids, duplicates dropped (in order); else InvalidRequest naming `field`."""
    if not low <= len(values) <= high:
        raise InvalidRequest(field, f"{low} to {high} ids, got {len(values)}")
    return list(dict.fromkeys(require_id(value, field) for value in values))


def require_kind(value: str, field: str) -> str:
    """`value` when it is a valid item kind; else InvalidRequest naming `field`."""
    return contract_rules.require_kind(value, field, InvalidRequest)
