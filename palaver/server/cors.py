"""CORS for ``--cors``: answer preflights and add the headers to every response."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sanic import HTTPResponse, Request, Sanic
from sanic.response import BaseHTTPResponse


def _allowed_origin(origin: str | None, allowed: Sequence[str]) -> str | None:
    if origin is None:
        return None
    if "*" in allowed:
        return origin
    return origin if origin in allowed else None


def install_cors(app: Sanic[Any, Any], allowed: Sequence[str]) -> None:
    async def preflight(request: Request) -> HTTPResponse | None:
        if request.method != "OPTIONS":
            return None
        origin = _allowed_origin(request.headers.get("origin"), allowed)
        response = HTTPResponse(status=204)
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "access-control-request-headers", "Content-Type, Authorization"
            )
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Vary"] = "Origin"
        return response

    async def add_headers(request: Request, response: BaseHTTPResponse) -> None:
        origin = _allowed_origin(request.headers.get("origin"), allowed)
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Vary"] = "Origin"

    app.register_middleware(preflight, "request", priority=100)
    app.register_middleware(add_headers, "response")
