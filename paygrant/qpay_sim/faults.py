"""Fault switches: how callbacks misbehave, which QPay endpoints fail, which answer late.

Set through `POST /_sim/faults`; a key given there replaces that switch, keys left out
keep their value, `DELETE /_sim/faults` restores normal behaviour. The switches:

- `callback`: normal | drop | duplicate | fail (see CALLBACK_MODES); `callback_delay`: seconds
  before the callback is sent.
- `fail`: `{endpoint: status}` or `{endpoint: {"status": s, "times": n}}`: the endpoint answers
  that error status instead of acting (all its calls, or the next n).
- `delay`: `{endpoint: seconds}`: the endpoint acts first, then waits that long before it
  answers, e.g. `{"delay": {"invoice_create": 2.5}}` creates the invoice and answers 2.5 s
  later. A client whose timeout is shorter gives up on an answer whose effect already
  happened: the invoice exists at QPay, and the merchant never learnt its id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ENDPOINTS = frozenset(
    {
        "token",
        "refresh",
        "invoice_create",
        "invoice_get",
        "invoice_cancel",
        "payment_get",
        "payment_check",
        "payment_list",
        "payment_refund",
        "payment_cancel",
    }
)
# normal: sent once; drop: never sent; duplicate: sent twice; fail: sent, but QPay hangs up
# before the answer (its own timeout), so the merchant may or may not have acted on it.
CALLBACK_MODES = frozenset({"normal", "drop", "duplicate", "fail"})


@dataclass
class Failure:
    """An endpoint answers `status`; `remaining` counts down, None means until reset."""

    status: int
    remaining: int | None = None

    @classmethod
    def from_json(cls, endpoint: str, value: Any) -> Failure:
        """Read `500` or `{"status": 500, "times": 2}`."""
        if isinstance(value, Mapping):
            status, times = value.get("status"), value.get("times")
        else:
            status, times = value, None
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"fail.{endpoint}: status must be an HTTP error status (400-599)")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ValueError(f"fail.{endpoint}: times must be a positive integer")
        return cls(status, times)

    def to_json(self) -> dict[str, Any]:
        """The failure as `GET /_sim/faults` shows it."""
        return {"status": self.status, "times": self.remaining}


@dataclass
class Faults:
    """The current fault switches; all off by default."""

    callback: str = "normal"
    callback_delay: float = 0.0
    fail: dict[str, Failure] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)

    def update(self, body: Mapping[str, Any]) -> None:
        """Apply a `POST /_sim/faults` body, all or nothing; `ValueError` if invalid."""
        unknown = set(body) - {"callback", "callback_delay", "fail", "delay"}
        if unknown:
            raise ValueError(f"unknown fault switches: {sorted(unknown)}")
        callback = body.get("callback", self.callback)
        if callback not in CALLBACK_MODES:
            raise ValueError(f"callback must be one of {sorted(CALLBACK_MODES)}")
        callback_delay = _seconds("callback_delay", body.get("callback_delay", self.callback_delay))
        fail = self.fail
        if "fail" in body:
            fail = _read_failures(body["fail"])
        delay = self.delay
        if "delay" in body:
            delay = _read_delays(body["delay"])
        self.callback, self.callback_delay, self.fail, self.delay = callback, callback_delay, fail, delay

    def take_failure(self, endpoint: str) -> int | None:
        """The status `endpoint` must fail with now, if any, spending one use of it."""
        failure = self.fail.get(endpoint)
        if failure is None:
            return None
        if failure.remaining is not None:
            failure.remaining -= 1
            if failure.remaining <= 0:
                del self.fail[endpoint]
        return failure.status

    def answer_delay(self, endpoint: str) -> float:
        """How long `endpoint` waits, after acting, before it answers (0: at once)."""
        return self.delay.get(endpoint, 0.0)

    def to_json(self) -> dict[str, Any]:
        """The switches as `GET /_sim/faults` shows them."""
        return {
            "callback": self.callback,
            "callback_delay": self.callback_delay,
            "fail": {name: failure.to_json() for name, failure in sorted(self.fail.items())},
            "delay": dict(sorted(self.delay.items())),
        }


def _seconds(name: str, value: Any) -> float:
    # Control bodies are read with exact decimals, so a delay may arrive as a Decimal.
    seconds = float(value) if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) else -1.0
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"{name} must be a number of seconds, 0 or more")
    return seconds


def _read_failures(value: Any) -> dict[str, Failure]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("fail must be an object of endpoint name to status")
    unknown = set(value) - ENDPOINTS
    if unknown:
        raise ValueError(f"unknown endpoints {sorted(unknown)}; known: {sorted(ENDPOINTS)}")
    return {name: Failure.from_json(name, spec) for name, spec in value.items() if spec}


def _read_delays(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("delay must be an object of endpoint name to seconds")
    unknown = set(value) - ENDPOINTS
    if unknown:
        raise ValueError(f"unknown endpoints {sorted(unknown)}; known: {sorted(ENDPOINTS)}")
    seconds = {name: _seconds(f"delay.{name}", spec) for name, spec in value.items()}
    return {name: wait for name, wait in seconds.items() if wait > 0}
