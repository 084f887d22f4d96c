"""Who gets in: every RPC of both services x every kind of caller, TLS, client certificates, taken ports."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import trustme
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pydantic import SecretStr

from entitlement_service.bootstrap import SERVICE as ENTITLEMENT_SERVICE
from entitlement_service.bootstrap import EntitlementApp
from entitlement_service.settings import EntitlementSettings
from paygrant.common.v1.common_pb2 import ItemRef
from paygrant.contract_rules import EventType
from paygrant.credentials import Role, hash_token, new_token
from paygrant.db import utcnow
from paygrant.entitlement.v1 import entitlement_pb2 as pb
from paygrant.entitlement.v1.entitlement_pb2_grpc import EntitlementServiceStub
from paygrant.errors import CannotServe
from paygrant.grpc_channel import ChannelSecurity, open_channel
from paygrant.grpc_server import GrpcServer
from paygrant.health_probe import is_serving
from paygrant.server_security import ServerSecurity, ServerTls
from payment_service.adapters.entitlement_client import EntitlementClient
from payment_service.bootstrap import SERVICE as PAYMENT_SERVICE
from payment_service.bootstrap import PaymentApp
from payment_service.domain.events import PaidItem, PaymentEvent
from payment_service.settings import PaymentSettings
from tests.conftest import NewDatabase
from tests.waiting import eventually

# Who may call what, written out here on purpose: the servers read it from the .proto files, and
# this table is the independent statement they are checked against. A new RPC must be added here.
EXPECTED_ROLES: dict[str, set[Role]] = {
    "/paygrant.payment.v1.PaymentService/PutProduct": {Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/ListProducts": {Role.GATEWAY, Role.READER, Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/CreateCheckout": {Role.GATEWAY},
    "/paygrant.payment.v1.PaymentService/GetCheckout": {Role.GATEWAY, Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/CheckPayment": {Role.GATEWAY, Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/CancelCheckout": {Role.GATEWAY, Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/RefundPayment": {Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/GetPayment": {Role.GATEWAY, Role.READER, Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/ListPayments": {Role.READER, Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/StreamPayments": {Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/GetOutboxState": {Role.READER, Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/LookupQpayPayments": {Role.READER, Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/ListOutboxEvents": {Role.READER, Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/RetryOutboxEvents": {Role.OPERATOR},
    "/paygrant.payment.v1.PaymentService/ResendPaymentEvent": {Role.OPERATOR},
    "/paygrant.entitlement.v1.EntitlementService/ApplyPaymentEvent": {Role.RELAY},
    "/paygrant.entitlement.v1.EntitlementService/ApplyPaymentEvents": {Role.RELAY},
    "/paygrant.entitlement.v1.EntitlementService/CheckOwnership": {Role.READER, Role.GATEWAY, Role.OPERATOR},
    "/paygrant.entitlement.v1.EntitlementService/BatchCheckOwnership": {
        Role.READER,
        Role.RELAY,
        Role.GATEWAY,
        Role.OPERATOR,
    },
    "/paygrant.entitlement.v1.EntitlementService/ListEntitlements": {Role.READER, Role.GATEWAY, Role.OPERATOR},
    "/paygrant.entitlement.v1.EntitlementService/GrantEntitlement": {Role.OPERATOR},
    "/paygrant.entitlement.v1.EntitlementService/RevokeEntitlement": {Role.OPERATOR},
    "/paygrant.entitlement.v1.EntitlementService/ListPurchases": {Role.READER, Role.GATEWAY, Role.OPERATOR},
    "/paygrant.entitlement.v1.EntitlementService/GetPurchaseStats": {Role.OPERATOR},
    "/paygrant.entitlement.v1.EntitlementService/StreamPurchases": {Role.OPERATOR},
    "/paygrant.entitlement.v1.EntitlementService/RevokePurchase": {Role.OPERATOR},
}
TOKENS = {role: new_token() for role in Role}
OLD_OPERATOR_TOKEN = new_token()  # a second key of one role: rotation keeps both valid for a while
CREDENTIALS = ";".join(
    [f"{role} {hash_token(token)}" for role, token in TOKENS.items()] + [f"operator {hash_token(OLD_OPERATOR_TOKEN)}"]
)
DENIED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
STREAMING = {
    f"/{service.full_name}/{method.name}"
    for service in (PAYMENT_SERVICE, ENTITLEMENT_SERVICE)
    for method in service.methods
    if method.server_streaming
}


@dataclass
class Servers:
    payment: str
    entitlement: str

    def target(self, method: str) -> str:
        return self.payment if ".PaymentService/" in method else self.entitlement


@pytest.fixture
def backend() -> str:
    """Who gets in does not depend on the database: these servers run on PostgreSQL, as in production."""
    return "postgresql"


@pytest.fixture
async def servers(new_database: NewDatabase, refused_port: int) -> AsyncIterator[Servers]:
    """Both services with credentials configured (QPay is unreachable: no call here needs it)."""
    entitlement = EntitlementApp(
        EntitlementSettings(
            entitlement_database_url=await new_database("entitlement"),
            entitlement_grpc_port=0,
            entitlement_credentials=CREDENTIALS,
        )
    )
    await entitlement.start()
    payment = PaymentApp(
        PaymentSettings(
            payment_database_url=await new_database("payment"),
            payment_grpc_port=0,
            callback_port=0,
            payment_credentials=CREDENTIALS,
            qpay_base_url=f"http://127.0.0.1:{refused_port}/v2",
            entitlement_target=f"127.0.0.1:{entitlement.grpc_port}",
            relay_enabled=False,
            sweep_enabled=False,
        )
    )
    try:
        await payment.start()
        yield Servers(f"127.0.0.1:{payment.grpc_port}", f"127.0.0.1:{entitlement.grpc_port}")
    finally:
        await payment.stop()
        await entitlement.stop()


async def _call(target: str, method: str, metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
    """The status of calling `method` with an empty request: authorization is decided before the request is read."""
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            if method in STREAMING:
                stream = channel.unary_stream(method, request_serializer=None, response_deserializer=None)
                _ = [response async for response in stream(b"", metadata=metadata, timeout=10)]
            else:
                call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
                await call(b"", metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def test_the_table_names_every_rpc_of_both_contracts() -> None:
    declared = {f"/{s.full_name}/{m.name}" for s in (PAYMENT_SERVICE, ENTITLEMENT_SERVICE) for m in s.methods}
    assert declared == set(EXPECTED_ROLES)


async def test_every_rpc_admits_exactly_its_roles(servers: Servers, caplog: pytest.LogCaptureFixture) -> None:
    callers: dict[str, tuple[tuple[str, str], ...]] = {
        "no credential": (),
        "a wrong token": (("authorization", f"Bearer {new_token()}"),),
        "not a bearer token": (("authorization", f"Basic {TOKENS[Role.OPERATOR]}"),),
        **{role.value: (("authorization", f"Bearer {token}"),) for role, token in TOKENS.items()},
        "operator (older key)": (("authorization", f"bearer {OLD_OPERATOR_TOKEN}"),),
    }
    wrong: list[str] = []
    for method, allowed in EXPECTED_ROLES.items():
        for caller, metadata in callers.items():
            code = await _call(servers.target(method), method, metadata)
            role = Role.OPERATOR if caller.startswith("operator") else next((r for r in Role if r == caller), None)
            if role is None:
                expected_ok, expected = False, grpc.StatusCode.UNAUTHENTICATED
            else:
                expected_ok, expected = role in allowed, grpc.StatusCode.PERMISSION_DENIED
            if (expected_ok and code in DENIED) or (not expected_ok and code != expected):
                wrong.append(f"{method} by {caller}: {code.name}")
    assert wrong == []
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert not any(token in logged for token in [*TOKENS.values(), OLD_OPERATOR_TOKEN])


async def test_health_and_reflection_stay_open(servers: Servers) -> None:
    await eventually(lambda: is_serving(servers.entitlement), what="health without a credential")
    code = await _call(servers.entitlement, "/grpc.health.v1.Health/Check", ())
    assert code == grpc.StatusCode.OK
    async with grpc.aio.insecure_channel(servers.entitlement) as channel:  # no credential sent
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        asked = iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        listed = [
            s.name
            async for answer in reflection.ServerReflectionInfo(asked)
            for s in answer.list_services_response.service
        ]
    assert ENTITLEMENT_SERVICE.full_name in listed


@dataclass
class Pki:
    ca_file: Path
    server_cert: Path
    server_key: Path
    ca: trustme.CA
    directory: Path

    def client(self, common_name: str) -> tuple[Path, Path]:
        """A client certificate signed by the CA, with `common_name`."""
        cert = self.ca.issue_cert(f"{common_name}.clients.test", common_name=common_name)
        cert_file, key_file = self.directory / f"{common_name}.pem", self.directory / f"{common_name}.key"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        return cert_file, key_file


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    pki = Pki(tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key", ca, tmp_path)
    ca.cert_pem.write_to_path(str(pki.ca_file))
    pki.server_cert.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    server.private_key_pem.write_to_path(str(pki.server_key))
    return pki


@pytest.fixture
async def tls_entitlement(new_database: NewDatabase, pki: Pki) -> AsyncIterator[str]:
    """The entitlement service over TLS, with client certificates mapped to roles (and tokens accepted too)."""
    app = EntitlementApp(
        EntitlementSettings(
            entitlement_database_url=await new_database("entitlement"),
            entitlement_grpc_port=0,
            entitlement_credentials=f"reader cn:ledger;relay {hash_token(TOKENS[Role.RELAY])}",
            entitlement_tls_cert_file=pki.server_cert,
            entitlement_tls_key_file=pki.server_key,
            entitlement_tls_client_ca_file=pki.ca_file,
        )
    )
    await app.start()
    try:
        yield f"127.0.0.1:{app.grpc_port}"
    finally:
        await app.stop()


CHECK = pb.CheckOwnershipRequest(user_id="u-1", item=ItemRef(kind="course", id="algebra-1"))


async def _check_ownership(target: str, security: ChannelSecurity) -> grpc.StatusCode:
    async with open_channel(target, security) as channel:
        try:
            await EntitlementServiceStub(channel).CheckOwnership(CHECK, timeout=10)
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def test_a_client_certificate_is_a_credential_with_the_roles_of_its_name(tls_entitlement: str, pki: Pki) -> None:
    ledger_cert, ledger_key = pki.client("ledger")
    stranger_cert, stranger_key = pki.client("stranger")
    ledger = ChannelSecurity(ca_file=pki.ca_file, cert_file=ledger_cert, key_file=ledger_key)
    await eventually(lambda: is_serving(tls_entitlement, security=ledger), what="health over TLS")
    assert await _check_ownership(tls_entitlement, ledger) == grpc.StatusCode.OK
    async with open_channel(tls_entitlement, ledger) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await EntitlementServiceStub(channel).ApplyPaymentEvent(pb.ApplyPaymentEventRequest(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    stranger = ChannelSecurity(ca_file=pki.ca_file, cert_file=stranger_cert, key_file=stranger_key)
    assert await _check_ownership(tls_entitlement, stranger) == grpc.StatusCode.UNAUTHENTICATED


async def test_tls_refuses_plaintext_untrusted_and_certificate_less_callers(tls_entitlement: str, pki: Pki) -> None:
    other_ca = pki.directory / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    ledger_cert, ledger_key = pki.client("ledger")
    callers = {
        "plaintext": ChannelSecurity(),
        "trusting another CA": ChannelSecurity(ca_file=other_ca, cert_file=ledger_cert, key_file=ledger_key),
        "without a client certificate": ChannelSecurity(ca_file=pki.ca_file),
    }
    codes = {name: await _check_ownership(tls_entitlement, security) for name, security in callers.items()}
    assert codes == dict.fromkeys(callers, grpc.StatusCode.UNAVAILABLE)


async def test_the_payment_service_client_applies_events_over_tls_with_its_token(
    tls_entitlement: str, pki: Pki
) -> None:
    relay_cert, relay_key = pki.client("payment-relay")  # a certificate without roles: the token decides
    security = ChannelSecurity(
        token=SecretStr(TOKENS[Role.RELAY]), ca_file=pki.ca_file, cert_file=relay_cert, key_file=relay_key
    )
    client = EntitlementClient(tls_entitlement, timeout=10, security=security)
    await client.start()
    try:
        paid = PaidItem(CHECK.item.kind, CHECK.item.id, 25_000)
        event = PaymentEvent(
            str(uuid.uuid4()), EventType.PAYMENT_COMPLETED, "pay-tls", CHECK.user_id, "MNT", (paid,), utcnow()
        )
        assert await client.apply_events([event]) == [None]
    finally:
        await client.stop()
    ledger_cert, ledger_key = pki.client("ledger")
    ledger = ChannelSecurity(ca_file=pki.ca_file, cert_file=ledger_cert, key_file=ledger_key)
    async with open_channel(tls_entitlement, ledger) as channel:
        assert (await EntitlementServiceStub(channel).CheckOwnership(CHECK, timeout=10)).owned


async def test_a_taken_port_is_refused_instead_of_shared(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)

    async def ready() -> bool:
        return True

    first = GrpcServer(host="127.0.0.1", port=0, services=[], register=lambda server: None, is_ready=ready)
    port = await first.start()
    try:
        second = GrpcServer(host="127.0.0.1", port=port, services=[], register=lambda server: None, is_ready=ready)
        with pytest.raises(CannotServe, match=f"cannot listen on 127.0.0.1:{port}: the port is taken"):
            await second.start()
        await second.stop()
        assert any("protected mode" in record.getMessage() for record in caplog.records)
    finally:
        await first.stop()


async def test_a_certificate_that_does_not_match_its_key_stops_the_start(pki: Pki, tmp_path: Path) -> None:
    other_key = tmp_path / "other.key"
    pki.ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other_key))

    async def ready() -> bool:
        return True

    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        services=[],
        register=lambda server: None,
        is_ready=ready,
        security=ServerSecurity(tls=ServerTls(pki.server_cert, other_key)),
    )
    with pytest.raises(CannotServe, match="the TLS certificate and key do not match"):
        await server.start()
    await server.stop()
