"""ListPayments and StreamPayments requests read into checked queries."""

from __future__ import annotations

from paygrant.payment.v1 import payment_pb2 as pb
from paygrant.timestamps import time_field
from payment_service.domain.errors import InvalidRequest
from payment_service.domain.payment import PaymentOutcome
from payment_service.domain.payment_listing import (
    PaymentFilters,
    PaymentListQuery,
    PaymentStreamQuery,
    parse_list_query,
    parse_stream_query,
)

# The outcome numbers a filter may carry; UNSPECIFIED means any, other numbers are refused naming `outcome`.
OUTCOMES: dict[int, PaymentOutcome | None] = {
    pb.PAYMENT_OUTCOME_UNSPECIFIED: None,
    pb.PAYMENT_OUTCOME_GRANTED: PaymentOutcome.GRANTED,
    pb.PAYMENT_OUTCOME_SHORT: PaymentOutcome.SHORT,
    pb.PAYMENT_OUTCOME_DUPLICATE: PaymentOutcome.DUPLICATE,
}


def list_query(request: pb.ListPaymentsRequest) -> PaymentListQuery:
    """The query of a ListPayments request, every field checked; empty or unset filters mean any."""
    if request.outcome not in OUTCOMES:
        raise InvalidRequest("outcome", f"{request.outcome} is not a value of PaymentOutcome")
    filters = PaymentFilters(
        user_id=request.user_id or None,
        session_id=request.session_id or None,
        outcome=OUTCOMES[request.outcome],
        late=request.late if request.HasField("late") else None,
        refund_due=request.refund_due if request.HasField("refund_due") else None,
        paid_from=time_field(request, "paid_from"),
        paid_to=time_field(request, "paid_to"),
    )
    return parse_list_query(filters, request.page_size, request.page_token)


def stream_query(request: pb.StreamPaymentsRequest) -> PaymentStreamQuery:
    """The query of a StreamPayments request, every field checked."""
    return parse_stream_query(
        time_field(request, "start_time"),
        time_field(request, "end_time"),
        request.after_key,
        request.batch_size,
        request.user_id,
        request.with_lines,
    )
