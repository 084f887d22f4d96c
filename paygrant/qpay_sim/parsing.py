"""Reading request bodies the way QPay does: strict, with QPay's error answers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from paygrant.qpay_sim.responses import QPayReject

PAGE_LIMIT_MAX = 100


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (empty when there is no body); floats read exactly."""
    raw = await request.text()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise QPayReject(400, "OBJECT_DATA_ERROR", "body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise QPayReject(400, "OBJECT_DATA_ERROR", "body must be a JSON object")
    return data


def parse_amount(value: Any) -> Decimal | None:
    """A finite Decimal from a JSON number or numeric string, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def parse_offset(body: dict[str, Any], *, default_limit: int = 10) -> tuple[int, int]:
    """`offset: {page_number, page_limit}` with QPay's bounds (limit at most 100)."""
    offset = body.get("offset") or {}
    if not isinstance(offset, dict):
        raise _field("offset", "object.base", "must be an object")
    number = offset.get("page_number", 1)
    limit = offset.get("page_limit", default_limit)
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise _field("offset.page_number", "number.min", "must be an integer of 1 or more")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise _field("offset.page_limit", "number.min", "must be an integer of 1 or more")
    if limit > PAGE_LIMIT_MAX:
        raise _field("offset.page_limit", "number.max", f"must be at most {PAGE_LIMIT_MAX}")
    return number, limit


def parse_range(body: dict[str, Any]) -> tuple[datetime, datetime]:
    """`start_date`..`end_date` as a half-open UTC range; a bare end date covers its day."""
    start, _ = _moment(body, "start_date")
    end, date_only = _moment(body, "end_date")
    # A bare date means the whole day; a time is included itself.
    end += timedelta(days=1) if date_only else timedelta(microseconds=1)
    return start, end


def _moment(body: dict[str, Any], name: str) -> tuple[datetime, bool]:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _field(name, "any.required", "is required")
    text = value.strip()
    try:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC), True
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _field(name, "date.base", "must be a date or an ISO date-time") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), False


def _field(name: str, kind: str, message: str) -> QPayReject:
    return QPayReject(400, "INVALID_FIELDS", f"{name} {message}", {name: (kind, f'"{name}" {message}')})
