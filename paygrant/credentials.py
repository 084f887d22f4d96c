"""Who a caller is: bearer tokens (stored only as hashes) and TLS client certificates, mapped to roles.

A service is configured with entries, one per line in a file or separated by ';' in a variable:

    ROLES sha256:<hex of the token's SHA-256>    a bearer token (several per role, to rotate them)
    ROLES cn:<certificate common name>           a TLS client certificate

where ROLES is a comma-separated list of role names (relay, gateway, reader, operator). Lines
starting with '#' are comments. `paygrant credentials new ROLES` makes a token and its entry.
Tokens are compared by hash in constant time and never kept in clear.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from paygrant.common.v1 import common_pb2

TOKEN_HASH = "sha256:"
CERTIFICATE = "cn:"


class Role(enum.StrEnum):
    """The roles of the contract's `Role` enum (common.proto), by their lowercase names."""

    RELAY = "relay"
    GATEWAY = "gateway"
    READER = "reader"
    OPERATOR = "operator"

    @classmethod
    def of_contract(cls, number: int) -> Role:
        """The Role of a common.v1.Role number."""
        return cls(common_pb2.Role.Name(number).removeprefix("ROLE_").lower())


class InvalidCredentials(ValueError):
    """A credentials entry that cannot be understood; the message names the entry, never a secret."""


def hash_token(token: str) -> str:
    """The entry form of a token: sha256:<hex>."""
    return TOKEN_HASH + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random bearer token."""
    return "pgt_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Credentials:
    """The credentials a service accepts; empty means none are configured (protected mode)."""

    token_hashes: tuple[tuple[bytes, frozenset[Role]], ...] = ()
    certificates: Mapping[str, frozenset[Role]] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        """True when at least one credential is accepted."""
        return bool(self.token_hashes or self.certificates)

    def roles_of_token(self, token: str) -> frozenset[Role] | None:
        """The roles of a presented token, or None when no entry matches it."""
        presented = hashlib.sha256(token.encode()).digest()
        roles: frozenset[Role] | None = None
        for digest, entry_roles in self.token_hashes:  # every entry is compared: no early exit to time
            if hmac.compare_digest(presented, digest):
                roles = entry_roles
        return roles

    def roles_of_certificate(self, common_name: str) -> frozenset[Role] | None:
        """The roles of a verified client certificate's common name, or None when it has none."""
        return self.certificates.get(common_name)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Credentials:
        """Credentials from entry lines; raises InvalidCredentials naming the first bad one."""
        tokens: list[tuple[bytes, frozenset[Role]]] = []
        certificates: dict[str, frozenset[Role]] = {}
        for number, raw in enumerate(entries, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            roles_text, _, credential = line.partition(" ")
            roles = _roles(roles_text, number)
            credential = credential.strip()
            if credential.startswith(TOKEN_HASH):
                tokens.append((_digest(credential, number), roles))
            elif credential.startswith(CERTIFICATE) and credential[len(CERTIFICATE) :]:
                certificates[credential[len(CERTIFICATE) :]] = roles
            else:
                raise InvalidCredentials(f"entry {number}: expected 'ROLES sha256:<hex>' or 'ROLES cn:<name>'")
        return cls(tuple(tokens), certificates)

    @classmethod
    def load(cls, inline: str = "", file: Path | None = None) -> Credentials:
        """Credentials from a ';'-separated variable and/or a file of one entry per line."""
        entries = inline.split(";")
        if file is not None:
            entries += file.read_text().splitlines()
        return cls.parse(entries)


def _roles(text: str, number: int) -> frozenset[Role]:
    try:
        return frozenset(Role(name) for name in text.split(","))
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise InvalidCredentials(f"entry {number}: roles must be a comma-separated list of {known}") from None


def _digest(credential: str, number: int) -> bytes:
    try:
        digest = bytes.fromhex(credential[len(TOKEN_HASH) :])
    except ValueError:
        digest = b""
    if len(digest) != hashlib.sha256().digest_size:
        raise InvalidCredentials(f"entry {number}: sha256: must be followed by 64 hex digits")
    return digest
