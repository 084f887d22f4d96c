"""QPay's failures as typed errors of the adapter, and their translation into the service's upstream errors.

QPay answers errors as ``{"error": CODE or {field: {type, message}}, "message": ...}``;
gateways in front of it answer 5xx pages that are not JSON at all. These errors never leave
the adapter: `qpay_failure` turns each into UpstreamUnavailable or UpstreamRejected.
"""

from __future__ import annotations

import json
from typing import Any

from payment_service.domain.errors import PaymentServiceError, UpstreamRejected, UpstreamUnavailable

# The text of a non-JSON body kept in the message: enough to recognise a proxy page.
_BODY_SNIPPET = 200


class QPayError(Exception):
    """QPay refused or failed a request; `status` is the HTTP status (0: never answered)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field_errors: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"QPay {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field_errors: dict[str, str] = dict(field_errors or {})

    @property
    def is_transient(self) -> bool:
        """True when trying again later may succeed (QPay unreachable or failing on its side)."""
        return self.status == 0 or self.status >= 500


class QPayValidationError(QPayError):
    """400: QPay rejected the request's content (see `code` and `field_errors`)."""


class QPayUnauthorized(QPayError):
    """401: wrong credentials, or a missing, expired or revoked token."""


class QPayForbidden(QPayError):
    """403: the merchant may not do this."""


class QPayConflict(QPayError):
    """409: the request clashes with something QPay already has (a unique value)."""


class QPayNotFound(QPayError):
    """422 (QPay's answer for a missing object): no such invoice or payment."""


class QPayServerError(QPayError):
    """5xx: QPay or a gateway in front of it failed; the body may not be JSON."""


class QPayUnavailable(QPayError):
    """QPay could not be reached or did not answer in time."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "UNAVAILABLE", message)


class QPayRequestInvalid(QPayError):
    """The adapter built a request QPay would refuse (its own bug or misconfiguration, never the caller's)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(0, "INVALID_REQUEST", f"{field}: {message}", {field: message})

    @property
    def is_transient(self) -> bool:
        """Never: the same request would be refused again."""
        return False


class QPayProtocolError(QPayError):
    """QPay answered success with a body that is not what its API promises."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "MALFORMED_RESPONSE", message)


_BY_STATUS: dict[int, type[QPayError]] = {
    400: QPayValidationError,
    401: QPayUnauthorized,
    403: QPayForbidden,
    # Documented QPay answers 422 for a missing object; 404 is kept for the same meaning
    # because some QPay deployments and gateways answer it.
    404: QPayNotFound,
    409: QPayConflict,
    422: QPayNotFound,
}


def error_from_response(status: int, body: bytes | str) -> QPayError:
    """Build the typed error for a non-2xx QPay answer from its status and raw body."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    code, message, field_errors = _parse_body(status, text)
    cls = QPayServerError if status >= 500 else _BY_STATUS.get(status, QPayError)
    return cls(status, code, message, field_errors)


def _parse_body(status: int, text: str) -> tuple[str, str, dict[str, str]]:
    fallback_code = f"HTTP_{status}"
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return fallback_code, _snippet(text) or fallback_code, {}

    error = data.get("error", data.get("error_code"))
    message = data.get("message")
    field_errors: dict[str, str] = {}
    if isinstance(error, str) and error:
        code = error
    elif isinstance(error, dict):
        code = "INVALID_FIELDS"
        field_errors = {str(name): _field_message(detail) for name, detail in error.items()}
    else:
        code = fallback_code
    if not isinstance(message, str) or not message:
        message = "; ".join(f"{k}: {v}" for k, v in field_errors.items()) or code
    return code, message, field_errors


def _field_message(detail: Any) -> str:
    if isinstance(detail, dict):
        text = detail.get("message") or detail.get("type")
        return str(text) if text else json.dumps(detail)
    return str(detail)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:_BODY_SNIPPET]


def qpay_failure(action: str, error: QPayError) -> PaymentServiceError:
    """The service's error for a QPay call that failed while doing `action`."""
    if error.is_transient:
        return UpstreamUnavailable(f"QPay could not {action}: {error}")
    return UpstreamRejected(f"QPay refused to {action}: {error}")
