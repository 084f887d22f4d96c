"""`paygrant credentials new ROLES`: a fresh bearer token and the entry that lets a service accept it."""

from __future__ import annotations

import argparse

from paygrant.credentials import Credentials, InvalidCredentials, hash_token, new_token


def roles_argument(text: str) -> str:
    """An argparse type: comma-separated role names, refused with the list of known roles."""
    try:
        Credentials.parse([f"{text} {hash_token('')}"])
    except InvalidCredentials as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("entry 1: ")) from None
    return text


def new_credential(roles: str) -> str:
    """Two lines for the operator: the token (give it to the caller) and its entry (give it to the service)."""
    token = new_token()
    return (
        f"token (give it to the caller; shown once): {token}\n"
        f"entry (add it to the service's credentials): {roles} {hash_token(token)}"
    )
