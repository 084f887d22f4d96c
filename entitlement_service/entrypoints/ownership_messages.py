"""Ownership answers as messages, built from a memoized template per answer (and a batch's event results).

A check answered from memory spends most of its own time turning the answer into protobuf, and
the same few answers are sent over and over. So each distinct answer is converted once: a
CheckOwnershipResponse is the template itself (messages sent are never changed afterwards), and
a batch result is its template's bytes merged in, with the question copied in (two C-level calls).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

from entitlement_service.domain.entitlement import Ownership, OwnershipQuery
from entitlement_service.domain.errors import InvalidRequest, PaymentOfAnotherUser
from entitlement_service.entrypoints.purchase_messages import SOURCES
from entitlement_service.service_layer.apply_payment_event import Applied, EventOutcome
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.timestamps import to_timestamp

MEMOIZED_ANSWERS = 65_536


@functools.lru_cache(maxsize=MEMOIZED_ANSWERS)
def check_response(ownership: Ownership) -> pb.CheckOwnershipResponse:
    """The answer to CheckOwnership; shared between calls, so never to be changed."""
    return pb.CheckOwnershipResponse(**_answer_fields(ownership))


@functools.lru_cache(maxsize=MEMOIZED_ANSWERS)
def _result_template(ownership: Ownership) -> bytes:
    template: bytes = pb.OwnershipResult(**_answer_fields(ownership)).SerializeToString()
    return template


def _answer_fields(ownership: Ownership) -> dict[str, Any]:
    source = SOURCES[ownership.source] if ownership.source is not None else pb.SOURCE_UNSPECIFIED
    return {"owned": ownership.owned, "purchased_at": to_timestamp(ownership.purchased_at), "source": source}


def batch_response(
    asked: Sequence[pb.OwnershipQuery],
    parsed: Sequence[OwnershipQuery | InvalidRequest],
    answers: Iterator[Ownership],
) -> pb.BatchCheckOwnershipResponse:
    """A result per question asked, in order: its answer (taken from `answers`), or its own error."""
    response = pb.BatchCheckOwnershipResponse()
    results = response.results
    for question, query in zip(asked, parsed, strict=True):
        result = results.add()
        if isinstance(query, InvalidRequest):
            result.error.field, result.error.description = query.field, query.problem
        else:
            result.MergeFromString(_result_template(next(answers)))
        result.query.CopyFrom(question)
    return response


def events_response(
    sent: Sequence[pb.ApplyPaymentEventRequest], outcomes: Sequence[EventOutcome]
) -> pb.ApplyPaymentEventsResponse:
    """A result per event sent, in order: applied (or a duplicate), or its own error."""
    response = pb.ApplyPaymentEventsResponse()
    for event, outcome in zip(sent, outcomes, strict=True):
        result = response.results.add(event_id=event.event_id, duplicate=outcome is Applied.DUPLICATE)
        if isinstance(outcome, InvalidRequest):
            result.error.field, result.error.description = outcome.field, outcome.problem
        elif isinstance(outcome, PaymentOfAnotherUser):
            # The event's user_id contradicts the buyer its payment's purchases record.
            result.error.field, result.error.description = "user_id", str(outcome)
    return response
