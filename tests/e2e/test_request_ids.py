"""One checkout followed through both services' logs by the gateway's x-request-id, with real processes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from paygrant.entitlement.v1 import entitlement_pb2, entitlement_pb2_grpc
from paygrant.payment.v1 import payment_pb2, payment_pb2_grpc
from tests.e2e.conftest import COURSE
from tests.e2e.stack import Stack
from tests.waiting import eventually

Payments = payment_pb2_grpc.PaymentServiceStub
Entitlements = entitlement_pb2_grpc.EntitlementServiceStub


def _messages_of(log: Path, request_id: str) -> list[str]:
    """The messages of the JSON lines of `log` that name `request_id` (text lines from before are skipped)."""
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [entry["message"] for entry in entries if entry.get("request_id") == request_id]


async def test_a_checkout_is_found_in_both_services_logs_by_its_request_id(
    stack: Stack, payments: Payments, entitlements: Entitlements
) -> None:
    for name in ("payment", "entitlement"):
        await stack.stop(name)
    for name in ("entitlement", "payment"):
        await stack.start(name, PAYGRANT_LOG_FORMAT="json")  # on the ports they had: the stubs still reach them
    request_id = f"gw-{uuid.uuid4().hex}"
    request = payment_pb2.CreateCheckoutRequest(idempotency_key=uuid.uuid4().hex, user_id="oyun", items=[COURSE])

    call = payments.CreateCheckout(request, metadata=(("x-request-id", request_id),))
    checkout = await call
    assert ("x-request-id", request_id) in tuple(await call.trailing_metadata() or ())
    await stack.sim.pay(checkout.invoice.invoice_id)

    async def owned() -> bool:
        query = entitlement_pb2.CheckOwnershipRequest(user_id="oyun", item=COURSE)
        return bool((await entitlements.CheckOwnership(query)).owned)

    async def apply_logged() -> bool:
        return any(" applied: " in message for message in _messages_of(stack.log_dir / "entitlement.log", request_id))

    await eventually(owned, what="oyun to own the course")
    await eventually(apply_logged, what="the entitlement service to log the apply under the request id")
    session = await payments.GetCheckout(payment_pb2.GetCheckoutRequest(session_id=checkout.session_id))
    [applied] = _messages_of(stack.log_dir / "entitlement.log", request_id)
    assert f"of payment {session.payment_id} for user oyun" in applied
    payment_messages = _messages_of(stack.log_dir / "payment.log", request_id)
    assert any(message.startswith(f"checkout {checkout.session_id} stored") for message in payment_messages)
    assert any(f"recorded as payment {session.payment_id}" in message for message in payment_messages)
