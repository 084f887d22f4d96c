import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from paygrant.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PaymentEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_EVENT_TYPE_UNSPECIFIED: _ClassVar[PaymentEventType]
    PAYMENT_EVENT_TYPE_COMPLETED: _ClassVar[PaymentEventType]
    PAYMENT_EVENT_TYPE_REFUNDED: _ClassVar[PaymentEventType]

class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_UNSPECIFIED: _ClassVar[Source]
    SOURCE_PAID: _ClassVar[Source]
    SOURCE_FREE: _ClassVar[Source]
    SOURCE_ADMIN: _ClassVar[Source]
PAYMENT_EVENT_TYPE_UNSPECIFIED: PaymentEventType
PAYMENT_EVENT_TYPE_COMPLETED: PaymentEventType
PAYMENT_EVENT_TYPE_REFUNDED: PaymentEventType
SOURCE_UNSPECIFIED: Source
SOURCE_PAID: Source
SOURCE_FREE: Source
SOURCE_ADMIN: Source

class PaidItem(_message.Message):
    __slots__ = ("item", "amount")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    item: _common_pb2.ItemRef
    amount: int
    def __init__(self, item: _Optional[_Union[_common_pb2.ItemRef, _Mapping]] = ..., amount: _Optional[int] = ...) -> None: ...

class ApplyPaymentEventRequest(_message.Message):
    __slots__ = ("event_id", "type", "payment_id", "user_id", "items", "occurred_at", "currency")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: PaymentEventType
    payment_id: str
    user_id: str
    items: _containers.RepeatedCompositeFieldContainer[PaidItem]
    occurred_at: _timestamp_pb2.Timestamp
    currency: str
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[_Union[PaymentEventType, str]] = ..., payment_id: _Optional[str] = ..., user_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[PaidItem, _Mapping]]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency: _Optional[str] = ...) -> None: ...

class ApplyPaymentEventResponse(_message.Message):
    __slots__ = ("duplicate",)
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    def __init__(self, duplicate: _Optional[bool] = ...) -> None: ...

class CheckOwnershipRequest(_message.Message):
    __slots__ = ("user_id", "item")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    item: _common_pb2.ItemRef
    def __init__(self, user_id: _Optional[str] = ..., item: _Optional[_Union[_common_pb2.ItemRef, _Mapping]] = ...) -> None: ...

class CheckOwnershipResponse(_message.Message):
    __slots__ = ("owned", "purchased_at", "source")
    OWNED_FIELD_NUMBER: _ClassVar[int]
    PURCHASED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    owned: bool
    purchased_at: _timestamp_pb2.Timestamp
    source: Source
    def __init__(self, owned: _Optional[bool] = ..., purchased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[Source, str]] = ...) -> None: ...

class OwnershipQuery(_message.Message):
    __slots__ = ("user_id", "item")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    item: _common_pb2.ItemRef
    def __init__(self, user_id: _Optional[str] = ..., item: _Optional[_Union[_common_pb2.ItemRef, _Mapping]] = ...) -> None: ...

class BatchCheckOwnershipRequest(_message.Message):
    __slots__ = ("queries",)
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    queries: _containers.RepeatedCompositeFieldContainer[OwnershipQuery]
    def __init__(self, queries: _Optional[_Iterable[_Union[OwnershipQuery, _Mapping]]] = ...) -> None: ...

class OwnershipResult(_message.Message):
    __slots__ = ("query", "owned", "purchased_at", "source")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    OWNED_FIELD_NUMBER: _ClassVar[int]
    PURCHASED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    query: OwnershipQuery
    owned: bool
    purchased_at: _timestamp_pb2.Timestamp
    source: Source
    def __init__(self, query: _Optional[_Union[OwnershipQuery, _Mapping]] = ..., owned: _Optional[bool] = ..., purchased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[Source, str]] = ...) -> None: ...

class BatchCheckOwnershipResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[OwnershipResult]
    def __init__(self, results: _Optional[_Iterable[_Union[OwnershipResult, _Mapping]]] = ...) -> None: ...

class ListEntitlementsRequest(_message.Message):
    __slots__ = ("user_id", "kind")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    kind: str
    def __init__(self, user_id: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class Entitlement(_message.Message):
    __slots__ = ("item", "purchased_at", "source", "payment_id")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    PURCHASED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    item: _common_pb2.ItemRef
    purchased_at: _timestamp_pb2.Timestamp
    source: Source
    payment_id: str
    def __init__(self, item: _Optional[_Union[_common_pb2.ItemRef, _Mapping]] = ..., purchased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[Source, str]] = ..., payment_id: _Optional[str] = ...) -> None: ...

class ListEntitlementsResponse(_message.Message):
    __slots__ = ("entitlements",)
    ENTITLEMENTS_FIELD_NUMBER: _ClassVar[int]
    entitlements: _containers.RepeatedCompositeFieldContainer[Entitlement]
    def __init__(self, entitlements: _Optional[_Iterable[_Union[Entitlement, _Mapping]]] = ...) -> None: ...
