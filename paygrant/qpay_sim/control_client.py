"""A client of the simulator's /_sim control endpoints, for the demo and the tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp


class SimulatorControl:
    """Drives a running simulator: pay invoices, switch faults. `base_url` is its QPay base (…/v2)."""

    def __init__(self, qpay_base_url: str) -> None:
        self._root = qpay_base_url.rstrip("/").removesuffix("/v2") + "/_sim"

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.request(method, self._root + path, json=body) as response:
            response.raise_for_status()
            result: dict[str, Any] = await response.json()
            return result

    async def pay(
        self,
        invoice_id: str,
        amount: Decimal | None = None,
        payment_type: str | None = None,
        status: str | None = None,
        even_if_cancelled: bool = False,
    ) -> dict[str, Any]:
        """Pays the invoice as a customer would; the simulator then calls the callback URL.

        `even_if_cancelled` pays a cancelled invoice too (money already under way when it was cancelled).
        """
        body: dict[str, Any] = {}
        if even_if_cancelled:
            body["even_if_cancelled"] = True
        if amount is not None:
            body["amount"] = str(amount)
        if payment_type is not None:
            body["payment_type"] = payment_type
        if status is not None:
            body["status"] = status
        return await self._call("POST", f"/invoices/{invoice_id}/pay", body)

    async def set_faults(self, **faults: Any) -> dict[str, Any]:
        """E.g. set_faults(callback="drop"), set_faults(fail={"payment_get": 500}) or
        set_faults(delay={"invoice_create": 2.5}) (the invoice is created, its answer comes 2.5 s later)."""
        return await self._call("POST", "/faults", faults)

    async def clear_faults(self) -> dict[str, Any]:
        """Back to normal behaviour."""
        return await self._call("DELETE", "/faults")

    async def invoice(self, invoice_id: str) -> dict[str, Any]:
        """The simulator's record of an invoice and its payments."""
        return await self._call("GET", f"/invoices/{invoice_id}")

    async def invoice_numbered(self, sender_invoice_no: str) -> dict[str, Any] | None:
        """The invoice opened with this `sender_invoice_no` (as GET /invoice shows it), if any."""
        found: list[dict[str, Any]] = (
            await self._call("GET", f"/invoices?{urlencode({'sender_invoice_no': sender_invoice_no})}")
        )["invoices"]
        return found[0] if found else None

    async def reset(self) -> dict[str, Any]:
        """Forgets every token, invoice, payment and fault (as if QPay had lost its records)."""
        return await self._call("POST", "/reset")

    async def faults(self) -> dict[str, Any]:
        """The faults switched on now."""
        return await self._call("GET", "/faults")

    async def revoke_tokens(self, refresh: bool = False) -> dict[str, Any]:
        """Ends every access token (and, with `refresh`, every refresh token) before its expiry."""
        return await self._call("POST", "/tokens/revoke", {"refresh": refresh})

    async def requests(self) -> dict[str, int]:
        """How many calls each QPay endpoint has answered (from /_sim/health)."""
        counts: dict[str, int] = (await self._call("GET", "/health"))["requests"]
        return counts
