"""How a gRPC server lets callers in: credentials, TLS, reflection, and protected mode without them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from paygrant.credentials import Credentials, InvalidCredentials
from paygrant.errors import CannotServe


@dataclass(frozen=True)
class ServerTls:
    """The server's certificate and key; with `client_ca_file`, callers must present a certificate it signed."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def server_credentials(self) -> grpc.ServerCredentials:
        """gRPC server credentials read from the files."""
        ca = _read(self.client_ca_file) if self.client_ca_file is not None else None
        return grpc.ssl_server_credentials(
            [(_read(self.key_file), _read(self.cert_file))], root_certificates=ca, require_client_auth=ca is not None
        )


@dataclass(frozen=True)
class ServerSecurity:
    """Everything about who may reach a server; the default is protected mode on loopback."""

    credentials: Credentials = field(default_factory=Credentials)
    tls: ServerTls | None = None
    reflection: bool = True

    @classmethod
    def load(
        cls,
        *,
        credentials: str = "",
        credentials_file: Path | None = None,
        tls_cert_file: Path | None = None,
        tls_key_file: Path | None = None,
        tls_client_ca_file: Path | None = None,
        reflection: bool = True,
    ) -> ServerSecurity:
        """Reads credentials and checks the TLS settings; raises CannotServe with a one-line reason."""
        try:
            accepted = Credentials.load(credentials, credentials_file)
        except (InvalidCredentials, OSError) as error:
            raise CannotServe(f"credentials: {error}") from None
        tls = None
        if tls_cert_file is not None or tls_key_file is not None:
            if tls_cert_file is None or tls_key_file is None:
                raise CannotServe("TLS needs both a certificate file and a key file")
            tls = ServerTls(tls_cert_file, tls_key_file, tls_client_ca_file)
        elif tls_client_ca_file is not None:
            raise CannotServe("client certificates need TLS: set the certificate and key files too")
        return cls(accepted, tls, reflection)

    def check_address(self, host: str) -> None:
        """Protected mode: without credentials, refuses any host that is not loopback."""
        if not self.credentials.configured and not is_loopback(host):
            raise CannotServe(
                f"refusing to listen on {host} without credentials (protected mode): "
                "configure credentials, or listen on 127.0.0.1"
            )


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CannotServe(f"cannot read {path}: {error.strerror}") from None
