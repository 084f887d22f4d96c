"""Both services over real channels when their database fails: retryable outages, and unexpected errors with an id.

While PostgreSQL is down or starting up, every RPC of both services answers UNAVAILABLE (never
UNKNOWN or INTERNAL, never the driver's text) and the QPay callback answers 503; once the server
is back, the same calls succeed without restarting anything. The server is a private one the test
stops and starts (tests/private_postgres.py), never the suite's shared server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
import grpc
import pytest
from sqlalchemy import text

from entitlement_service.adapters.orm import SCHEMA as ENTITLEMENT_SCHEMA
from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.db import open_database, utcnow
from paygrant.entitlement.v1 import entitlement_pb2 as epb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.grpc_errors import UNAVAILABLE_MESSAGE
from paygrant.payment.v1 import payment_pb2 as ppb
from paygrant.payment.v1.payment_pb2_grpc import PaymentServiceStub
from paygrant.qpay_sim.app import start_simulator
from paygrant.qpay_sim.control_client import SimulatorControl
from paygrant.timestamps import to_timestamp
from payment_service.bootstrap import PaymentApp
from payment_service.settings import PaymentSettings
from tests.conftest import NewDatabase
from tests.private_postgres import PrivatePostgres, private_postgres

COURSE = ItemRef(kind="course", id="geometry")
FREEBIE = ItemRef(kind="test", id="placement")
CALL_TIMEOUT = 20.0  # an outage must be answered, not waited out
SERVICES = (ppb.DESCRIPTOR.services_by_name["PaymentService"], epb.DESCRIPTOR.services_by_name["EntitlementService"])
Call = Callable[[], Awaitable[object]]


@pytest.fixture(scope="module")
def private_server() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server these tests stop and start."""
    with private_postgres() as server:
        yield server


@dataclass
class RunningServices:
    """Both services on the private server, with a paid free checkout and a priced one whose callback is due."""

    payment: Any
    entitlement: Any
    priced_session: str
    free_payment: str
    callback_url: str  # the priced session's callback, as QPay calls it (its secret included)
    cancelled_session: str = ""  # cancelled by the first call; cancelling it again changes nothing

    def calls(self) -> dict[str, Call]:
        """One valid call of every RPC of both services, by `Service/Method`."""
        p, e = self.payment, self.entitlement
        product = ppb.Product(item=COURSE, title="Geometry", amount=1_500_000, active=True)
        paid_item = epb.PaidItem(item=COURSE, amount=1)
        now = to_timestamp(utcnow())
        day_ago = to_timestamp(utcnow() - dt.timedelta(days=1))
        return {
            "PaymentService/PutProduct": lambda: p.PutProduct(ppb.PutProductRequest(product=product)),
            "PaymentService/ListProducts": lambda: p.ListProducts(ppb.ListProductsRequest()),
            "PaymentService/CreateCheckout": lambda: p.CreateCheckout(
                ppb.CreateCheckoutRequest(idempotency_key=uuid.uuid4().hex, user_id="buyer", items=[COURSE])
            ),
            "PaymentService/GetCheckout": lambda: p.GetCheckout(ppb.GetCheckoutRequest(session_id=self.priced_session)),
            "PaymentService/CheckPayment": lambda: p.CheckPayment(
                ppb.CheckPaymentRequest(session_id=self.priced_session)
            ),
            "PaymentService/GetPayment": lambda: p.GetPayment(ppb.GetPaymentRequest(payment_id=self.free_payment)),
            "PaymentService/RefundPayment": lambda: p.RefundPayment(
                ppb.RefundPaymentRequest(
                    payment_id=self.free_payment, reason="outage test", actor="ops", idempotency_key="refund-1"
                )
            ),
            "PaymentService/ListPayments": lambda: p.ListPayments(ppb.ListPaymentsRequest(user_id="buyer")),
            "PaymentService/StreamPayments": lambda: _every_message(
                p.StreamPayments(ppb.StreamPaymentsRequest(start_time=day_ago, end_time=now))
            ),
            "PaymentService/GetOutboxState": lambda: p.GetOutboxState(ppb.GetOutboxStateRequest()),
            "PaymentService/LookupQpayPayments": lambda: p.LookupQpayPayments(
                ppb.LookupQpayPaymentsRequest(qpay_payment_ids=["qpay-1"])
            ),
            "PaymentService/ListOutboxEvents": lambda: p.ListOutboxEvents(
                ppb.ListOutboxEventsRequest(status=ppb.OUTBOX_EVENT_STATUS_DEAD)
            ),
            "PaymentService/RetryOutboxEvents": lambda: p.RetryOutboxEvents(
                ppb.RetryOutboxEventsRequest(event_ids=[str(uuid.uuid4())])
            ),
            "PaymentService/ResendPaymentEvent": lambda: p.ResendPaymentEvent(
                ppb.ResendPaymentEventRequest(payment_id=self.free_payment)
            ),
            "PaymentService/CancelCheckout": lambda: p.CancelCheckout(
                ppb.CancelCheckoutRequest(session_id=self.cancelled_session)
            ),
            "EntitlementService/ApplyPaymentEvent": lambda: e.ApplyPaymentEvent(
                epb.ApplyPaymentEventRequest(
                    event_id=str(uuid.uuid4()),
                    type=epb.PAYMENT_EVENT_TYPE_COMPLETED,
                    payment_id=uuid.uuid4().hex,
                    user_id="granted",
                    items=[paid_item],
                    occurred_at=to_timestamp(utcnow()),
                )
            ),
            "EntitlementService/ApplyPaymentEvents": lambda: e.ApplyPaymentEvents(
                epb.ApplyPaymentEventsRequest(
                    events=[
                        epb.ApplyPaymentEventRequest(
                            event_id=str(uuid.uuid4()),
                            type=epb.PAYMENT_EVENT_TYPE_COMPLETED,
                            payment_id=uuid.uuid4().hex,
                            user_id="granted",
                            items=[paid_item],
                            occurred_at=to_timestamp(utcnow()),
                        )
                    ]
                )
            ),
            "EntitlementService/CheckOwnership": lambda: e.CheckOwnership(
                epb.CheckOwnershipRequest(user_id="granted", item=COURSE)
            ),
            "EntitlementService/BatchCheckOwnership": lambda: e.BatchCheckOwnership(
                epb.BatchCheckOwnershipRequest(queries=[epb.OwnershipQuery(user_id="granted", item=COURSE)])
            ),
            "EntitlementService/ListEntitlements": lambda: e.ListEntitlements(
                epb.ListEntitlementsRequest(user_id="granted")
            ),
            "EntitlementService/GrantEntitlement": lambda: e.GrantEntitlement(
                epb.GrantEntitlementRequest(
                    user_id="granted", item=FREEBIE, reason="outage test", actor="ops", idempotency_key="grant-1"
                )
            ),
            "EntitlementService/RevokeEntitlement": lambda: e.RevokeEntitlement(
                epb.RevokeEntitlementRequest(
                    user_id="granted", item=FREEBIE, reason="outage test", actor="ops", idempotency_key="revoke-1"
                )
            ),
            "EntitlementService/ListPurchases": lambda: e.ListPurchases(epb.ListPurchasesRequest(user_id="granted")),
            "EntitlementService/GetPurchaseStats": lambda: e.GetPurchaseStats(
                epb.GetPurchaseStatsRequest(start_time=day_ago, end_time=now, granularity=epb.GRANULARITY_DAY)
            ),
            "EntitlementService/StreamPurchases": lambda: _every_message(
                e.StreamPurchases(epb.StreamPurchasesRequest(start_time=day_ago, end_time=now))
            ),
            "EntitlementService/RevokePurchase": lambda: _revoke_a_purchase(e, "granted"),
        }

    async def answers(self) -> dict[str, tuple[grpc.StatusCode, str]]:
        """Each RPC's status code and message."""
        answers = {}
        for name, call in self.calls().items():
            try:
                async with asyncio.timeout(CALL_TIMEOUT):
                    await call()
            except grpc.aio.AioRpcError as error:
                answers[name] = (error.code(), error.details() or "")
            else:
                answers[name] = (grpc.StatusCode.OK, "")
        return answers

    async def callback(self) -> tuple[int, str]:
        """QPay's callback of the priced session: HTTP status and body."""
        async with aiohttp.ClientSession() as http, http.get(self.callback_url) as response:
            return response.status, await response.text()


async def _every_message(stream: AsyncIterator[object]) -> list[object]:
    """Reads a server stream to its end (its errors are raised while reading)."""
    return [message async for message in stream]


def test_the_calls_cover_every_rpc_of_both_services() -> None:
    every_rpc = {f"{service.name}/{method.name}" for service in SERVICES for method in service.methods}
    covered = set(RunningServices(None, None, "", "", "").calls())

    assert covered == every_rpc, "an RPC was added: give it a call here, so outages are tested for it too"


async def _create_database(server: PrivatePostgres, label: str) -> str:
    name = f"{label}_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(server.dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return server.url(name)


@pytest.fixture
async def services(private_server: PrivatePostgres) -> AsyncIterator[RunningServices]:
    simulator = await start_simulator()
    entitlement_app = EntitlementApp(
        EntitlementSettings(
            entitlement_database_url=await _create_database(private_server, "entitlement"), entitlement_grpc_port=0
        )
    )
    payment_app = PaymentApp(
        PaymentSettings(
            payment_database_url=await _create_database(private_server, "payment"),
            payment_grpc_port=0,
            callback_port=0,
            qpay_base_url=simulator.base_url,
            entitlement_target="",  # set once the entitlement service has its port
            sweep_enabled=False,
        )
    )
    try:
        await entitlement_app.start()
        payment_app.settings.entitlement_target = f"127.0.0.1:{entitlement_app.grpc_port}"
        await payment_app.start()
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{payment_app.grpc_port}") as payment_channel,
            grpc.aio.insecure_channel(f"127.0.0.1:{entitlement_app.grpc_port}") as entitlement_channel,
        ):
            payment = PaymentServiceStub(payment_channel)
            for item, amount in ((COURSE, 1_500_000), (FREEBIE, 0)):
                product = ppb.Product(item=item, title=item.id, amount=amount, active=True)
                await payment.PutProduct(ppb.PutProductRequest(product=product))
            free = await payment.CreateCheckout(
                ppb.CreateCheckoutRequest(idempotency_key="free", user_id="taker", items=[FREEBIE])
            )
            priced = await payment.CreateCheckout(
                ppb.CreateCheckoutRequest(idempotency_key="priced", user_id="payer", items=[COURSE])
            )
            to_cancel = await payment.CreateCheckout(
                ppb.CreateCheckoutRequest(idempotency_key="to-cancel", user_id="quitter", items=[COURSE])
            )
            yield RunningServices(
                payment=payment,
                entitlement=EntitlementServiceStub(entitlement_channel),
                priced_session=priced.session_id,
                free_payment=free.payment_id,
                callback_url=await _paid_callback(SimulatorControl(simulator.base_url), priced.invoice.invoice_id),
                cancelled_session=to_cancel.session_id,
            )
    finally:
        await payment_app.stop()
        await entitlement_app.stop()
        await simulator.stop()


async def _revoke_a_purchase(entitlements: Any, user_id: str) -> None:
    """Revokes the user's newest purchase (found through ListPurchases)."""
    newest = (await entitlements.ListPurchases(epb.ListPurchasesRequest(user_id=user_id, page_size=1))).purchases[0]
    await entitlements.RevokePurchase(
        epb.RevokePurchaseRequest(purchase_id=newest.purchase_id, reason="outage test", actor="ops")
    )


async def _paid_callback(sim: SimulatorControl, invoice_id: str) -> str:
    """Pays the invoice with the simulator's callback held back; returns the callback QPay would have sent."""
    await sim.set_faults(callback="drop")
    paid = await sim.pay(invoice_id, Decimal("15000"))
    return f"{(await sim.invoice(invoice_id))['invoice']['callback_url']}&qpay_payment_id={paid['payment_id']}"


def _assert_every_rpc_unavailable(answers: dict[str, tuple[grpc.StatusCode, str]]) -> None:
    wrong = {
        name: answer for name, answer in answers.items() if answer != (grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_MESSAGE)
    }
    assert wrong == {}, "every RPC must answer UNAVAILABLE with the plain message"


def _assert_every_rpc_serves(answers: dict[str, tuple[grpc.StatusCode, str]]) -> None:
    assert {name: answer for name, answer in answers.items() if answer[0] is not grpc.StatusCode.OK} == {}


async def test_every_rpc_answers_unavailable_while_postgresql_is_down_and_serves_again_after_restart(
    private_server: PrivatePostgres, services: RunningServices, caplog: pytest.LogCaptureFixture
) -> None:
    _assert_every_rpc_serves(await services.answers())

    private_server.stop()
    try:
        down = await services.answers()
        callback_while_down = await services.callback()
    finally:
        private_server.start()

    _assert_every_rpc_unavailable(down)
    assert callback_while_down[0] == 503 and callback_while_down[1].startswith("UNAVAILABLE")
    outage_lines = [r for r in caplog.records if r.name == "paygrant.failure_log"]
    assert outage_lines and all(r.exc_info is None for r in outage_lines), "an outage is one line, not a traceback"
    _assert_every_rpc_serves(await services.answers())
    assert await services.callback() == (200, "SUCCESS"), "QPay's next try records the payment"


async def test_every_rpc_answers_unavailable_while_postgresql_is_starting_up(
    private_server: PrivatePostgres, services: RunningServices
) -> None:
    private_server.stop()
    private_server.start_without_accepting()  # "the database system is not accepting connections" (57P03)
    try:
        starting = await services.answers()
        callback_while_starting = await services.callback()
    finally:
        private_server.promote()

    _assert_every_rpc_unavailable(starting)
    assert callback_while_starting[0] == 503
    _assert_every_rpc_serves(await services.answers())
    assert await services.callback() == (200, "SUCCESS")


async def test_an_unexpected_database_error_answers_internal_with_an_error_id_the_log_line_carries(
    new_database: NewDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    url = await new_database("entitlement")
    app = EntitlementApp(EntitlementSettings(entitlement_database_url=url, entitlement_grpc_port=0))
    await app.start()
    try:
        async with open_database(url, ENTITLEMENT_SCHEMA, migrate=False) as admin, admin.engine.begin() as conn:
            await conn.execute(text("DROP TABLE entitlements"))  # a bug's stand-in: the query now fails
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await EntitlementServiceStub(channel).ListEntitlements(epb.ListEntitlementsRequest(user_id="u1"))
    finally:
        await app.stop()

    details = failed.value.details() or ""
    assert failed.value.code() is grpc.StatusCode.INTERNAL
    found = re.fullmatch(r"internal error \(error id ([0-9a-f]{8})\); it has been logged", details)
    assert found, f"a short message and an id only, no SQL: {details!r}"
    [record] = [r for r in caplog.records if found.group(1) in r.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info is not None
