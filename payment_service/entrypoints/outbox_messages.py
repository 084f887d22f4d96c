"""ListOutboxEvents requests read into checked queries, and outbox rows written as OutboxEvent messages."""

from __future__ import annotations

from paygrant.contract_rules import EventType
from paygrant.payment.v1 import payment_pb2 as pb
from paygrant.timestamps import time_field, to_timestamp
from payment_service.domain.errors import InvalidRequest
from payment_service.domain.outbox import OutboxMessage, OutboxStatus
from payment_service.domain.outbox_listing import OutboxEventQuery, parse_outbox_query

# The status numbers a filter may carry; UNSPECIFIED means any, other numbers are refused naming `status`.
STATUSES: dict[int, OutboxStatus | None] = {
    pb.OUTBOX_EVENT_STATUS_UNSPECIFIED: None,
    pb.OUTBOX_EVENT_STATUS_PENDING: OutboxStatus.PENDING,
    pb.OUTBOX_EVENT_STATUS_SENT: OutboxStatus.SENT,
    pb.OUTBOX_EVENT_STATUS_DEAD: OutboxStatus.DEAD,
}
STATUS_NUMBERS: dict[OutboxStatus, pb.OutboxEventStatus] = {
    OutboxStatus.PENDING: pb.OUTBOX_EVENT_STATUS_PENDING,
    OutboxStatus.SENT: pb.OUTBOX_EVENT_STATUS_SENT,
    OutboxStatus.DEAD: pb.OUTBOX_EVENT_STATUS_DEAD,
}
TYPE_NUMBERS = {
    EventType.PAYMENT_COMPLETED.value: pb.OUTBOX_EVENT_TYPE_PAYMENT_COMPLETED,
    EventType.PAYMENT_REFUNDED.value: pb.OUTBOX_EVENT_TYPE_PAYMENT_REFUNDED,
}


def outbox_query(request: pb.ListOutboxEventsRequest) -> OutboxEventQuery:
    """The query of a ListOutboxEvents request, every field checked."""
    if request.status not in STATUSES:
        raise InvalidRequest("status", f"{request.status} is not a value of OutboxEventStatus")
    return parse_outbox_query(
        STATUSES[request.status],
        time_field(request, "created_before"),
        request.payment_ids,
        request.page_size,
        request.page_token,
    )


def outbox_event(row: OutboxMessage) -> pb.OutboxEvent:
    """An outbox row as the contract shows it."""
    return pb.OutboxEvent(
        event_id=row.event_id,
        type=TYPE_NUMBERS.get(row.event_type, pb.OUTBOX_EVENT_TYPE_UNSPECIFIED),
        payment_id=row.payment_id,
        status=STATUS_NUMBERS[row.status],
        attempts=row.attempts,
        created_at=to_timestamp(row.created_at),
        next_attempt_at=to_timestamp(row.next_attempt_at),
        last_error=row.last_error or "",
        sent_at=to_timestamp(row.sent_at),
    )
