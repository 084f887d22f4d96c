"""A service that cannot serve as configured says why in one line and exits, touching nothing."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.stack import run_paygrant


async def test_without_credentials_a_public_address_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "entitlement.db"
    code, stderr = await run_paygrant(
        "entitlement",
        PAYGRANT_ENTITLEMENT_GRPC_HOST="0.0.0.0",
        PAYGRANT_ENTITLEMENT_DATABASE_URL=f"sqlite+aiosqlite:///{database}",
    )
    assert code == 2
    assert stderr.strip().splitlines()[-1] == (
        "paygrant entitlement: refusing to listen on 0.0.0.0 without credentials (protected mode): "
        "configure credentials, or listen on 127.0.0.1"
    )
    assert "Traceback" not in stderr
    assert not database.exists(), "refused before opening the database"


async def test_a_taken_grpc_port_is_refused(tmp_path: Path, taken_port: int) -> None:
    code, stderr = await run_paygrant(
        "entitlement",
        PAYGRANT_ENTITLEMENT_GRPC_PORT=str(taken_port),
        PAYGRANT_ENTITLEMENT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'entitlement.db'}",
    )
    assert code == 2
    assert stderr.strip().splitlines()[-1] == (
        f"paygrant entitlement: cannot listen on 127.0.0.1:{taken_port}: the port is taken or the address is not local"
    )
    assert "Traceback" not in stderr


async def test_a_taken_callback_port_is_refused(tmp_path: Path, taken_port: int) -> None:
    code, stderr = await run_paygrant(
        "payment",
        PAYGRANT_PAYMENT_GRPC_PORT="0",
        PAYGRANT_CALLBACK_PORT=str(taken_port),
        PAYGRANT_RELAY_ENABLED="false",
        PAYGRANT_SWEEP_ENABLED="false",
        PAYGRANT_PAYMENT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'payment.db'}",
    )
    assert code == 2
    assert f"paygrant payment: cannot listen on 127.0.0.1:{taken_port}: " in stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr


async def test_a_malformed_credentials_entry_is_refused_without_echoing_it(tmp_path: Path) -> None:
    code, stderr = await run_paygrant(
        "entitlement",
        PAYGRANT_ENTITLEMENT_GRPC_PORT="0",
        PAYGRANT_ENTITLEMENT_CREDENTIALS="relay my-plain-secret-token",
        PAYGRANT_ENTITLEMENT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'entitlement.db'}",
    )
    assert code == 2
    assert "paygrant entitlement: credentials: entry 1: expected 'ROLES sha256:<hex>'" in stderr
    assert "my-plain-secret-token" not in stderr and "Traceback" not in stderr
