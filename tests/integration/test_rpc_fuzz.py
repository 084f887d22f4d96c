"""Hostile requests to every RPC of both services get documented answers, never UNKNOWN or INTERNAL.

Requests are built from the services' descriptors (`services_by_name`), so an RPC added later is
fuzzed without editing this file. They are encoded by `tests.wire_format`, not by protobuf, so
invalid UTF-8 reaches the wire, and sent as raw bytes through a generic call
(`channel.unary_unary(path)`, or `unary_stream` for a server-streaming RPC, with no serializer).
What a request may hold: NUL characters, invalid UTF-8, extreme integers, undeclared enum
numbers, Timestamps out of range, thousands of repeated entries, 100k-character strings, missing
fields, unknown fields and known fields with the wrong wire type, garbage and truncated bytes.

Every answer must be a documented code: OK, INVALID_ARGUMENT (with a google.rpc.BadRequest
naming a field of the request, which the message names too), NOT_FOUND, ALREADY_EXISTS,
FAILED_PRECONDITION, ABORTED, PERMISSION_DENIED, UNAVAILABLE only when an upstream (QPay, the
entitlement service) is the cause, RESOURCE_EXHAUSTED only for a request over the size limit,
and OUT_OF_RANGE (GetPurchaseStats: a period's sum of amounts past int64). A request holding
NUL, invalid UTF-8 or an out-of-range Timestamp must be refused with INVALID_ARGUMENT naming
that field. No call may leave a traceback in the log, and both servers must still answer the
standard health check SERVING after every call.

How hypothesis meets pytest-asyncio (asyncio_mode=auto): the fuzz test is an `async def` under
`@given`, which pytest-asyncio runs example by example on the test's event loop. The servers are
started once per test by an async fixture on that same loop (hypothesis's function-scoped
fixture health check is suppressed on purpose: the servers are meant to outlive the examples;
each example is independent of the others except through the data it writes). Between examples
the loop is idle, so the servers' background tasks just wait. Requests that need ids only known
at run time (a seeded session, a payment) are drawn with `st.data()` from a strategy the fixture
builds. The explicit cases the issue names (invalid UTF-8 and NUL in each string field, each
Timestamp out of range, int64 extremes with several repeated entries, empty messages, a request
over the size limit, a cart whose sum overflows int64) are a table built from the same
descriptors and run in one test per backend, which lists every case that failed at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.entitlement.v1 import entitlement_pb2
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.payment.v1 import payment_pb2
from paygrant.payment.v1.payment_pb2_grpc import PaymentServiceStub
from paygrant.qpay_sim.app import RunningSimulator, start_simulator
from paygrant.qpay_sim.state import STATE_KEY
from paygrant.timestamps import to_timestamp
from payment_service.bootstrap import PaymentApp
from payment_service.settings import PaymentSettings
from tests.conftest import NewDatabase
from tests.wire_format import FIXED32, FIXED64, LENGTH_DELIMITED, VARINT, Value, encode, length_delimited, tag, varint

SERVICES = (
    payment_pb2.DESCRIPTOR.services_by_name["PaymentService"],
    entitlement_pb2.DESCRIPTOR.services_by_name["EntitlementService"],
)
METHODS: tuple[MethodDescriptor, ...] = tuple(method for service in SERVICES for method in service.methods)

# Bounded so the file runs in seconds; PAYGRANT_FUZZ_EXAMPLES=5000 digs deeper by hand.
FUZZ_EXAMPLES = int(os.environ.get("PAYGRANT_FUZZ_EXAMPLES", "120"))
CALL_TIMEOUT = 30.0
MAX_MESSAGE = 4 * 1024 * 1024  # grpc's default receive limit, which the servers keep
LONG = 100_000
HUGE_COUNTS = (1000, 1001, 3000)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FIRST_SECOND, LAST_SECOND = -62_135_596_800, 253_402_300_799  # 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z
T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
TIMESTAMP = "google.protobuf.Timestamp"

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAVAILABLE,  # only with an upstream named: checked below
    grpc.StatusCode.RESOURCE_EXHAUSTED,  # only over the size limit: checked below
    grpc.StatusCode.OUT_OF_RANGE,  # GetPurchaseStats: a period's sum of amounts past int64
}
UPSTREAMS = ("qpay", "entitlement")
# What a refusal names when no single field is at fault (bytes that are no message at all).
WHOLE_REQUEST = "request"

SEEDED_EVENT_ID = "6f1c1e0e-1d3b-4c55-9d0e-3f0a9b7f2a11"
MAX_PRICED = (ItemRef(kind="course", id="max-1"), ItemRef(kind="course", id="max-2"))
CATALOG = (
    (ItemRef(kind="course", id="algebra-1"), 1_500_000),
    (ItemRef(kind="test", id="free-1"), 0),
    *((item, INT64_MAX) for item in MAX_PRICED),
)
# Values of a field that get a request past the first checks, by field name; others get "fuzz".
PLAUSIBLE_STRINGS: dict[str, tuple[str, ...]] = {
    "kind": ("course", "test"),
    "id": ("algebra-1", "free-1", "max-1", "max-2"),
    "title": ("Algebra I",),
    "currency": ("MNT", "USD"),
    "user_id": ("user-1", "user-2"),
    "event_id": (SEEDED_EVENT_ID,),
    "idempotency_key": ("key-1",),
}
HOSTILE_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "\x00",
    "course\x00",
    "\x00\x00\x00",
    "A" * 129,
    "\u202eevil",
    "💸" * 40,
    "a" * LONG,
    "é" * LONG,
)
INVALID_UTF8: tuple[bytes, ...] = (
    b"\xff",
    b"ok\xfe",
    b"\xc3\x28",  # a lead byte without its continuation
    b"\xc0\x80",  # an overlong NUL
    b"\xed\xa0\x80",  # a UTF-16 surrogate
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\xe2\x82",  # truncated
)
# Interesting numbers per integer width; the wild ones go past the width (protobuf truncates varints).
SIGNED64 = (0, 1, -1, 1_500_000, INT64_MAX, INT64_MIN, INT64_MAX - 1, 2**53 + 1, 2**31, -(2**31) - 1)
SIGNED32 = (0, 1, -1, INT32_MAX, INT32_MIN, 999_999_999, 1_000_000_000)
WILD_VARINTS = (2**32, 2**40, 2**63, 2**64 - 1)
SECONDS = (0, FIRST_SECOND, LAST_SECOND, FIRST_SECOND - 1, LAST_SECOND + 1, INT64_MAX, INT64_MIN)
NANOS = (0, 999_999_999, -1, 1_000_000_000, INT32_MIN, INT32_MAX)

_T = FieldDescriptor
_INTEGER_RANGES = {
    _T.TYPE_INT64: (INT64_MIN, INT64_MAX),
    _T.TYPE_SINT64: (INT64_MIN, INT64_MAX),
    _T.TYPE_SFIXED64: (INT64_MIN, INT64_MAX),
    _T.TYPE_INT32: (INT32_MIN, INT32_MAX),
    _T.TYPE_SINT32: (INT32_MIN, INT32_MAX),
    _T.TYPE_SFIXED32: (INT32_MIN, INT32_MAX),
    _T.TYPE_UINT64: (0, 2**64 - 1),
    _T.TYPE_FIXED64: (0, 2**64 - 1),
    _T.TYPE_UINT32: (0, 2**32 - 1),
    _T.TYPE_FIXED32: (0, 2**32 - 1),
}
_PLAIN_VARINTS = {_T.TYPE_INT64, _T.TYPE_INT32, _T.TYPE_UINT64, _T.TYPE_UINT32}

# A field's place in a request, by field names; a repeated message field stands for its first entry.
Path = tuple[str, ...]


# ---------------------------------------------------------------- requests as test cases


@dataclass(frozen=True)
class Case:
    """One request: the RPC, the bytes sent, and how to judge the answer."""

    method: MethodDescriptor
    payload: bytes
    what: str
    # Fields holding NUL, invalid UTF-8 or an out-of-range Timestamp: the answer must name one.
    hostile: tuple[str, ...] = ()
    # False for garbage, truncated bytes or undecodable sub-messages: no field can be expected.
    structured: bool = True
    # For the explicit table: the code the answer must have, when one is certain.
    expect: grpc.StatusCode | None = None

    def __repr__(self) -> str:
        return f"{self.method.full_name}({self.what}; {len(self.payload)} bytes)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How hypothesis prints a failing case: the short repr, not every field."""
        printer.text(repr(self))


def describe(value: Any) -> str:
    """A short repr of request values: long strings and lists are abbreviated."""
    if isinstance(value, str | bytes) and len(value) > 40:
        return f"{value[:12]!r}…({len(value)})"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        if len(value) > 4:
            return f"[{describe(value[0])}, … x{len(value)}]"
        return "[" + ", ".join(describe(v) for v in value) + "]"
    return repr(value)


def field_path(descriptor: Descriptor, path: Path) -> str:
    """How a caller spells the field at `path`, e.g. items[0].item.kind."""
    parts = []
    for i, name in enumerate(path):
        found = descriptor.fields_by_name[name]
        last = i == len(path) - 1
        parts.append(f"{name}[0]" if found.is_repeated else name)  # a repeated field: its first entry
        if not last:
            descriptor = found.message_type
    return ".".join(parts)


def resolves(descriptor: Descriptor, spelled: str) -> bool:
    """True when `spelled` (e.g. queries[3].item.kind, items) names a field of the message."""
    current: Descriptor | None = descriptor
    parts = spelled.split(".")
    for position, part in enumerate(parts):
        name, bracket, index = part.partition("[")
        if current is None or name not in current.fields_by_name:
            return False
        found = current.fields_by_name[name]
        if bracket and not (found.is_repeated and index.endswith("]") and index[:-1].isdigit()):
            return False
        if found.is_repeated and not bracket and position < len(parts) - 1:
            return False  # a path into a repeated field says which entry
        current = found.message_type
    return True


def hostile_fields(descriptor: Descriptor, values: Mapping[str, Value], prefix: str = "") -> tuple[list[str], bool]:
    """Spelled paths of fields a decoder must refuse (NUL, invalid UTF-8, Timestamp out of range),
    and whether every sub-message was encoded from values (False when one is raw bytes)."""
    found: list[str] = []
    decodable = True
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        entries = list(value) if field.is_repeated and isinstance(value, list | tuple) else [value]
        for index, entry in enumerate(entries):
            spelled = f"{prefix}{name}[{index}]" if field.is_repeated else f"{prefix}{name}"
            if field.type == _T.TYPE_STRING and _refused_string(entry):
                found.append(spelled)
            elif field.type == _T.TYPE_MESSAGE and isinstance(entry, bytes):
                decodable = False
            elif field.type == _T.TYPE_MESSAGE and isinstance(entry, Mapping):
                if field.message_type.full_name == TIMESTAMP:
                    if _timestamp_out_of_range(entry):
                        found.append(spelled)
                    continue
                inner, inner_decodable = hostile_fields(field.message_type, entry, spelled + ".")
                found += inner
                decodable = decodable and inner_decodable
    return found, decodable


def _refused_string(value: Value) -> bool:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return True
    return isinstance(value, str) and "\x00" in value


def _wrapped(value: Value, bits: int) -> int:
    """The signed integer a parser reads from a varint of `value` into a field of `bits` bits."""
    assert isinstance(value, int)
    number = value % (1 << bits)
    return number - (1 << bits) if number >> (bits - 1) else number


def _timestamp_out_of_range(stamp: Mapping[str, Value]) -> bool:
    seconds = _wrapped(stamp.get("seconds", 0), 64)
    nanos = _wrapped(stamp.get("nanos", 0), 32)
    return not (FIRST_SECOND <= seconds <= LAST_SECOND and 0 <= nanos <= 999_999_999)


def make_case(method: MethodDescriptor, values: Mapping[str, Value], what: str, suffix: bytes = b"") -> Case:
    """A case of request values, judged by what they hold."""
    hostile, decodable = hostile_fields(method.input_type, values)
    payload = encode(method.input_type, values) + suffix
    return Case(method, payload, f"{what} {describe(values)}", tuple(hostile), decodable)


# ---------------------------------------------------------------- strategies from descriptors


def _strings(field: FieldDescriptor, pools: Mapping[str, Sequence[str]], *, wild: bool, small: bool) -> Any:
    plausible = st.sampled_from(tuple(pools.get(field.name, ("fuzz",))))
    if _is_identifier(field):
        plausible = plausible | st.uuids().map(str)
    if not wild:
        return plausible
    hostile = [s for s in HOSTILE_STRINGS if not small or len(s) < 1000]
    return st.one_of(
        plausible,
        st.sampled_from(hostile),
        st.text(max_size=24),
        plausible.flatmap(lambda s: st.integers(0, len(s)).map(lambda i: s[:i] + "\x00" + s[i:])),
        st.sampled_from(INVALID_UTF8),
        st.binary(max_size=12),
    )


def _integers(field: FieldDescriptor, *, wild: bool) -> Any:
    low, high = _INTEGER_RANGES[field.type]
    named = SIGNED64 if high == INT64_MAX else SIGNED32
    plausible = st.sampled_from(tuple(n for n in named if low <= n <= high)) | st.integers(low, high)
    if wild and field.type in _PLAIN_VARINTS:
        return plausible | st.sampled_from(WILD_VARINTS)
    return plausible


def _enums(field: FieldDescriptor, *, wild: bool) -> Any:
    declared = tuple(v.number for v in field.enum_type.values)
    chosen = st.sampled_from(tuple(n for n in declared if n) or declared)
    if not wild:
        return chosen
    return st.one_of(
        chosen, st.sampled_from((0, -1, 99, INT32_MAX, INT32_MIN, 2**40)), st.integers(INT32_MIN, INT32_MAX)
    )


def _timestamps(*, wild: bool) -> Any:
    valid = st.fixed_dictionaries(
        {"seconds": st.integers(FIRST_SECOND, LAST_SECOND), "nanos": st.integers(0, 999_999_999)}
    )
    if not wild:
        return valid
    extreme = st.fixed_dictionaries(
        {},
        optional={
            "seconds": st.sampled_from(SECONDS) | st.integers(INT64_MIN, INT64_MAX),
            "nanos": st.sampled_from(NANOS) | st.integers(INT32_MIN, INT32_MAX),
        },
    )
    return valid | extreme


def _indexed(value: Value, index: int) -> Value:
    """A copy of message values whose strings end in -index, so the entries of a huge list differ."""
    if isinstance(value, str):
        return f"{value}-{index}"
    if isinstance(value, Mapping):
        return {k: _indexed(v, index) for k, v in value.items()}
    if isinstance(value, list):
        return [_indexed(v, index) for v in value]
    return value


def field_values(field: FieldDescriptor, pools: Mapping[str, Sequence[str]], *, wild: bool, small: bool = False) -> Any:
    """A strategy of values of one field (a list for a repeated field)."""
    single = _single_values(field, pools, wild=wild, small=small)
    if not field.is_repeated:
        return single
    if not wild:
        return st.lists(single, min_size=1, max_size=3)
    entry = _single_values(field, pools, wild=False, small=True)
    huge = st.tuples(entry, st.sampled_from(HUGE_COUNTS)).map(lambda t: [_indexed(t[0], i) for i in range(t[1])])
    return st.one_of(st.just([]), st.lists(single, max_size=4), huge)


def _single_values(field: FieldDescriptor, pools: Mapping[str, Sequence[str]], *, wild: bool, small: bool) -> Any:
    if field.type == _T.TYPE_STRING:
        return _strings(field, pools, wild=wild, small=small)
    if field.type in _INTEGER_RANGES:
        return _integers(field, wild=wild)
    if field.type == _T.TYPE_ENUM:
        return _enums(field, wild=wild)
    if field.type == _T.TYPE_BOOL:
        return st.sampled_from((True, False, 2, 2**64 - 1)) if wild else st.booleans()
    if field.type in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
        return st.floats(width=64 if field.type == _T.TYPE_DOUBLE else 32)
    if field.type == _T.TYPE_BYTES:
        return st.binary(max_size=32)
    if field.message_type.full_name == TIMESTAMP:
        return _timestamps(wild=wild)
    inner = message_values(field.message_type, pools, wild=wild, small=small)
    if not wild:
        return inner
    return st.one_of(inner, message_values(field.message_type, pools, wild=False), st.binary(max_size=16))


def message_values(
    descriptor: Descriptor, pools: Mapping[str, Sequence[str]], *, wild: bool, small: bool = False
) -> Any:
    """A strategy of values of a message: every field plausible, or (wild) any field hostile or missing."""
    fields = {f.name: field_values(f, pools, wild=wild, small=small) for f in descriptor.fields}
    if wild:
        return st.fixed_dictionaries({}, optional=fields)
    return st.fixed_dictionaries(fields)


def leaf_paths(descriptor: Descriptor, prefix: Path = ()) -> Iterator[Path]:
    """Every field path of a message, sub-messages and their fields included (Timestamps as one field)."""
    for found in descriptor.fields:
        path = (*prefix, found.name)
        yield path
        if found.type == _T.TYPE_MESSAGE and found.message_type.full_name != TIMESTAMP and len(path) < 5:
            yield from leaf_paths(found.message_type, path)


def field_at(descriptor: Descriptor, path: Path) -> FieldDescriptor:
    """The descriptor of the field at `path`."""
    *outer, last = path
    for name in outer:
        descriptor = descriptor.fields_by_name[name].message_type
    return descriptor.fields_by_name[last]


def with_value(
    descriptor: Descriptor, values: Mapping[str, Value], path: Path, value: Value | None
) -> dict[str, Value]:
    """A copy of `values` with the field at `path` set to `value` (None: left out); copies only what it changes."""
    name, *rest = path
    out = dict(values)
    found = descriptor.fields_by_name[name]
    current = out.get(name)
    if not rest and found.is_repeated and value is not None and not isinstance(value, list | tuple):
        # One value for a repeated scalar: its first entry.
        later = list(current[1:]) if isinstance(current, list | tuple) else []
        out[name] = [value, *later]
        return out
    if not rest:
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
        return out
    if found.is_repeated:
        entries = list(current) if isinstance(current, list | tuple) and current else [{}]
        first = entries[0] if isinstance(entries[0], Mapping) else {}
        entries[0] = with_value(found.message_type, first, tuple(rest), value)
        out[name] = entries
    else:
        inner = current if isinstance(current, Mapping) else {}
        out[name] = with_value(found.message_type, inner, tuple(rest), value)
    return out


def unknown_fields(descriptor: Descriptor) -> Any:
    """A strategy of fields the message does not declare, or declared ones with the wrong wire type."""
    declared = {f.number: f for f in descriptor.fields}
    number = st.sampled_from((15, 99, 1000, 2**29 - 1)) | st.integers(1, 2**29 - 1)

    def field_bytes(args: tuple[int, int, int, bytes]) -> bytes:
        field_number, wire_type, n, blob = args
        if field_number in declared and wire_type == _wire_type_of(declared[field_number]):
            wire_type = FIXED32 if wire_type != FIXED32 else FIXED64  # a declared field, but the wrong wire type
        if wire_type == VARINT:
            return tag(field_number, VARINT) + varint(n)
        if wire_type == FIXED64:
            return tag(field_number, FIXED64) + n.to_bytes(8, "little")
        if wire_type == FIXED32:
            return tag(field_number, FIXED32) + (n % 2**32).to_bytes(4, "little")
        return length_delimited(field_number, blob)

    wire_types = st.sampled_from((VARINT, FIXED64, LENGTH_DELIMITED, FIXED32))
    return st.tuples(number, wire_types, st.integers(0, 2**64 - 1), st.binary(max_size=16)).map(field_bytes)


def _wire_type_of(found: FieldDescriptor) -> int:
    if found.type in (_T.TYPE_STRING, _T.TYPE_BYTES, _T.TYPE_MESSAGE) or found.is_repeated:
        return LENGTH_DELIMITED
    if found.type in (_T.TYPE_FIXED64, _T.TYPE_SFIXED64, _T.TYPE_DOUBLE):
        return FIXED64
    if found.type in (_T.TYPE_FIXED32, _T.TYPE_SFIXED32, _T.TYPE_FLOAT):
        return FIXED32
    return VARINT


@st.composite
def requests(draw: st.DrawFn, method: MethodDescriptor, pools: Mapping[str, Sequence[str]]) -> Case:
    """A hostile request to `method`: a plausible one with a few fields made wild, a wild one, truncated or garbage."""
    descriptor = method.input_type
    mode = draw(st.sampled_from(("mutated", "wild", "truncated", "garbage")))
    if mode == "garbage":
        payload = draw(st.binary(max_size=64))
        return Case(method, payload, f"garbage {payload!r}", structured=False)
    values: dict[str, Value] = draw(message_values(descriptor, pools, wild=mode == "wild"))
    paths = tuple(leaf_paths(descriptor))
    if mode != "wild" and paths:  # a request without fields has none to make wild
        for path in draw(st.lists(st.sampled_from(paths), max_size=2, unique=True)):
            new = draw(st.none() | field_values(field_at(descriptor, path), pools, wild=True))
            values = with_value(descriptor, values, path, new)
    suffix = b"".join(draw(st.lists(unknown_fields(descriptor), max_size=2)))
    case = make_case(method, values, mode, suffix)
    if mode == "truncated":
        cut = draw(st.integers(0, max(len(case.payload) - 1, 0)))
        return Case(method, case.payload[:cut], f"{case.what} cut at {cut}", structured=False)
    return case


# ---------------------------------------------------------------- the explicit table


def typical(
    descriptor: Descriptor, pools: Mapping[str, Sequence[str]], entries: int = 1, integer: int = 1, fresh: bool = False
) -> dict[str, Value]:
    """Plausible values for every field: entry i of a repeated field takes the i-th plausible string;
    `fresh` gives ids and keys (fields named *_id, *_key) new UUIDs, so nothing is a duplicate."""
    if fresh:
        pools = {**pools, **{f.name: (str(uuid.uuid4()),) for f in descriptor.fields if _is_identifier(f)}}
    return _typical(descriptor, pools, entries, integer, 0)


def _is_identifier(found: FieldDescriptor) -> bool:
    name: str = found.name
    return found.type == _T.TYPE_STRING and name.endswith(("_id", "_key"))


def _typical(
    descriptor: Descriptor, pools: Mapping[str, Sequence[str]], entries: int, integer: int, index: int
) -> dict[str, Value]:
    values: dict[str, Value] = {}
    for found in descriptor.fields:
        count = entries if found.is_repeated else 1
        made = [_typical_single(found, pools, entries, integer, index + i) for i in range(count)]
        values[found.name] = made if found.is_repeated else made[0]
    return values


def _typical_single(
    found: FieldDescriptor, pools: Mapping[str, Sequence[str]], entries: int, integer: int, index: int
) -> Value:
    if found.type == _T.TYPE_STRING:
        pool = pools.get(found.name, ("fuzz",))
        return pool[index % len(pool)]
    if found.type in _INTEGER_RANGES:
        low, high = _INTEGER_RANGES[found.type]
        return min(max(integer, low), high)
    if found.type == _T.TYPE_ENUM:
        return next((v.number for v in found.enum_type.values if v.number), 0)
    if found.type == _T.TYPE_BOOL:
        return True
    if found.type in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
        return 1.0
    if found.type == _T.TYPE_BYTES:
        return b"fuzz"
    if found.message_type.full_name == TIMESTAMP:
        stamp = to_timestamp(T0)
        assert stamp is not None
        return {"seconds": stamp.seconds, "nanos": stamp.nanos}
    return _typical(found.message_type, pools, entries, integer, index)


def explicit_cases(method: MethodDescriptor, pools: Mapping[str, Sequence[str]]) -> Iterator[Case]:
    """The classes the issue names, for every field they apply to, on a request otherwise plausible."""
    descriptor = method.input_type
    base = typical(descriptor, pools)
    paths = list(leaf_paths(descriptor))
    for path in paths:
        found = field_at(descriptor, path)
        spelled = field_path(descriptor, path)
        if found.type == _T.TYPE_STRING:
            for label, value in (("invalid UTF-8", b"ok\xff"), ("NUL", "ok\x00ok")):
                yield _expect_invalid(make_case(method, with_value(descriptor, base, path, value), label), spelled)
            yield make_case(method, with_value(descriptor, base, path, "é" * LONG), "100k characters")
        if found.type == _T.TYPE_MESSAGE and found.message_type.full_name == TIMESTAMP:
            for label, stamp in (
                ("nanos=-1", {"seconds": 1, "nanos": -1}),
                ("nanos=1e9", {"seconds": 1, "nanos": 1_000_000_000}),
                ("past year 9999", {"seconds": LAST_SECOND + 1}),
                ("before year 1", {"seconds": FIRST_SECOND - 1}),
            ):
                yield _expect_invalid(make_case(method, with_value(descriptor, base, path, stamp), label), spelled)
    if any(field_at(descriptor, p).type in (_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64) for p in paths):
        for extreme in (INT64_MAX, INT64_MIN):
            values = typical(descriptor, pools, entries=3, integer=extreme, fresh=True)
            yield make_case(method, values, f"every int64 {extreme}")
    yield Case(method, b"", "an empty message")
    yield make_case(method, base, "unknown fields of each wire type", _EVERY_UNKNOWN_WIRE_TYPE)
    oversized = length_delimited(2**29 - 1, b"x" * (MAX_MESSAGE + 1))
    yield Case(method, oversized, "over the size limit", expect=grpc.StatusCode.RESOURCE_EXHAUSTED)


_EVERY_UNKNOWN_WIRE_TYPE = (
    tag(1000, VARINT) + varint(2**64 - 1)
    + tag(1001, FIXED64) + b"\xff" * 8
    + length_delimited(1002, b"\xff\xfe not UTF-8, but unknown")
    + tag(1003, FIXED32) + b"\x00" * 4
)  # fmt: skip


def _expect_invalid(case: Case, spelled: str) -> Case:
    assert case.hostile == (spelled,), (case, spelled)  # the table and the oracle agree on the field
    return Case(case.method, case.payload, case.what, case.hostile, case.structured, grpc.StatusCode.INVALID_ARGUMENT)


# ---------------------------------------------------------------- the servers and the judge


@dataclass
class Servers:
    """Both services on port 0 over one database kind, with the catalog and a few records seeded."""

    channels: dict[str, grpc.aio.Channel]
    simulator: RunningSimulator
    pools: dict[str, tuple[str, ...]]

    def cases(self) -> Any:
        """A strategy of hostile requests to every RPC of both services."""
        return st.sampled_from(METHODS).flatmap(lambda method: requests(method, self.pools))


@dataclass(frozen=True)
class Answer:
    """What came back for a case."""

    code: grpc.StatusCode
    message: str = ""
    fields: tuple[str, ...] = ()
    bad_request: bool = False


@pytest.fixture
async def simulator() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator()
    yield running
    await running.stop()


@pytest.fixture
async def servers(
    new_database: NewDatabase, simulator: RunningSimulator, redis_url: str, redis_prefix: str
) -> AsyncIterator[Servers]:
    entitlement = EntitlementApp(
        EntitlementSettings(
            entitlement_database_url=await new_database("entitlement"),
            entitlement_grpc_port=0,
            redis_url=redis_url,
            redis_key_prefix=redis_prefix,
        )
    )
    payment_database = await new_database("payment")
    options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    await entitlement.start()
    try:
        payment = PaymentApp(
            PaymentSettings(
                payment_database_url=payment_database,
                payment_grpc_port=0,
                callback_port=0,
                qpay_base_url=simulator.base_url,
                entitlement_target=f"127.0.0.1:{entitlement.grpc_port}",
                relay_poll_seconds=0.1,
            )
        )
        await payment.start()
        try:
            async with (
                grpc.aio.insecure_channel(f"127.0.0.1:{payment.grpc_port}", options=options) as payment_channel,
                grpc.aio.insecure_channel(f"127.0.0.1:{entitlement.grpc_port}", options=options) as entitlement_channel,
            ):
                channels = {SERVICES[0].full_name: payment_channel, SERVICES[1].full_name: entitlement_channel}
                yield Servers(channels, simulator, await _seed(channels))
        finally:
            await payment.stop()
    finally:
        await entitlement.stop()


async def _seed(channels: Mapping[str, grpc.aio.Channel]) -> dict[str, tuple[str, ...]]:
    """A catalog (two items priced at int64 max), a pending and a paid checkout, an owned item;
    returns the plausible strings of each field name, the ids made here included."""
    payment = PaymentServiceStub(channels[SERVICES[0].full_name])
    entitlement = EntitlementServiceStub(channels[SERVICES[1].full_name])
    for item, amount in CATALOG:
        product = payment_pb2.Product(item=item, title=f"{item.kind} {item.id}", amount=amount, active=True)
        await payment.PutProduct(payment_pb2.PutProductRequest(product=product))
    algebra, free = CATALOG[0][0], CATALOG[1][0]
    pending = await payment.CreateCheckout(
        payment_pb2.CreateCheckoutRequest(idempotency_key="key-1", user_id="user-1", items=[algebra])
    )
    paid = await payment.CreateCheckout(
        payment_pb2.CreateCheckoutRequest(idempotency_key="key-2", user_id="user-2", items=[free])
    )
    await entitlement.ApplyPaymentEvent(
        entitlement_pb2.ApplyPaymentEventRequest(
            event_id=SEEDED_EVENT_ID,
            type=entitlement_pb2.PAYMENT_EVENT_TYPE_COMPLETED,
            payment_id="pay-1",
            user_id="user-1",
            items=[entitlement_pb2.PaidItem(item=algebra, amount=1_500_000)],
            occurred_at=to_timestamp(T0),
        )
    )
    return {
        **PLAUSIBLE_STRINGS,
        "session_id": (pending.session_id, paid.session_id),
        "payment_id": (paid.payment_id, "pay-1"),
    }


async def call(servers: Servers, case: Case) -> Answer:
    """Sends the case's bytes as they are and reads the status, message and BadRequest fields."""
    service = case.method.containing_service.full_name
    channel, path = servers.channels[service], f"/{service}/{case.method.name}"
    try:
        if case.method.server_streaming:  # every message of the stream is read, and each must parse
            raws = [raw async for raw in channel.unary_stream(path)(case.payload, timeout=CALL_TIMEOUT)]
        else:
            raws = [await channel.unary_unary(path)(case.payload, timeout=CALL_TIMEOUT)]
    except grpc.aio.AioRpcError as error:
        fields: list[str] = []
        status = rpc_status.from_call(error)
        for detail in status.details if status else []:
            bad_request = error_details_pb2.BadRequest()
            if detail.Unpack(bad_request):
                fields += [violation.field for violation in bad_request.field_violations]
        return Answer(error.code(), error.details() or "", tuple(fields), bad_request=bool(status and status.details))
    for raw in raws:
        message_factory.GetMessageClass(case.method.output_type).FromString(raw)  # an OK answer parses
    return Answer(grpc.StatusCode.OK)


def problems(case: Case, answer: Answer) -> list[str]:
    """Every way the answer breaks the documented contract (empty when it keeps it)."""
    found: list[str] = []
    code = answer.code
    if code not in ALLOWED:
        found.append(f"undocumented code {code.name}")
    if code == grpc.StatusCode.UNAVAILABLE and not any(u in answer.message.lower() for u in UPSTREAMS):
        found.append("UNAVAILABLE without an upstream named")
    oversized = len(case.payload) > MAX_MESSAGE
    if oversized != (code == grpc.StatusCode.RESOURCE_EXHAUSTED):
        found.append(f"{code.name} for {len(case.payload)} bytes (limit {MAX_MESSAGE})")
    if case.expect is not None and code != case.expect:
        found.append(f"expected {case.expect.name}")
    if case.hostile and not oversized:
        if code != grpc.StatusCode.INVALID_ARGUMENT:
            found.append(f"{code.name} for hostile {', '.join(case.hostile)}")
        elif case.structured and not any(_names(named, hostile) for named in answer.fields for hostile in case.hostile):
            found.append(f"INVALID_ARGUMENT names {list(answer.fields)}, not one of {list(case.hostile)}")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        found += _naming_problems(case, answer)
    return found


def _names(named: str, hostile: str) -> bool:
    """True when `named` is the hostile field or a part of it (a Timestamp's nanos)."""
    return named == hostile or named.startswith(hostile + ".")


def _naming_problems(case: Case, answer: Answer) -> list[str]:
    found = []
    if not answer.message:
        found.append("INVALID_ARGUMENT without a message")
    if case.structured and not answer.fields:
        found.append("INVALID_ARGUMENT without a BadRequest field violation")
    for named in answer.fields:
        if named == WHOLE_REQUEST and not case.structured:
            continue
        if not resolves(case.method.input_type, named):
            found.append(f"BadRequest names {named!r}, not a field of {case.method.input_type.name}")
    if answer.fields and not any(named in answer.message for named in answer.fields):
        found.append(f"message {answer.message[:80]!r} does not name {list(answer.fields)}")
    return found


def tracebacks(records: Sequence[logging.LogRecord]) -> list[str]:
    """The head of each logged traceback: ERROR records with exception info."""
    heads = []
    for record in records:
        if record.levelno >= logging.ERROR and (record.exc_info or "Traceback" in record.getMessage()):
            error = record.exc_info[1] if record.exc_info else None
            heads.append(f"{record.name}: {record.getMessage()[:120]} ({type(error).__name__}: {str(error)[:160]})")
    return heads


async def health_problems(servers: Servers) -> list[str]:
    """Each service that does not answer the standard health check SERVING."""
    found = []
    for name, channel in servers.channels.items():
        try:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=name), timeout=CALL_TIMEOUT
            )
        except grpc.aio.AioRpcError as error:
            found.append(f"{name} health: {error.code().name} {error.details()}")
            continue
        if answer.status != health_pb2.HealthCheckResponse.SERVING:
            found.append(f"{name} health: {health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)}")
    return found


async def judge(servers: Servers, case: Case, caplog: pytest.LogCaptureFixture) -> tuple[Answer, list[str]]:
    """Sends the case; returns the answer and what went wrong: the answer, a traceback in the log, health."""
    logged_before = len(caplog.records)
    answer = await call(servers, case)
    found = problems(case, answer)
    found += [f"traceback in the log: {head}" for head in tracebacks(caplog.records[logged_before:])]
    found += await health_problems(servers)
    if not found:
        return answer, []
    detail = f" {answer.message[:160]!r} fields={list(answer.fields)}" if answer.code != grpc.StatusCode.OK else ""
    return answer, [f"{case!r} -> {answer.code.name}{detail}: " + "; ".join(found)]


# ---------------------------------------------------------------- the tests


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_hostile_requests_to_every_rpc_get_documented_answers(
    servers: Servers, caplog: pytest.LogCaptureFixture, data: st.DataObject
) -> None:
    case = data.draw(servers.cases(), label="case")
    answer, failures = await judge(servers, case, caplog)
    event(f"{case.method.name} {case.what.split()[0]} -> {answer.code.name}")  # --hypothesis-show-statistics
    assert not failures, "\n".join(failures)


async def test_each_named_class_of_bad_input_is_refused_naming_the_field(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    cases = [case for method in METHODS for case in explicit_cases(method, servers.pools)]
    cases.append(_checkout_whose_sum_overflows())
    invoices_before = _invoices_opened(servers)
    failures = [failure for case in cases for failure in (await judge(servers, case, caplog))[1]]
    if _invoices_opened(servers) != invoices_before:
        failures.append("a QPay invoice was opened for a checkout that cannot be stored")
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures)


def _checkout_whose_sum_overflows() -> Case:
    method = SERVICES[0].methods_by_name["CreateCheckout"]
    items: list[Value] = [{"kind": item.kind, "id": item.id} for item in MAX_PRICED]
    values: dict[str, Value] = {"idempotency_key": uuid.uuid4().hex, "user_id": "user-3", "items": items}
    case = make_case(method, values, "two items priced at int64 max")
    return Case(method, case.payload, case.what, expect=grpc.StatusCode.INVALID_ARGUMENT)


def _invoices_opened(servers: Servers) -> int:
    return len(servers.simulator.app[STATE_KEY].invoices)
