"""Async client for the QPay merchant API v2.

One client per process: it owns one HTTP session and one token, renews the token a
little before QPay's stated expiry, and lets only one caller renew at a time, because
QPay does not want to be asked for tokens often.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import aiohttp

from paygrant.metrics import QPAY_SECONDS
from payment_service.adapters.qpay.errors import (
    QPayError,
    QPayProtocolError,
    QPayRequestInvalid,
    QPayUnavailable,
    error_from_response,
)
from payment_service.adapters.qpay.models import (
    InvoiceInfo,
    InvoiceRequest,
    PaymentCheck,
    PaymentList,
    QPayInvoice,
    QPayPayment,
)

# Renew this long before QPay's expiry so that no token dies in flight.
ACCESS_TOKEN_MARGIN = 60.0
# A refresh token only has to outlive the one /auth/refresh call that spends it.
REFRESH_TOKEN_MARGIN = 10.0
PAGE_LIMIT_MAX = 100
# QPay sends expiries as Unix timestamps; anything smaller than 2001-09-09 can only be
# a duration, so it is read as one rather than as a token that expired in 1970.
_MIN_TIMESTAMP = 1_000_000_000

T = TypeVar("T")


@dataclass(frozen=True)
class _Token:
    access_token: str
    access_expires_at: float
    refresh_token: str
    refresh_expires_at: float

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, now: float) -> _Token:
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise ValueError("token answer has no access_token")
        refresh = data.get("refresh_token")
        has_refresh = isinstance(refresh, str) and bool(refresh)
        return cls(
            access_token=access,
            access_expires_at=_expiry(data.get("expires_in"), now),
            refresh_token=refresh if isinstance(refresh, str) else "",
            refresh_expires_at=_expiry(data.get("refresh_expires_in"), now) if has_refresh else 0.0,
        )

    def access_usable(self, now: float) -> bool:
        return now < self.access_expires_at - ACCESS_TOKEN_MARGIN

    def refresh_usable(self, now: float) -> bool:
        return bool(self.refresh_token) and now < self.refresh_expires_at - REFRESH_TOKEN_MARGIN


def _expiry(value: Any, now: float) -> float:
    try:
        moment = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"token answer has no usable expiry: {value!r}") from exc
    return moment if moment >= _MIN_TIMESTAMP else now + moment


def _decode(status: int, raw: bytes) -> Any:
    if not 200 <= status < 300:
        raise error_from_response(status, raw)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise QPayProtocolError(f"answer {status} is not JSON") from exc


def _parse(reader: Callable[[Mapping[str, Any]], T], data: Any) -> T:
    if not isinstance(data, dict):
        raise QPayProtocolError(f"expected a JSON object, got {type(data).__name__}")
    try:
        return reader(data)
    except (ValueError, TypeError) as exc:
        raise QPayProtocolError(str(exc)) from exc


def _offset(page_number: int, page_limit: int) -> dict[str, int]:
    if page_number < 1:
        raise QPayRequestInvalid("page_number", "must be 1 or more")
    if not 1 <= page_limit <= PAGE_LIMIT_MAX:
        raise QPayRequestInvalid("page_limit", f"must be between 1 and {PAGE_LIMIT_MAX}")
    return {"page_number": page_number, "page_limit": page_limit}


def _qpay_date(value: date) -> str:
    if isinstance(value, datetime):
        # Naive datetimes are taken as UTC, the project's one clock.
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return value.isoformat()


def _basic_auth_header(client_id: str, client_secret: str) -> str:
    credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
    return f"Basic {credentials}"


def _segment(value: str) -> str:
    return quote(value, safe="")


class QPayClient:
    """QPay v2 merchant API; `start()` (or `async with`) before use, `close()` after."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._basic_auth = _basic_auth_header(client_id, client_secret)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        # How many /auth/token and /auth/refresh calls were made; tests and metrics read it.
        self.token_requests = 0

    async def start(self) -> None:
        """Open the HTTP session; calling it twice is harmless."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        """Close the HTTP session; the token is forgotten with it."""
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._token = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- invoices -------------------------------------------------------------------

    async def create_invoice(self, req: InvoiceRequest) -> QPayInvoice:
        """Create an invoice; QPay answers with its id, QR and bank deeplinks."""
        data = await self._call("POST", "/invoice", req.to_json())
        return _parse(QPayInvoice.from_json, data)

    async def get_invoice(self, invoice_id: str) -> InvoiceInfo:
        """Read an invoice's status and amount; `QPayNotFound` if QPay has none."""
        data = await self._call("GET", f"/invoice/{_segment(invoice_id)}")
        return _parse(InvoiceInfo.from_json, data)

    async def cancel_invoice(self, invoice_id: str) -> None:
        """Cancel an unpaid invoice so it can no longer be paid."""
        await self._call("DELETE", f"/invoice/{_segment(invoice_id)}")

    # --- payments -------------------------------------------------------------------

    async def get_payment(self, payment_id: str) -> QPayPayment:
        """Read one payment; its `object_id` is the invoice it paid."""
        data = await self._call("GET", f"/payment/{_segment(payment_id)}")
        return _parse(QPayPayment.from_json, data)

    async def check_payment(
        self, invoice_id: str, *, page_number: int = 1, page_limit: int = PAGE_LIMIT_MAX
    ) -> PaymentCheck:
        """List the payments made on an invoice and the amount paid in total."""
        body = {
            "object_type": "INVOICE",
            "object_id": invoice_id,
            "offset": _offset(page_number, page_limit),
        }
        data = await self._call("POST", "/payment/check", body)
        return _parse(partial(PaymentCheck.from_json, invoice_id=invoice_id), data)

    async def list_payments(
        self,
        *,
        object_type: str,
        object_id: str,
        start_date: date,
        end_date: date,
        page_number: int = 1,
        page_limit: int = PAGE_LIMIT_MAX,
    ) -> PaymentList:
        """One page of payments in a date range.

        `object_type` is MERCHANT (with the merchant id) or INVOICE (with the invoice
        *code*, not an invoice id); datetimes are sent in UTC.
        """
        body = {
            "object_type": object_type,
            "object_id": object_id,
            "start_date": _qpay_date(start_date),
            "end_date": _qpay_date(end_date),
            "offset": _offset(page_number, page_limit),
        }
        data = await self._call("POST", "/payment/list", body)
        return _parse(PaymentList.from_json, data)

    async def refund_payment(
        self, payment_id: str, *, callback_url: str | None = None, note: str | None = None
    ) -> None:
        """Refund a card payment; other payments answer PAYMENT_SETTLED."""
        body = _optional_body(callback_url=callback_url, note=note)
        await self._call("DELETE", f"/payment/refund/{_segment(payment_id)}", body)

    async def cancel_payment(
        self, payment_id: str, *, callback_url: str | None = None, note: str | None = None
    ) -> None:
        """Cancel a card payment; other payments answer PAYMENT_SETTLED."""
        body = _optional_body(callback_url=callback_url, note=note)
        await self._call("DELETE", f"/payment/cancel/{_segment(payment_id)}", body)

    # --- plumbing -------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        token = await self._access_token()
        status, raw = await self._send(method, path, body=body, authorization=f"Bearer {token}")
        if status == 401:
            # QPay can revoke a token before its stated expiry: log in again, once.
            self._forget(token)
            token = await self._access_token()
            status, raw = await self._send(method, path, body=body, authorization=f"Bearer {token}")
        return _decode(status, raw)

    async def _access_token(self) -> str:
        token = self._token
        if token is not None and token.access_usable(self._clock()):
            return token.access_token
        async with self._token_lock:
            # The caller that held the lock may have renewed it while this one waited.
            token = self._token
            now = self._clock()
            if token is None or not token.access_usable(now):
                token = await self._renew(token, now)
                self._token = token
            return token.access_token

    async def _renew(self, old: _Token | None, now: float) -> _Token:
        if old is not None and old.refresh_usable(now):
            try:
                return await self._fetch_token("/auth/refresh", f"Bearer {old.refresh_token}")
            except QPayError as exc:
                # A refused refresh token is cured by logging in again; an outage is not.
                if not 400 <= exc.status < 500:
                    raise
        return await self._fetch_token("/auth/token", self._basic_auth)

    async def _fetch_token(self, path: str, authorization: str) -> _Token:
        self.token_requests += 1
        status, raw = await self._send("POST", path, authorization=authorization)
        return _parse(partial(_Token.from_json, now=self._clock()), _decode(status, raw))

    def _forget(self, access_token: str) -> None:
        # Only drop the token that failed: a concurrent caller may already hold a new one.
        if self._token is not None and self._token.access_token == access_token:
            self._token = None

    async def _send(
        self,
        method: str,
        path: str,
        *,
        authorization: str,
        body: Mapping[str, Any] | None = None,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("QPayClient is not started: call start() or use `async with`")
        headers = {"Authorization": authorization}
        started, outcome = time.perf_counter(), "unreachable"
        try:
            async with self._session.request(method, self._base_url + path, json=body, headers=headers) as response:
                raw = await response.read()
                outcome = "ok" if response.status < 400 else f"{response.status // 100}xx"
                return response.status, raw
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise QPayUnavailable(f"{method} {path} failed: {exc!r}") from exc
        finally:
            QPAY_SECONDS.labels(f"{method} {_endpoint(path)}", outcome).observe(time.perf_counter() - started)


# Paths without an id in them; any other path ends with one (/invoice/{id}, /payment/refund/{id}).
_FIXED_PATHS = frozenset({"/auth/token", "/auth/refresh", "/invoice", "/payment/check", "/payment/list"})


def _endpoint(path: str) -> str:
    """`path` with its id replaced by {id}: a metric label, the same for every invoice or payment."""
    return path if path in _FIXED_PATHS else path.rsplit("/", 1)[0] + "/{id}"


def _optional_body(**fields: str | None) -> dict[str, str] | None:
    given = {name: value for name, value in fields.items() if value is not None}
    return given or None
