"""The request decoder: bad bytes become a refusal naming the field, never an exception."""

from __future__ import annotations

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from paygrant.common.v1 import common_pb2
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.payment.v1 import payment_pb2
from paygrant.request_decoding import (
    MAX_TIMESTAMP_SECONDS,
    RequestDecoder,
    UndecodableRequest,
    _LenientContract,
)

MARKER = "\u2603" * 3  # a string whose UTF-8 bytes are easy to find and corrupt


def _decoder(message_type: type[Message]) -> RequestDecoder:
    return RequestDecoder(message_type.DESCRIPTOR, _LenientContract())


def _corrupt(data: bytes) -> bytes:
    """The same bytes with the marker's UTF-8 replaced by an invalid sequence of the same length."""
    encoded = MARKER.encode()
    assert data.count(encoded) == 1
    return data.replace(encoded, b"\xff" * len(encoded))


def test_a_valid_request_decodes_to_its_message() -> None:
    request = pb.CheckOwnershipRequest(user_id="u-1", item=common_pb2.ItemRef(kind="course", id="c-1"))
    assert _decoder(pb.CheckOwnershipRequest)(request.SerializeToString()) == request


def test_invalid_utf8_is_located_in_a_nested_repeated_field() -> None:
    queries = [pb.OwnershipQuery(user_id="u", item=common_pb2.ItemRef(kind="course", id="ok")) for _ in range(3)]
    queries[2].item.id = MARKER
    data = _corrupt(pb.BatchCheckOwnershipRequest(queries=queries).SerializeToString())
    assert _decoder(pb.BatchCheckOwnershipRequest)(data) == UndecodableRequest(
        "queries[2].item.id", "is not valid UTF-8"
    )


def test_invalid_utf8_in_a_top_level_field() -> None:
    data = _corrupt(payment_pb2.CreateCheckoutRequest(idempotency_key="k", user_id=MARKER).SerializeToString())
    assert _decoder(payment_pb2.CreateCheckoutRequest)(data) == UndecodableRequest("user_id", "is not valid UTF-8")


def test_a_nul_character_is_refused_in_any_string() -> None:
    product = payment_pb2.Product(item=common_pb2.ItemRef(kind="course", id="c"), title="Algebra\x00 I")
    data = payment_pb2.PutProductRequest(product=product).SerializeToString()
    assert _decoder(payment_pb2.PutProductRequest)(data) == UndecodableRequest(
        "product.title", "must not contain NUL characters"
    )


def test_timestamps_outside_the_protobuf_range_are_refused() -> None:
    decode = _decoder(pb.ApplyPaymentEventRequest)
    negative_nanos = pb.ApplyPaymentEventRequest(occurred_at=Timestamp(seconds=1, nanos=-1))
    past_9999 = pb.ApplyPaymentEventRequest(occurred_at=Timestamp(seconds=MAX_TIMESTAMP_SECONDS + 1))
    last_instant = pb.ApplyPaymentEventRequest(occurred_at=Timestamp(seconds=MAX_TIMESTAMP_SECONDS, nanos=999_999_999))
    assert decode(negative_nanos.SerializeToString()) == UndecodableRequest("occurred_at", "nanos must be 0-999999999")
    out_of_range = UndecodableRequest("occurred_at", "must be between years 1 and 9999")
    assert decode(past_9999.SerializeToString()) == out_of_range
    assert decode(last_instant.SerializeToString()) == last_instant


def test_bytes_that_are_no_message_are_refused_as_the_request() -> None:
    refused = _decoder(pb.CheckOwnershipRequest)(b"\x0a\xff\xff\xff")  # a length past the end
    assert isinstance(refused, UndecodableRequest)
    assert refused.field == "request"
    assert "paygrant.entitlement.v1.CheckOwnershipRequest" in refused.problem


def test_a_nul_character_is_found_in_a_request_without_timestamps() -> None:
    queries = [pb.OwnershipQuery(user_id="u", item=common_pb2.ItemRef(kind="course", id="ok")) for _ in range(3)]
    queries[1].user_id = "u\x00"
    data = pb.BatchCheckOwnershipRequest(queries=queries).SerializeToString()
    assert _decoder(pb.BatchCheckOwnershipRequest)(data) == UndecodableRequest(
        "queries[1].user_id", "must not contain NUL characters"
    )
