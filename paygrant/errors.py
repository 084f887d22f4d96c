"""The root of both services' exception hierarchies: an error that may name the input it is about."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a service raises on purpose; `field` names the bad input, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class InvalidField(ServiceError):
    """The caller sent something malformed in `field` (each service's InvalidRequest derives from it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)
        self.field: str = field
        self.problem = message


class CannotServe(Exception):
    """A process cannot start serving as configured; the message is one line for the operator."""

    @classmethod
    def port_taken(cls, address: str, reason: str = "the port is taken or the address is not local") -> CannotServe:
        """The refusal of an address another process holds (or that is not this host's)."""
        return cls(f"cannot listen on {address}: {reason}")
