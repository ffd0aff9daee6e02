"""One JSON error envelope for every error response (Rasa's ErrorResponse shape)."""

from __future__ import annotations

from typing import Any

from sanic import HTTPResponse
from sanic.response import json as json_response

from palaver import RASA_COMPAT_VERSION


class ErrorResponse(Exception):
    """Raise from a route to answer with the error envelope.

    Args:
        status: HTTP status code.
        reason: a short machine-friendly reason (``BadRequest``, ``NotFound``...).
        message: what went wrong, naming the offending field or value.
        details: extra structured information.
        help_url: where to read more.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        details: Any = None,
        help_url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details if details is not None else {}
        self.help_url = help_url

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": RASA_COMPAT_VERSION,
            "status": "failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "help": self.help_url,
            "code": self.status,
        }

    def response(self) -> HTTPResponse:
        return json_response(self.to_dict(), status=self.status)


def error(status: int, reason: str, message: str, details: Any = None) -> HTTPResponse:
    return ErrorResponse(status, reason, message, details).response()
