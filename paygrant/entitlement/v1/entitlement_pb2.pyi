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

class Consistency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSISTENCY_UNSPECIFIED: _ClassVar[Consistency]
    CONSISTENCY_MINIMIZE_LATENCY: _ClassVar[Consistency]
    CONSISTENCY_FULLY_CONSISTENT: _ClassVar[Consistency]

class PurchaseStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURCHASE_STATUS_UNSPECIFIED: _ClassVar[PurchaseStatus]
    PURCHASE_STATUS_ACTIVE: _ClassVar[PurchaseStatus]
    PURCHASE_STATUS_REVOKED: _ClassVar[PurchaseStatus]

class Granularity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANULARITY_UNSPECIFIED: _ClassVar[Granularity]
    GRANULARITY_DAY: _ClassVar[Granularity]
    GRANULARITY_MONTH: _ClassVar[Granularity]

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
CONSISTENCY_UNSPECIFIED: Consistency
CONSISTENCY_MINIMIZE_LATENCY: Consistency
CONSISTENCY_FULLY_CONSISTENT: Consistency
PURCHASE_STATUS_UNSPECIFIED: PurchaseStatus
PURCHASE_STATUS_ACTIVE: PurchaseStatus
PURCHASE_STATUS_REVOKED: PurchaseStatus
GRANULARITY_UNSPECIFIED: Granularity
GRANULARITY_DAY: Granularity
GRANULARITY_MONTH: Granularity
PAYMENT_EVENT_TYPE_UNSPECIFIED: PaymentEventType
PAYMENT_EVENT_TYPE_COMPLETED: PaymentEventType
PAYMENT_EVENT_TYPE_REFUNDED: PaymentEventType
SOURCE_UNSPECIFIED: Source
SOURCE_PAID: Source
SOURCE_FREE: Source
SOURCE_ADMIN: Source

class Purchase(_message.Message):
    __slots__ = ("purchase_id", "user_id", "item", "source", "status", "payment_id", "amount", "currency", "purchased_at", "revoked_at", "reason", "actor", "double_purchase", "revoke_reason", "revoked_by")
    PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    PURCHASED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_PURCHASE_FIELD_NUMBER: _ClassVar[int]
    REVOKE_REASON_FIELD_NUMBER: _ClassVar[int]
    REVOKED_BY_FIELD_NUMBER: _ClassVar[int]
    purchase_id: str
    user_id: str
    item: _common_pb2.ItemRef
    source: Source
    status: PurchaseStatus
    payment_id: str
    amount: int
    currency: str
    purchased_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    reason: str
    actor: str
    double_purchase: bool
    revoke_reason: str
    revoked_by: str
    def __init__(self, purchase_id: _Optional[str] = ..., user_id: _Optional[str] = ..., item: _Optional[_Union[_common_pb2.ItemRef, _Mapping]] = ..., source: _Optional[_Union[Source, str]] = ..., status: _Optional[_Union[PurchaseStatus, str]] = ..., payment_id: _Optional[str] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ..., purchased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., double_purchase: _Optional[bool] = ..., revoke_reason: _Optional[str] = ..., revoked_by: _Optional[str] = ...) -> None: ...

class GrantEntitlementRequest(_message.Message):
    __slots__ = ("user_id", "item", "reason", "actor", "idempotency_key", "source")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    item: _common_pb2.ItemRef
    reason: str
    actor: str
    idempotency_key: str
    source: Source
    def __init__(self, user_id: _Optional[str] = ..., item: _Optional[_Union[_common_pb2.ItemRef, _Mapping]] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., source: _Optional[_Union[Source, str]] = ...) -> None: ...

class GrantEntitlementResponse(_message.Message):
    __slots__ = ("purchase", "duplicate")
    PURCHASE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    purchase: Purchase
    duplicate: bool
    def __init__(self, purchase: _Optional[_Union[Purchase, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class RevokeEntitlementRequest(_message.Message):
    __slots__ = ("user_id", "item", "reason", "actor", "idempotency_key")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    item: _common_pb2.ItemRef
    reason: str
    actor: str
    idempotency_key: str
    def __init__(self, user_id: _Optional[str] = ..., item: _Optional[_Union[_common_pb2.ItemRef, _Mapping]] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RevokeEntitlementResponse(_message.Message):
    __slots__ = ("revoked", "duplicate", "still_owned")
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    STILL_OWNED_FIELD_NUMBER: _ClassVar[int]
    revoked: _containers.RepeatedCompositeFieldContainer[Purchase]
    duplicate: bool
    still_owned: bool
    def __init__(self, revoked: _Optional[_Iterable[_Union[Purchase, _Mapping]]] = ..., duplicate: _Optional[bool] = ..., still_owned: _Optional[bool] = ...) -> None: ...

class ListPurchasesRequest(_message.Message):
    __slots__ = ("user_id", "kind", "status", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    kind: str
    status: PurchaseStatus
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[_Union[PurchaseStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPurchasesResponse(_message.Message):
    __slots__ = ("purchases", "next_page_token")
    PURCHASES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    purchases: _containers.RepeatedCompositeFieldContainer[Purchase]
    next_page_token: str
    def __init__(self, purchases: _Optional[_Iterable[_Union[Purchase, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPurchaseStatsRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "granularity", "kind", "top_items")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TOP_ITEMS_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    granularity: Granularity
    kind: str
    top_items: int
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[_Union[Granularity, str]] = ..., kind: _Optional[str] = ..., top_items: _Optional[int] = ...) -> None: ...

class Tally(_message.Message):
    __slots__ = ("amount", "count")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    amount: int
    count: int
    def __init__(self, amount: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class KindTally(_message.Message):
    __slots__ = ("kind", "tally")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TALLY_FIELD_NUMBER: _ClassVar[int]
    kind: str
    tally: Tally
    def __init__(self, kind: _Optional[str] = ..., tally: _Optional[_Union[Tally, _Mapping]] = ...) -> None: ...

class SourceTally(_message.Message):
    __slots__ = ("source", "tally")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TALLY_FIELD_NUMBER: _ClassVar[int]
    source: Source
    tally: Tally
    def __init__(self, source: _Optional[_Union[Source, str]] = ..., tally: _Optional[_Union[Tally, _Mapping]] = ...) -> None: ...

class ItemTally(_message.Message):
    __slots__ = ("item", "tally")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    TALLY_FIELD_NUMBER: _ClassVar[int]
    item: _common_pb2.ItemRef
    tally: Tally
    def __init__(self, item: _Optional[_Union[_common_pb2.ItemRef, _Mapping]] = ..., tally: _Optional[_Union[Tally, _Mapping]] = ...) -> None: ...

class PeriodStats(_message.Message):
    __slots__ = ("period_start", "currency", "purchases", "refunds", "by_kind", "by_source", "top_items")
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    PURCHASES_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    BY_KIND_FIELD_NUMBER: _ClassVar[int]
    BY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    TOP_ITEMS_FIELD_NUMBER: _ClassVar[int]
    period_start: _timestamp_pb2.Timestamp
    currency: str
    purchases: Tally
    refunds: Tally
    by_kind: _containers.RepeatedCompositeFieldContainer[KindTally]
    by_source: _containers.RepeatedCompositeFieldContainer[SourceTally]
    top_items: _containers.RepeatedCompositeFieldContainer[ItemTally]
    def __init__(self, period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency: _Optional[str] = ..., purchases: _Optional[_Union[Tally, _Mapping]] = ..., refunds: _Optional[_Union[Tally, _Mapping]] = ..., by_kind: _Optional[_Iterable[_Union[KindTally, _Mapping]]] = ..., by_source: _Optional[_Iterable[_Union[SourceTally, _Mapping]]] = ..., top_items: _Optional[_Iterable[_Union[ItemTally, _Mapping]]] = ...) -> None: ...

class GetPurchaseStatsResponse(_message.Message):
    __slots__ = ("periods",)
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    periods: _containers.RepeatedCompositeFieldContainer[PeriodStats]
    def __init__(self, periods: _Optional[_Iterable[_Union[PeriodStats, _Mapping]]] = ...) -> None: ...

class StreamPurchasesRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "after_key", "batch_size", "user_id")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    AFTER_KEY_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    after_key: str
    batch_size: int
    user_id: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., after_key: _Optional[str] = ..., batch_size: _Optional[int] = ..., user_id: _Optional[str] = ...) -> None: ...

class RevokePurchaseRequest(_message.Message):
    __slots__ = ("purchase_id", "reason", "actor")
    PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    purchase_id: str
    reason: str
    actor: str
    def __init__(self, purchase_id: _Optional[str] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class RevokePurchaseResponse(_message.Message):
    __slots__ = ("purchase", "changed")
    PURCHASE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    purchase: Purchase
    changed: bool
    def __init__(self, purchase: _Optional[_Union[Purchase, _Mapping]] = ..., changed: _Optional[bool] = ...) -> None: ...

class PurchaseBatch(_message.Message):
    __slots__ = ("purchases", "last_key")
    PURCHASES_FIELD_NUMBER: _ClassVar[int]
    LAST_KEY_FIELD_NUMBER: _ClassVar[int]
    purchases: _containers.RepeatedCompositeFieldContainer[Purchase]
    last_key: str
    def __init__(self, purchases: _Optional[_Iterable[_Union[Purchase, _Mapping]]] = ..., last_key: _Optional[str] = ...) -> None: ...

class PaidItem(_message.Message):
    __slots__ = ("item", "amount")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    item: _common_pb2.ItemRef
    amount: int
    def __init__(self, item: _Optional[_Union[_common_pb2.ItemRef, _Mapping]] = ..., amount: _Optional[int] = ...) -> None: ...

class ApplyPaymentEventRequest(_message.Message):
    __slots__ = ("event_id", "type", "payment_id", "user_id", "items", "occurred_at", "currency", "request_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: PaymentEventType
    payment_id: str
    user_id: str
    items: _containers.RepeatedCompositeFieldContainer[PaidItem]
    occurred_at: _timestamp_pb2.Timestamp
    currency: str
    request_id: str
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[_Union[PaymentEventType, str]] = ..., payment_id: _Optional[str] = ..., user_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[PaidItem, _Mapping]]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ApplyPaymentEventResponse(_message.Message):
    __slots__ = ("duplicate",)
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    def __init__(self, duplicate: _Optional[bool] = ...) -> None: ...

class ApplyPaymentEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ApplyPaymentEventRequest]
    def __init__(self, events: _Optional[_Iterable[_Union[ApplyPaymentEventRequest, _Mapping]]] = ...) -> None: ...

class EventError(_message.Message):
    __slots__ = ("field", "description")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    field: str
    description: str
    def __init__(self, field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ApplyPaymentEventResult(_message.Message):
    __slots__ = ("event_id", "duplicate", "error")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    duplicate: bool
    error: EventError
    def __init__(self, event_id: _Optional[str] = ..., duplicate: _Optional[bool] = ..., error: _Optional[_Union[EventError, _Mapping]] = ...) -> None: ...

class ApplyPaymentEventsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ApplyPaymentEventResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ApplyPaymentEventResult, _Mapping]]] = ...) -> None: ...

class CheckOwnershipRequest(_message.Message):
    __slots__ = ("user_id", "item", "consistency")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    item: _common_pb2.ItemRef
    consistency: Consistency
    def __init__(self, user_id: _Optional[str] = ..., item: _Optional[_Union[_common_pb2.ItemRef, _Mapping]] = ..., consistency: _Optional[_Union[Consistency, str]] = ...) -> None: ...

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
    __slots__ = ("queries", "consistency")
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    queries: _containers.RepeatedCompositeFieldContainer[OwnershipQuery]
    consistency: Consistency
    def __init__(self, queries: _Optional[_Iterable[_Union[OwnershipQuery, _Mapping]]] = ..., consistency: _Optional[_Union[Consistency, str]] = ...) -> None: ...

class QueryError(_message.Message):
    __slots__ = ("field", "description")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    field: str
    description: str
    def __init__(self, field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class OwnershipResult(_message.Message):
    __slots__ = ("query", "owned", "purchased_at", "source", "error")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    OWNED_FIELD_NUMBER: _ClassVar[int]
    PURCHASED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    query: OwnershipQuery
    owned: bool
    purchased_at: _timestamp_pb2.Timestamp
    source: Source
    error: QueryError
    def __init__(self, query: _Optional[_Union[OwnershipQuery, _Mapping]] = ..., owned: _Optional[bool] = ..., purchased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[Source, str]] = ..., error: _Optional[_Union[QueryError, _Mapping]] = ...) -> None: ...

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
