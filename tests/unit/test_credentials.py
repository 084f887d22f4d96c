"""Credential entries: tokens kept only as hashes, several per role, certificates by common name."""

from __future__ import annotations

from pathlib import Path

import pytest

from paygrant.credentials import Credentials, InvalidCredentials, Role, hash_token, new_token
from paygrant.errors import CannotServe
from paygrant.server_security import ServerSecurity, is_loopback


def test_a_token_is_known_by_its_hash_and_maps_to_its_roles() -> None:
    old, new = new_token(), new_token()
    credentials = Credentials.parse([f"relay {hash_token(old)}", f"relay,reader {hash_token(new)}", "# a comment", ""])
    assert credentials.roles_of_token(old) == frozenset({Role.RELAY})
    assert credentials.roles_of_token(new) == frozenset({Role.RELAY, Role.READER})
    assert credentials.roles_of_token("not-a-token") is None
    assert credentials.roles_of_token(hash_token(old)) is None, "the stored hash is not itself a credential"


def test_entries_hold_no_token_in_clear() -> None:
    token = new_token()
    entry = f"operator {hash_token(token)}"
    assert token not in entry
    assert entry.startswith("operator sha256:") and len(entry.split(":")[1]) == 64


def test_certificates_map_by_common_name() -> None:
    credentials = Credentials.parse(["reader cn:ledger-service"])
    assert credentials.configured
    assert credentials.roles_of_certificate("ledger-service") == frozenset({Role.READER})
    assert credentials.roles_of_certificate("someone-else") is None


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("admin sha256:" + "0" * 64, "roles must be"),
        ("relay sha256:abc", "64 hex digits"),
        ("relay sha256:" + "z" * 64, "64 hex digits"),
        ("relay s3cret-token", "expected 'ROLES sha256"),
        ("relay cn:", "expected 'ROLES sha256"),
    ],
)
def test_a_bad_entry_is_refused_by_its_number_without_echoing_it(entry: str, complaint: str) -> None:
    with pytest.raises(InvalidCredentials, match=complaint) as refused:
        Credentials.parse(["# first", entry])
    assert "entry 2" in str(refused.value)
    assert "s3cret-token" not in str(refused.value)


def test_entries_load_from_a_variable_and_a_file(tmp_path: Path) -> None:
    first, second = new_token(), new_token()
    file = tmp_path / "credentials"
    file.write_text(f"# operators\noperator {hash_token(second)}\n")
    credentials = Credentials.load(f"gateway {hash_token(first)}; ", file)
    assert credentials.roles_of_token(first) == frozenset({Role.GATEWAY})
    assert credentials.roles_of_token(second) == frozenset({Role.OPERATOR})
    assert not Credentials.load("").configured


def test_protected_mode_refuses_a_public_address_without_credentials() -> None:
    with pytest.raises(CannotServe, match="protected mode"):
        ServerSecurity().check_address("0.0.0.0")
    ServerSecurity().check_address("127.0.0.1")
    ServerSecurity(Credentials.parse(["reader cn:x"])).check_address("0.0.0.0")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_security_settings_that_cannot_work_stop_the_start(tmp_path: Path) -> None:
    with pytest.raises(CannotServe, match="both a certificate file and a key file"):
        ServerSecurity.load(tls_cert_file=tmp_path / "cert.pem")
    with pytest.raises(CannotServe, match="client certificates need TLS"):
        ServerSecurity.load(tls_client_ca_file=tmp_path / "ca.pem")
    with pytest.raises(CannotServe, match=r"credentials: .*No such file"):
        ServerSecurity.load(credentials_file=tmp_path / "missing")
    with pytest.raises(CannotServe, match="credentials: entry 1"):
        ServerSecurity.load(credentials="relay plain-token")
