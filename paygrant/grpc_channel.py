"""Client channels to paygrant services: TLS when configured, and the caller's bearer token on every call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from pydantic import SecretStr

from paygrant.errors import CannotServe


@dataclass(frozen=True)
class ChannelSecurity:
    """What a client presents: a bearer token, and TLS (the CA to trust, optionally its own certificate)."""

    token: SecretStr | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @property
    def uses_tls(self) -> bool:
        """TLS is on when a CA or a client certificate is configured."""
        return any(path is not None for path in (self.ca_file, self.cert_file, self.key_file))

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """TLS channel credentials read from the files (the system's CAs when no CA file is set)."""
        if (self.cert_file is None) != (self.key_file is None):
            raise CannotServe("a client certificate needs both its certificate file and its key file")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file),
            private_key=_read(self.key_file),
            certificate_chain=_read(self.cert_file),
        )


def open_channel(
    target: str, security: ChannelSecurity | None = None, options: Sequence[tuple[str, Any]] = ()
) -> grpc.aio.Channel:
    """A grpc.aio channel to `target` that presents `security`'s credentials on every call."""
    security = security or ChannelSecurity()
    interceptors = [] if security.token is None else [BearerToken(security.token)]
    if security.uses_tls:
        credentials = security.channel_credentials()
        return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)


class BearerToken(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Adds `authorization: Bearer <token>` to every call's metadata."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def _with_token(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add("authorization", f"Bearer {self._token.get_secret_value()}")
        return details._replace(metadata=metadata)

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._with_token(client_call_details), request)

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._with_token(client_call_details), request)


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        raise CannotServe(f"cannot read {path}: {error.strerror}") from None
