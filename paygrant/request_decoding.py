"""Decodes every request in paygrant's own layer, so bad bytes get INVALID_ARGUMENT naming the field.

grpc decodes a request before the servicer runs, and a decode failure (invalid UTF-8 in a string
field, truncated bytes) would answer UNKNOWN. Each method gets a deserializer here that
never raises: it returns the message, or an `UndecodableRequest` naming the field at fault, which
`refuse_undecodable` answers with INVALID_ARGUMENT. It also applies the rules every field of every
method shares, on SQLite and PostgreSQL alike: no NUL characters in strings (PostgreSQL refuses
them, SQLite stores them), and timestamps within what google.protobuf.Timestamp allows.

To find which string holds invalid UTF-8, the request is parsed once more against a copy of the
contract in which every string field is `bytes`; that only happens for a request that failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from paygrant.grpc_errors import abort
from paygrant.grpc_guards import Context

# What google.protobuf.Timestamp allows: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
MAX_NANOS = 999_999_999
TIMESTAMP = "google.protobuf.Timestamp"


@dataclass(frozen=True)
class UndecodableRequest:
    """Stands in for a request that cannot be served: `field` is the path at fault."""

    field: str
    problem: str


def request_problem(message: Message, prefix: str = "") -> UndecodableRequest | None:
    """The first field of a decoded message that breaks a contract-wide rule, or None."""
    if message.DESCRIPTOR.full_name == TIMESTAMP:
        return _timestamp_problem(message, prefix.rstrip("."))
    for field, value in message.ListFields():
        for path, element in _elements(field, value, prefix):
            if field.type == FieldDescriptor.TYPE_STRING and "\x00" in element:
                return UndecodableRequest(path, "must not contain NUL characters")
            if field.type == FieldDescriptor.TYPE_MESSAGE and (problem := request_problem(element, f"{path}.")):
                return problem
    return None


def _timestamp_problem(timestamp: Any, path: str) -> UndecodableRequest | None:
    if not 0 <= timestamp.nanos <= MAX_NANOS:
        return UndecodableRequest(path, f"nanos must be 0-{MAX_NANOS}")
    if not MIN_TIMESTAMP_SECONDS <= timestamp.seconds <= MAX_TIMESTAMP_SECONDS:
        return UndecodableRequest(path, "must be between years 1 and 9999")
    return None


def _holds_timestamps(descriptor: Descriptor, seen: frozenset[str] = frozenset()) -> bool:
    """True when a message type has a Timestamp field at any depth."""
    if descriptor.full_name == TIMESTAMP:
        return True
    nested = seen | {descriptor.full_name}
    return any(
        field.message_type is not None
        and field.message_type.full_name not in nested
        and _holds_timestamps(field.message_type, nested)
        for field in descriptor.fields
    )


def _elements(field: FieldDescriptor, value: Any, prefix: str) -> Iterable[tuple[str, Any]]:
    """(path, element) of a set field: one for a singular field, one per entry of a repeated one."""
    if field.is_repeated:
        return ((f"{prefix}{field.name}[{index}]", element) for index, element in enumerate(value))
    return ((f"{prefix}{field.name}", value),)


class _LenientContract:
    """The contract with every string field turned into bytes, to locate invalid UTF-8."""

    def __init__(self) -> None:
        self._pool = descriptor_pool.DescriptorPool()
        self._added: set[str] = set()

    def message_class(self, descriptor: Descriptor) -> type[Message]:
        """The lenient twin of a request type."""
        self._add(descriptor.file)
        message_class: type[Message] = message_factory.GetMessageClass(
            self._pool.FindMessageTypeByName(descriptor.full_name)
        )
        return message_class

    def _add(self, file: FileDescriptor) -> None:
        if file.name in self._added:
            return
        for dependency in file.dependencies:
            self._add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        for message in proto.message_type:
            _strings_to_bytes(message)
        self._pool.Add(proto)
        self._added.add(file.name)


def _strings_to_bytes(message: descriptor_pb2.DescriptorProto) -> None:
    for field in message.field:
        if field.type == descriptor_pb2.FieldDescriptorProto.TYPE_STRING and not field.HasField("default_value"):
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
    for nested in message.nested_type:
        _strings_to_bytes(nested)


def _invalid_utf8(lenient: Message, original: Descriptor, prefix: str = "") -> str | None:
    """The path of the first string field (per `original`) whose bytes are not UTF-8."""
    for field, value in lenient.ListFields():
        declared = original.fields_by_name[field.name]
        for path, element in _elements(field, value, prefix):
            if declared.type == FieldDescriptor.TYPE_STRING:
                try:
                    element.decode("utf-8")
                except UnicodeDecodeError:
                    return path
            elif declared.type == FieldDescriptor.TYPE_MESSAGE:
                found = _invalid_utf8(element, declared.message_type, f"{path}.")
                if found is not None:
                    return found
    return None


class RequestDecoder:
    """Decodes one request type; never raises."""

    def __init__(self, descriptor: Descriptor, lenient: _LenientContract) -> None:
        self._descriptor = descriptor
        self._message_class = message_factory.GetMessageClass(descriptor)
        self._lenient = lenient
        self._has_timestamps = _holds_timestamps(descriptor)

    def __call__(self, data: bytes) -> Message | UndecodableRequest:
        try:
            message = self._message_class.FromString(data)
        except DecodeError:
            return self._locate(data)
        # A NUL character is a 0x00 byte on the wire: without one, and without timestamps, no field
        # can break a rule, and the walk (8 µs per query of a batch) is skipped on the hot path.
        if b"\x00" not in data and not self._has_timestamps:
            return message
        return request_problem(message) or message

    def _locate(self, data: bytes) -> UndecodableRequest:
        try:
            lenient = self._lenient.message_class(self._descriptor).FromString(data)
        except DecodeError:
            return UndecodableRequest("request", f"is not a valid {self._descriptor.full_name} message")
        path = _invalid_utf8(lenient, self._descriptor)
        if path is None:
            return UndecodableRequest("request", f"is not a valid {self._descriptor.full_name} message")
        return UndecodableRequest(path, "is not valid UTF-8")


class RequestDecoding:
    """A decoder per method of `services`, and the check that refuses what it could not decode."""

    def __init__(self, services: Iterable[ServiceDescriptor]) -> None:
        lenient = _LenientContract()
        self._decoders = {
            f"/{service.full_name}/{method.name}": RequestDecoder(method.input_type, lenient)
            for service in services
            for method in service.methods
        }

    def decoder_for(self, method: str) -> RequestDecoder | None:
        """The decoder of a method path (/package.Service/Method); None for other services' methods."""
        return self._decoders.get(method)


async def refuse_undecodable(request: Any, context: Context) -> None:
    """Answers INVALID_ARGUMENT naming the field when the request could not be decoded."""
    if isinstance(request, UndecodableRequest):
        await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"{request.field}: {request.problem}", request.field)
