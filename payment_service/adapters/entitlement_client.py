"""gRPC client of the entitlement service: applies batches of outbox events and asks about ownership."""

from __future__ import annotations

import re
from collections.abc import Sequence

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from paygrant.common.v1 import common_pb2
from paygrant.contract_rules import EventType
from paygrant.entitlement.v1 import entitlement_pb2, entitlement_pb2_grpc
from paygrant.grpc_channel import ChannelSecurity, open_channel
from paygrant.request_id import outgoing_metadata
from payment_service.domain.catalog import ItemRef
from payment_service.domain.errors import DeliveryFailed, UpstreamRejected, UpstreamUnavailable
from payment_service.domain.events import PaymentEvent

_EVENT_TYPES = {
    EventType.PAYMENT_COMPLETED: entitlement_pb2.PAYMENT_EVENT_TYPE_COMPLETED,
    EventType.PAYMENT_REFUNDED: entitlement_pb2.PAYMENT_EVENT_TYPE_REFUNDED,
}
# Statuses that no retry can fix: the event itself is wrong.
_PERMANENT = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNIMPLEMENTED}
# A field of one event of a batch, as a BadRequest names it.
_EVENT_FIELD = re.compile(r"events\[(\d+)\]")
# Statuses that may clear up by themselves.
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}


class EntitlementClient:
    """One channel to the entitlement service; start() opens it, stop() closes it."""

    def __init__(self, target: str, timeout: float, security: ChannelSecurity | None = None) -> None:
        self._target = target
        self._timeout = timeout
        self._security = security
        self._channel: grpc.aio.Channel | None = None
        self._stub: entitlement_pb2_grpc.EntitlementServiceStub | None = None

    async def start(self) -> None:
        """Opens the channel (connections are made lazily by gRPC)."""
        self._channel = open_channel(self._target, self._security)
        self._stub = entitlement_pb2_grpc.EntitlementServiceStub(self._channel)

    async def stop(self) -> None:
        """Closes the channel."""
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    @property
    def stub(self) -> entitlement_pb2_grpc.EntitlementServiceStub:
        """The generated stub; the client must have been started."""
        if self._stub is None:
            raise RuntimeError("EntitlementClient used before start()")
        return self._stub

    async def apply_events(self, events: Sequence[PaymentEvent]) -> list[DeliveryFailed | None]:
        """Delivers events in one ApplyPaymentEvents call: per event None when applied (now or before), else
        why not (permanent: the same event would be refused again). Raises DeliveryFailed when the whole
        call failed and nothing was applied.

        A call refused for one event's bytes (INVALID_ARGUMENT naming `events[i]…`: a field no event may
        hold) blames that event alone; the others were not applied and are retried.
        """
        request = entitlement_pb2.ApplyPaymentEventsRequest(events=[_event_message(event) for event in events])
        metadata = outgoing_metadata(_shared_request_id(events))
        try:
            response = await self.stub.ApplyPaymentEvents(request, timeout=self._timeout, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            failure = DeliveryFailed(
                f"ApplyPaymentEvents {error.code().name}: {error.details()}", permanent=error.code() in _PERMANENT
            )
            blamed = _blamed_event(error) if len(events) > 1 else None
            if blamed is None or blamed >= len(events):
                raise failure from error
            innocent = DeliveryFailed(f"not applied: the call was refused for events[{blamed}]")
            return [failure if index == blamed else innocent for index in range(len(events))]
        return [
            DeliveryFailed(f"{result.error.field}: {result.error.description}", permanent=True)
            if result.HasField("error")
            else None
            for result in response.results
        ]

    async def owned_items(self, user_id: str, items: Sequence[ItemRef]) -> set[ItemRef]:
        """Which of `items` the user already owns."""
        request = entitlement_pb2.BatchCheckOwnershipRequest(
            queries=[
                entitlement_pb2.OwnershipQuery(user_id=user_id, item=common_pb2.ItemRef(kind=i.kind, id=i.id))
                for i in items
            ]
        )
        try:
            response = await self.stub.BatchCheckOwnership(request, timeout=self._timeout, metadata=outgoing_metadata())
        except grpc.aio.AioRpcError as error:
            failure = UpstreamUnavailable if error.code() in _TRANSIENT else UpstreamRejected
            raise failure(f"entitlement service: {error.code().name}: {error.details()}") from error
        return {item for item, result in zip(items, response.results, strict=True) if result.owned}


def _shared_request_id(events: Sequence[PaymentEvent]) -> str | None:
    """The request id every event carries (a batch of one, or of one checkout's events), else None.

    The call then goes under that id (`x-request-id`); each event is applied under its own either way.
    """
    ids = {event.request_id for event in events}
    return ids.pop() if len(ids) == 1 else None


def _event_message(event: PaymentEvent) -> entitlement_pb2.ApplyPaymentEventRequest:
    occurred_at = Timestamp()
    occurred_at.FromDatetime(event.occurred_at)
    return entitlement_pb2.ApplyPaymentEventRequest(
        event_id=event.event_id,
        type=_EVENT_TYPES[event.type],
        payment_id=event.payment_id,
        user_id=event.user_id,
        currency=event.currency,
        occurred_at=occurred_at,
        items=[
            entitlement_pb2.PaidItem(item=common_pb2.ItemRef(kind=i.kind, id=i.item_id), amount=i.amount)
            for i in event.items
        ],
        request_id=event.request_id or "",
    )


def _blamed_event(error: grpc.aio.AioRpcError) -> int | None:
    """The index of the event an INVALID_ARGUMENT names in its BadRequest (`events[3].user_id`), if any."""
    if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
        return None
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            for violation in bad_request.field_violations:
                if found := _EVENT_FIELD.match(violation.field):
                    return int(found.group(1))
    return None
