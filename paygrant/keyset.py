"""Keyset paging shared by both services: a row's place as (time, id), and opaque tokens over it.

A key token is the (time, id) of the last row read, so the next read starts strictly after it
(no offset, so rows arriving meanwhile never shift or repeat an entry). A page token adds a digest
of the filters it was read with, so it is refused with other filters.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json

from paygrant.contract_rules import FieldError, id_problem

_SEPARATOR = "|"
# Longer tokens were never made here: refused before any decoding.
_MAX_TOKEN_LENGTH = 512


def key_token(at: dt.datetime, row_id: str) -> str:
    """The opaque text a caller passes back to resume after the row (at, row_id)."""
    plain = f"{at.astimezone(dt.UTC).isoformat()}{_SEPARATOR}{row_id}"
    return base64.urlsafe_b64encode(plain.encode()).decode()


def parse_key_token(token: str) -> tuple[dt.datetime, str] | None:
    """The (time, id) a key_token() made, or None when `token` is not one."""
    if len(token) > _MAX_TOKEN_LENGTH:
        return None
    try:
        plain = base64.urlsafe_b64decode(token.encode("ascii")).decode()
        when, separator, row_id = plain.partition(_SEPARATOR)
        at = dt.datetime.fromisoformat(when)
    except (ValueError, binascii.Error):  # UnicodeError is a ValueError
        return None
    if not separator or id_problem(row_id) or at.utcoffset() != dt.timedelta(0):
        return None
    return at, row_id


def filters_digest(*filters: object) -> str:
    """What a page token remembers of the filters (JSON-able values), so it is refused with others."""
    plain = json.dumps(filters, separators=(",", ":"), default=str)
    return hashlib.sha256(plain.encode()).hexdigest()[:16]


def page_token(digest: str, key: str) -> str:
    """The token of the page after the row of key token `key`, for the filters of `digest`."""
    return f"{digest}.{key}"


def page_key_token(token: str, digest: str) -> str | None:
    """The key token a page_token() made for the filters of `digest`; None for anything else."""
    token_digest, _, key = token.partition(".")
    return key if token_digest == digest else None


def require_size(value: int, field: str, high: int, default: int, invalid: FieldError) -> int:
    """A page or batch size the caller may leave at 0 for `default`; else 1 to `high`, or `invalid` naming `field`."""
    if value == 0:
        return default
    if not 1 <= value <= high:
        raise invalid(field, f"must be 1 to {high} (0 for {default}), got {value}")
    return value
