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

class CheckoutStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECKOUT_STATUS_UNSPECIFIED: _ClassVar[CheckoutStatus]
    CHECKOUT_STATUS_PENDING: _ClassVar[CheckoutStatus]
    CHECKOUT_STATUS_PAID: _ClassVar[CheckoutStatus]
    CHECKOUT_STATUS_EXPIRED: _ClassVar[CheckoutStatus]
    CHECKOUT_STATUS_CANCELLED: _ClassVar[CheckoutStatus]

class PaymentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_STATUS_UNSPECIFIED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_PAID: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_REFUNDED: _ClassVar[PaymentStatus]

class PaymentOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_OUTCOME_UNSPECIFIED: _ClassVar[PaymentOutcome]
    PAYMENT_OUTCOME_GRANTED: _ClassVar[PaymentOutcome]
    PAYMENT_OUTCOME_SHORT: _ClassVar[PaymentOutcome]
    PAYMENT_OUTCOME_DUPLICATE: _ClassVar[PaymentOutcome]

class OutboxEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTBOX_EVENT_TYPE_UNSPECIFIED: _ClassVar[OutboxEventType]
    OUTBOX_EVENT_TYPE_PAYMENT_COMPLETED: _ClassVar[OutboxEventType]
    OUTBOX_EVENT_TYPE_PAYMENT_REFUNDED: _ClassVar[OutboxEventType]

class OutboxEventStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTBOX_EVENT_STATUS_UNSPECIFIED: _ClassVar[OutboxEventStatus]
    OUTBOX_EVENT_STATUS_PENDING: _ClassVar[OutboxEventStatus]
    OUTBOX_EVENT_STATUS_SENT: _ClassVar[OutboxEventStatus]
    OUTBOX_EVENT_STATUS_DEAD: _ClassVar[OutboxEventStatus]
CHECKOUT_STATUS_UNSPECIFIED: CheckoutStatus
CHECKOUT_STATUS_PENDING: CheckoutStatus
CHECKOUT_STATUS_PAID: CheckoutStatus
CHECKOUT_STATUS_EXPIRED: CheckoutStatus
CHECKOUT_STATUS_CANCELLED: CheckoutStatus
PAYMENT_STATUS_UNSPECIFIED: PaymentStatus
PAYMENT_STATUS_PAID: PaymentStatus
PAYMENT_STATUS_REFUNDED: PaymentStatus
PAYMENT_OUTCOME_UNSPECIFIED: PaymentOutcome
PAYMENT_OUTCOME_GRANTED: PaymentOutcome
PAYMENT_OUTCOME_SHORT: PaymentOutcome
PAYMENT_OUTCOME_DUPLICATE: PaymentOutcome
OUTBOX_EVENT_TYPE_UNSPECIFIED: OutboxEventType
OUTBOX_EVENT_TYPE_PAYMENT_COMPLETED: OutboxEventType
OUTBOX_EVENT_TYPE_PAYMENT_REFUNDED: OutboxEventType
OUTBOX_EVENT_STATUS_UNSPECIFIED: OutboxEventStatus
OUTBOX_EVENT_STATUS_PENDING: OutboxEventStatus
OUTBOX_EVENT_STATUS_SENT: OutboxEventStatus
OUTBOX_EVENT_STATUS_DEAD: OutboxEventStatus

class Product(_message.Message):
    __slots__ = ("item", "title", "amount", "currency", "active", "updated_at")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    item: _common_pb2.ItemRef
    title: str
    amount: int
    currency: str
    active: bool
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, item: _Optional[_Union[_common_pb2.ItemRef, _Mapping]] = ..., title: _Optional[str] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ..., active: _Optional[bool] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PutProductRequest(_message.Message):
    __slots__ = ("product",)
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    product: Product
    def __init__(self, product: _Optional[_Union[Product, _Mapping]] = ...) -> None: ...

class ListProductsRequest(_message.Message):
    __slots__ = ("kind", "include_inactive")
    KIND_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    include_inactive: bool
    def __init__(self, kind: _Optional[str] = ..., include_inactive: _Optional[bool] = ...) -> None: ...

class ListProductsResponse(_message.Message):
    __slots__ = ("products",)
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[Product]
    def __init__(self, products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ...) -> None: ...

class CreateCheckoutRequest(_message.Message):
    __slots__ = ("idempotency_key", "user_id", "items")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    user_id: str
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemRef]
    def __init__(self, idempotency_key: _Optional[str] = ..., user_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[_common_pb2.ItemRef, _Mapping]]] = ...) -> None: ...

class CheckoutLine(_message.Message):
    __slots__ = ("item", "title", "amount")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    item: _common_pb2.ItemRef
    title: str
    amount: int
    def __init__(self, item: _Optional[_Union[_common_pb2.ItemRef, _Mapping]] = ..., title: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class Deeplink(_message.Message):
    __slots__ = ("name", "link")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    name: str
    link: str
    def __init__(self, name: _Optional[str] = ..., link: _Optional[str] = ...) -> None: ...

class Invoice(_message.Message):
    __slots__ = ("invoice_id", "qr_text", "qr_image", "short_url", "deeplinks")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    QR_TEXT_FIELD_NUMBER: _ClassVar[int]
    QR_IMAGE_FIELD_NUMBER: _ClassVar[int]
    SHORT_URL_FIELD_NUMBER: _ClassVar[int]
    DEEPLINKS_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    qr_text: str
    qr_image: str
    short_url: str
    deeplinks: _containers.RepeatedCompositeFieldContainer[Deeplink]
    def __init__(self, invoice_id: _Optional[str] = ..., qr_text: _Optional[str] = ..., qr_image: _Optional[str] = ..., short_url: _Optional[str] = ..., deeplinks: _Optional[_Iterable[_Union[Deeplink, _Mapping]]] = ...) -> None: ...

class Checkout(_message.Message):
    __slots__ = ("session_id", "status", "amount", "currency", "invoice", "expires_at", "user_id", "lines", "created_at", "payment_id", "received_amount", "cancelled_at")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_AT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    status: CheckoutStatus
    amount: int
    currency: str
    invoice: Invoice
    expires_at: _timestamp_pb2.Timestamp
    user_id: str
    lines: _containers.RepeatedCompositeFieldContainer[CheckoutLine]
    created_at: _timestamp_pb2.Timestamp
    payment_id: str
    received_amount: int
    cancelled_at: _timestamp_pb2.Timestamp
    def __init__(self, session_id: _Optional[str] = ..., status: _Optional[_Union[CheckoutStatus, str]] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ..., invoice: _Optional[_Union[Invoice, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., user_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[CheckoutLine, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., payment_id: _Optional[str] = ..., received_amount: _Optional[int] = ..., cancelled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetCheckoutRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CheckPaymentRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CancelCheckoutRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class GetOutboxStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class OutboxState(_message.Message):
    __slots__ = ("pending", "sent", "dead", "oldest_pending_created_at", "session_cache_fallbacks")
    PENDING_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    DEAD_FIELD_NUMBER: _ClassVar[int]
    OLDEST_PENDING_CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SESSION_CACHE_FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    pending: int
    sent: int
    dead: int
    oldest_pending_created_at: _timestamp_pb2.Timestamp
    session_cache_fallbacks: int
    def __init__(self, pending: _Optional[int] = ..., sent: _Optional[int] = ..., dead: _Optional[int] = ..., oldest_pending_created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_cache_fallbacks: _Optional[int] = ...) -> None: ...

class GetPaymentRequest(_message.Message):
    __slots__ = ("payment_id",)
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    def __init__(self, payment_id: _Optional[str] = ...) -> None: ...

class Payment(_message.Message):
    __slots__ = ("payment_id", "qpay_payment_id", "session_id", "user_id", "status", "amount", "currency", "lines", "paid_at", "outcome", "late", "overpaid", "refund_due", "refund")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    QPAY_PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    PAID_AT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    OVERPAID_FIELD_NUMBER: _ClassVar[int]
    REFUND_DUE_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    qpay_payment_id: str
    session_id: str
    user_id: str
    status: PaymentStatus
    amount: int
    currency: str
    lines: _containers.RepeatedCompositeFieldContainer[CheckoutLine]
    paid_at: _timestamp_pb2.Timestamp
    outcome: PaymentOutcome
    late: bool
    overpaid: bool
    refund_due: bool
    refund: Refund
    def __init__(self, payment_id: _Optional[str] = ..., qpay_payment_id: _Optional[str] = ..., session_id: _Optional[str] = ..., user_id: _Optional[str] = ..., status: _Optional[_Union[PaymentStatus, str]] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[CheckoutLine, _Mapping]]] = ..., paid_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[_Union[PaymentOutcome, str]] = ..., late: _Optional[bool] = ..., overpaid: _Optional[bool] = ..., refund_due: _Optional[bool] = ..., refund: _Optional[_Union[Refund, _Mapping]] = ...) -> None: ...

class Refund(_message.Message):
    __slots__ = ("refunded_at", "reason", "refunded_by", "external")
    REFUNDED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_BY_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_FIELD_NUMBER: _ClassVar[int]
    refunded_at: _timestamp_pb2.Timestamp
    reason: str
    refunded_by: str
    external: bool
    def __init__(self, refunded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., refunded_by: _Optional[str] = ..., external: _Optional[bool] = ...) -> None: ...

class RefundPaymentRequest(_message.Message):
    __slots__ = ("payment_id", "reason", "idempotency_key", "external", "actor")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    reason: str
    idempotency_key: str
    external: bool
    actor: str
    def __init__(self, payment_id: _Optional[str] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., external: _Optional[bool] = ..., actor: _Optional[str] = ...) -> None: ...

class ListPaymentsRequest(_message.Message):
    __slots__ = ("user_id", "session_id", "outcome", "late", "refund_due", "paid_from", "paid_to", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    REFUND_DUE_FIELD_NUMBER: _ClassVar[int]
    PAID_FROM_FIELD_NUMBER: _ClassVar[int]
    PAID_TO_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    session_id: str
    outcome: PaymentOutcome
    late: bool
    refund_due: bool
    paid_from: _timestamp_pb2.Timestamp
    paid_to: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., outcome: _Optional[_Union[PaymentOutcome, str]] = ..., late: _Optional[bool] = ..., refund_due: _Optional[bool] = ..., paid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., paid_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPaymentsResponse(_message.Message):
    __slots__ = ("payments", "next_page_token")
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    payments: _containers.RepeatedCompositeFieldContainer[Payment]
    next_page_token: str
    def __init__(self, payments: _Optional[_Iterable[_Union[Payment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StreamPaymentsRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "after_key", "batch_size", "with_lines", "user_id")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    AFTER_KEY_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    WITH_LINES_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    after_key: str
    batch_size: int
    with_lines: bool
    user_id: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., after_key: _Optional[str] = ..., batch_size: _Optional[int] = ..., with_lines: _Optional[bool] = ..., user_id: _Optional[str] = ...) -> None: ...

class PaymentBatch(_message.Message):
    __slots__ = ("payments", "last_key")
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    LAST_KEY_FIELD_NUMBER: _ClassVar[int]
    payments: _containers.RepeatedCompositeFieldContainer[Payment]
    last_key: str
    def __init__(self, payments: _Optional[_Iterable[_Union[Payment, _Mapping]]] = ..., last_key: _Optional[str] = ...) -> None: ...

class OutboxEvent(_message.Message):
    __slots__ = ("event_id", "type", "payment_id", "status", "attempts", "created_at", "next_attempt_at", "last_error", "sent_at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: OutboxEventType
    payment_id: str
    status: OutboxEventStatus
    attempts: int
    created_at: _timestamp_pb2.Timestamp
    next_attempt_at: _timestamp_pb2.Timestamp
    last_error: str
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[_Union[OutboxEventType, str]] = ..., payment_id: _Optional[str] = ..., status: _Optional[_Union[OutboxEventStatus, str]] = ..., attempts: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListOutboxEventsRequest(_message.Message):
    __slots__ = ("status", "created_before", "payment_ids", "page_size", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: OutboxEventStatus
    created_before: _timestamp_pb2.Timestamp
    payment_ids: _containers.RepeatedScalarFieldContainer[str]
    page_size: int
    page_token: str
    def __init__(self, status: _Optional[_Union[OutboxEventStatus, str]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., payment_ids: _Optional[_Iterable[str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOutboxEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[OutboxEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[OutboxEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RetryOutboxEventsRequest(_message.Message):
    __slots__ = ("event_ids",)
    EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    event_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, event_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RetryOutboxEventsResponse(_message.Message):
    __slots__ = ("retried",)
    RETRIED_FIELD_NUMBER: _ClassVar[int]
    retried: int
    def __init__(self, retried: _Optional[int] = ...) -> None: ...

class ResendPaymentEventRequest(_message.Message):
    __slots__ = ("payment_id",)
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    def __init__(self, payment_id: _Optional[str] = ...) -> None: ...

class LookupQpayPaymentsRequest(_message.Message):
    __slots__ = ("qpay_payment_ids",)
    QPAY_PAYMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    qpay_payment_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, qpay_payment_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class LookupQpayPaymentsResponse(_message.Message):
    __slots__ = ("payments",)
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    payments: _containers.RepeatedCompositeFieldContainer[Payment]
    def __init__(self, payments: _Optional[_Iterable[_Union[Payment, _Mapping]]] = ...) -> None: ...
