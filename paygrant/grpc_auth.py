"""The check that lets a call in only with a credential whose role may call the method.

The roles each method allows are declared in the contract (the `allowed_roles` option of every
RPC in protos/), so the table cannot drift from the .proto files. Methods without roles (health,
reflection) are open. With no credentials configured the server runs in protected mode: it listens
on loopback only (see grpc_server) and every local caller is let in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from paygrant.common.v1 import common_pb2
from paygrant.credentials import Credentials, Role
from paygrant.grpc_errors import abort
from paygrant.grpc_guards import Check, Context

log = logging.getLogger(__name__)

BEARER = "bearer "


def method_roles(services: Iterable[ServiceDescriptor]) -> dict[str, frozenset[Role]]:
    """Method path (/package.Service/Method) -> the roles the contract allows to call it."""
    return {
        f"/{service.full_name}/{method.name}": frozenset(
            Role.of_contract(number) for number in method.GetOptions().Extensions[common_pb2.allowed_roles]
        )
        for service in services
        for method in service.methods
    }


class Authorization:
    """The check that lets a call of `services` in only with a credential whose role may call the method."""

    def __init__(self, services: Iterable[ServiceDescriptor], credentials: Credentials) -> None:
        self._allowed = method_roles(services)
        self._credentials = credentials

    def check_for(self, method: str) -> Check | None:
        """The check for a method path (/package.Service/Method); None when every caller may call it."""
        allowed = self._allowed.get(method)
        if allowed is None or not self._credentials.configured:
            return None
        name = method.rpartition("/")[2]

        async def authorize(request: Any, context: Context) -> None:
            await self._authorize(context, name, allowed)

        return authorize

    async def _authorize(self, context: Context, method: str, allowed: frozenset[Role]) -> None:
        roles = self._roles(context)
        if roles is None:
            log.info("%s refused: no valid credential from %s", method, context.peer())
            await abort(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                "a valid credential is required: 'authorization: Bearer <token>' metadata or a client certificate",
            )
        if not roles & allowed:
            needed = ", ".join(sorted(allowed))
            log.info("%s refused: roles %s from %s", method, ",".join(sorted(roles)), context.peer())
            await abort(context, grpc.StatusCode.PERMISSION_DENIED, f"{method} may be called by: {needed}")

    def _roles(self, context: Context) -> frozenset[Role] | None:
        """The roles of the caller's credential: its bearer token, else its client certificate."""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                text = value.decode(errors="replace") if isinstance(value, bytes) else value
                if text[: len(BEARER)].lower() == BEARER:
                    return self._credentials.roles_of_token(text[len(BEARER) :].strip())
                return None
        for name in (context.auth_context() or {}).get("x509_common_name", ()):
            roles = self._credentials.roles_of_certificate(name.decode(errors="replace"))
            if roles is not None:
                return roles
        return None
