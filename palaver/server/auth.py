"""API authentication: a shared token (``?token=``) or a JWT (``Authorization: Bearer``).

Rules (Rasa's): with neither configured, every route is open. A matching
token grants everything. A valid JWT with ``{"user": {"role": "admin"}}``
grants everything; ``role: "user"`` grants only routes whose conversation id
equals ``user.username`` (403 otherwise). Anything else is 401.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

import jwt
from sanic import Request

from palaver.errors import ConfigError
from palaver.server.errors import ErrorResponse

if TYPE_CHECKING:
    from palaver.server.runtime import Runtime
    from palaver.server.settings import ServerSettings

SUPPORTED_JWT_METHODS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256")


class Authenticator:
    """Checks one request against the server's auth settings."""

    def __init__(self, settings: ServerSettings) -> None:
        self.token = settings.auth_token
        self.jwt_method = settings.jwt_method
        self.jwt_secret = settings.jwt_secret
        if self.jwt_secret and self.jwt_method not in SUPPORTED_JWT_METHODS:
            raise ConfigError(
                f"--jwt-method '{self.jwt_method}' is not supported. "
                f"Valid methods: {', '.join(SUPPORTED_JWT_METHODS)}."
            )

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.jwt_secret)

    def _token_matches(self, request: Request) -> bool:
        if not self.token:
            return False
        provided = request.args.get("token")
        return provided is not None and hmac.compare_digest(provided.encode(), self.token.encode())

    def _jwt_payload(self, request: Request) -> dict[str, Any] | None:
        if not self.jwt_secret:
            return None
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return None
        try:
            payload = jwt.decode(credentials.strip(), self.jwt_secret, algorithms=[self.jwt_method])
        except jwt.PyJWTError:
            return None
        return payload if isinstance(payload, dict) else None

    def check(self, request: Request, conversation_id: str | None) -> None:
        """Raise 401/403 ``ErrorResponse`` unless the request may proceed."""
        if not self.enabled or self._token_matches(request):
            return
        payload = self._jwt_payload(request)
        if payload is None:
            raise ErrorResponse(401, "NotAuthenticated", "User is not authenticated.")
        user = payload.get("user") or {}
        role = user.get("role") if isinstance(user, dict) else None
        if role == "admin":
            return
        if (
            role == "user"
            and conversation_id is not None
            and isinstance(user, dict)
            and user.get("username") == conversation_id
        ):
            return
        raise ErrorResponse(403, "NotAuthorized", "User has insufficient permissions.")


def authorize(request: Request, runtime: Runtime, conversation_id: str | None) -> None:
    """Check auth for a route; ``conversation_id`` for per-conversation routes."""
    runtime.auth.check(request, conversation_id)
