"""The test-only protobuf encoder writes what protobuf itself parses back to the same message."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from paygrant.entitlement.v1 import entitlement_pb2 as pb
from tests.wire_format import FIXED32, Value, encode, tag, varint

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def test_a_valid_message_parses_back_equal() -> None:
    values: dict[str, Value] = {
        "event_id": "0b3f0a52-7f4e-4bde-9b0e-7c1a2d9c6c11",
        "type": pb.PAYMENT_EVENT_TYPE_COMPLETED,
        "payment_id": "pay-1",
        "user_id": "user-ü-1",
        "items": [
            {"item": {"kind": "course", "id": "algebra-1"}, "amount": INT64_MAX},
            {"item": {"kind": "test"}, "amount": INT64_MIN},
            {"amount": -1},
        ],
        "occurred_at": {"seconds": 1_740_830_400, "nanos": 999_999_999},
        "currency": "MNT",
    }
    expected = pb.ApplyPaymentEventRequest(
        event_id="0b3f0a52-7f4e-4bde-9b0e-7c1a2d9c6c11",
        type=pb.PAYMENT_EVENT_TYPE_COMPLETED,
        payment_id="pay-1",
        user_id="user-ü-1",
        items=[
            pb.PaidItem(item={"kind": "course", "id": "algebra-1"}, amount=INT64_MAX),
            pb.PaidItem(item={"kind": "test"}, amount=INT64_MIN),
            pb.PaidItem(amount=-1),
        ],
        occurred_at={"seconds": 1_740_830_400, "nanos": 999_999_999},
        currency="MNT",
    )
    encoded = encode(pb.ApplyPaymentEventRequest.DESCRIPTOR, values)
    assert pb.ApplyPaymentEventRequest.FromString(encoded) == expected
    assert encoded == expected.SerializeToString()  # same field order, no default values: the same bytes


def test_negative_int32_and_out_of_range_enum_numbers_round_trip() -> None:
    encoded = encode(pb.ApplyPaymentEventRequest.DESCRIPTOR, {"type": 99, "occurred_at": {"nanos": -1}})
    parsed = pb.ApplyPaymentEventRequest.FromString(encoded)
    assert (parsed.type, parsed.occurred_at.nanos) == (99, -1)


def _all_types() -> type[Message]:
    """A proto3 message with a singular and a repeated field of every scalar type, built at run time."""
    file = descriptor_pb2.FileDescriptorProto(name="wire_format_test.proto", package="wiretest", syntax="proto3")
    message = file.message_type.add(name="AllTypes")
    for number, name in enumerate(SCALAR_TYPES, start=1):
        kind = getattr(descriptor_pb2.FieldDescriptorProto, f"TYPE_{name.upper()}")
        message.field.add(name=name, number=2 * number - 1, type=kind, label=OPTIONAL)
        message.field.add(name=f"{name}s", number=2 * number, type=kind, label=REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    made: type[Message] = message_factory.GetMessageClass(pool.FindMessageTypeByName("wiretest.AllTypes"))
    return made


SCALAR_TYPES: dict[str, tuple[Value, Value]] = {
    "double": (-1.5, 2.0**70),
    "float": (0.25, -8.0),
    "int64": (INT64_MIN, INT64_MAX),
    "uint64": (2**64 - 1, 0),
    "int32": (-(2**31), 2**31 - 1),
    "fixed64": (2**64 - 1, 1),
    "fixed32": (2**32 - 1, 7),
    "bool": (True, False),
    "string": ("ü", ""),
    "bytes": (b"\x00\xff", b""),
    "uint32": (2**32 - 1, 0),
    "sfixed32": (-(2**31), 5),
    "sfixed64": (INT64_MIN, -1),
    "sint32": (-(2**31), 2**31 - 1),
    "sint64": (INT64_MIN, INT64_MAX),
}
OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
ALL_TYPES = _all_types()


@pytest.mark.parametrize("name", SCALAR_TYPES)
def test_every_scalar_type_round_trips_singular_and_repeated(name: str) -> None:
    first, second = SCALAR_TYPES[name]
    values: dict[str, Value] = {name: first, f"{name}s": [first, second, first]}
    expected = ALL_TYPES(**values)
    encoded = encode(ALL_TYPES.DESCRIPTOR, values)
    assert ALL_TYPES.FromString(encoded) == expected
    assert encoded == expected.SerializeToString()  # repeated numbers packed, as proto3 packs them (none is 0)


def test_invalid_utf8_reaches_the_wire_where_protobuf_refuses_it() -> None:
    encoded = encode(pb.CheckOwnershipRequest.DESCRIPTOR, {"user_id": b"\xff\xfe", "item": {"kind": b"\xc0\x80"}})
    with pytest.raises(DecodeError):
        pb.CheckOwnershipRequest.FromString(encoded)


def test_an_explicit_empty_string_parses_as_unset() -> None:
    encoded = encode(pb.CheckOwnershipRequest.DESCRIPTOR, {"user_id": ""})
    assert encoded == b"\x0a\x00"
    assert pb.CheckOwnershipRequest.FromString(encoded) == pb.CheckOwnershipRequest()


def test_varints_and_tags_are_protobufs() -> None:
    assert varint(0) == b"\x00"
    assert varint(300) == b"\xac\x02"
    assert varint(-1) == b"\xff" * 9 + b"\x01"
    assert tag(1, FIXED32) == b"\x0d"
    with pytest.raises(ValueError):
        varint(2**64)
