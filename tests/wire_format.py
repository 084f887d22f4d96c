"""A small protobuf wire-format encoder that writes what the protobuf library refuses to.

The library will not serialize a string field holding invalid UTF-8, so a test that must put
such bytes on the wire encodes the message itself: from the message's descriptor, field by
field (varint tags, varints, fixed-width numbers, length-delimited strings, bytes and nested
messages, repeated fields packed where proto3 packs them).

A message is a mapping of field name to value:
- a number (`int`, `bool`, `float`) for a numeric field, encoded as its type says; integers are
  written modulo 2**64, so any int64 or uint64 fits, and enum numbers need not be declared;
- a `str` (UTF-8 encoded) or `bytes` (written as they are, valid UTF-8 or not) for a string field;
- a mapping (encoded recursively) or `bytes` (written as they are) for a message field;
- a list or tuple of such values for a repeated field.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import TypeAlias

from google.protobuf.descriptor import Descriptor, FieldDescriptor

Value: TypeAlias = "bool | int | float | str | bytes | Mapping[str, Value] | Sequence[Value]"

VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
FIXED32 = 5

_T = FieldDescriptor
_VARINT_TYPES = {_T.TYPE_INT32, _T.TYPE_INT64, _T.TYPE_UINT32, _T.TYPE_UINT64, _T.TYPE_BOOL, _T.TYPE_ENUM}
_ZIGZAG_TYPES = {_T.TYPE_SINT32: 32, _T.TYPE_SINT64: 64}
_FIXED64_FORMATS = {_T.TYPE_FIXED64: "<Q", _T.TYPE_SFIXED64: "<q", _T.TYPE_DOUBLE: "<d"}
_FIXED32_FORMATS = {_T.TYPE_FIXED32: "<I", _T.TYPE_SFIXED32: "<i", _T.TYPE_FLOAT: "<f"}
_LENGTH_DELIMITED_TYPES = {_T.TYPE_STRING, _T.TYPE_BYTES, _T.TYPE_MESSAGE}


def varint(value: int) -> bytes:
    """The base-128 varint of `value` taken modulo 2**64 (a negative int64 takes ten bytes, as protobuf writes it)."""
    if not -(2**63) <= value < 2**64:
        raise ValueError(f"{value} does not fit in 64 bits")
    value &= 2**64 - 1
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    """The key of a field: its number and wire type."""
    return varint(number << 3 | wire_type)


def length_delimited(number: int, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes, message, packed repeated) of `payload`."""
    return tag(number, LENGTH_DELIMITED) + varint(len(payload)) + payload


def encode(descriptor: Descriptor, values: Mapping[str, Value]) -> bytes:
    """The wire bytes of a message of type `descriptor` with these field values, in the mapping's order."""
    out = bytearray()
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        if field.is_repeated:
            if not isinstance(value, list | tuple):
                raise TypeError(f"{descriptor.name}.{name} is repeated: give a list, not {type(value).__name__}")
            out += _repeated(field, value)
        else:
            out += _field(field, value)
    return bytes(out)


def _repeated(field: FieldDescriptor, values: Sequence[Value]) -> bytes:
    if field.is_packed and values:
        return length_delimited(field.number, b"".join(_scalar(field, value) for value in values))
    return b"".join(_field(field, value) for value in values)


def _field(field: FieldDescriptor, value: Value) -> bytes:
    if field.type in _LENGTH_DELIMITED_TYPES:
        return length_delimited(field.number, _payload(field, value))
    return tag(field.number, _wire_type(field)) + _scalar(field, value)


def _payload(field: FieldDescriptor, value: Value) -> bytes:
    """The payload of a length-delimited field; bytes are taken as they are."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str) and field.type == _T.TYPE_STRING:
        return value.encode()
    if isinstance(value, Mapping) and field.type == _T.TYPE_MESSAGE:
        return encode(field.message_type, value)
    raise TypeError(f"{field.full_name} cannot hold {type(value).__name__}")


def _wire_type(field: FieldDescriptor) -> int:
    if field.type in _VARINT_TYPES or field.type in _ZIGZAG_TYPES:
        return VARINT
    if field.type in _FIXED64_FORMATS:
        return FIXED64
    if field.type in _FIXED32_FORMATS:
        return FIXED32
    raise TypeError(f"{field.full_name} has unsupported type {field.type}")


def _scalar(field: FieldDescriptor, value: Value) -> bytes:
    """A number without its tag (as it appears alone or inside a packed run)."""
    if not isinstance(value, int | float):
        raise TypeError(f"{field.full_name} is numeric, not {type(value).__name__}")
    if field.type in _VARINT_TYPES:
        return varint(int(value))
    if field.type in _ZIGZAG_TYPES:
        bits = _ZIGZAG_TYPES[field.type]
        number = int(value)
        return varint((number << 1) ^ (number >> (bits - 1)))
    if field.type in _FIXED64_FORMATS:
        return struct.pack(_FIXED64_FORMATS[field.type], value)
    if field.type in _FIXED32_FORMATS:
        return struct.pack(_FIXED32_FORMATS[field.type], value)
    raise TypeError(f"{field.full_name} has unsupported type {field.type}")
