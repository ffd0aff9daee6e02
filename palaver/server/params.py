"""Reading API request parameters; every failure is a 400 naming the parameter.

Rasa's server silently treats an unparsable ``until`` as absent and any
boolean other than ``true`` as false. Palaver answers 400 instead, so a typo
in a query string is reported rather than changing the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson
from sanic import Request

from palaver.core.tracker import EventVerbosity
from palaver.server.errors import ErrorResponse

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def bad_parameter(name: str, where: str, message: str) -> ErrorResponse:
    """A 400 ``BadRequest`` with Rasa's ``{"parameter", "in"}`` details."""
    return ErrorResponse(400, "BadRequest", message, {"parameter": name, "in": where})


def verbosity_arg(
    request: Request, default: EventVerbosity = EventVerbosity.AFTER_RESTART
) -> EventVerbosity:
    """``include_events``: AFTER_RESTART, ALL, APPLIED or NONE (case-insensitive)."""
    raw = request.args.get("include_events")
    if raw is None:
        return default
    try:
        return EventVerbosity[raw.strip().upper()]
    except KeyError as exc:
        valid = ", ".join(v.name for v in EventVerbosity)
        raise bad_parameter(
            "include_events",
            "query",
            f"Invalid parameter value for 'include_events': {raw!r}. Should be one of {valid}.",
        ) from exc


def bool_arg(request: Request, name: str, default: bool) -> bool:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise bad_parameter(
        name, "query", f"Query parameter '{name}' must be true or false, got {raw!r}."
    )


def float_arg(request: Request, name: str) -> float | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise bad_parameter(
            name, "query", f"Query parameter '{name}' must be a number, got {raw!r}."
        ) from exc
    if not math.isfinite(value):
        raise bad_parameter(name, "query", f"Query parameter '{name}' must be a finite number.")
    return value


def int_arg(
    request: Request, name: str, default: int | None, *, minimum: int, maximum: int
) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_parameter(
            name, "query", f"Query parameter '{name}' must be an integer, got {raw!r}."
        ) from exc
    if not minimum <= value <= maximum:
        raise bad_parameter(
            name, "query", f"Query parameter '{name}' must be between {minimum} and {maximum}."
        )
    return value


def str_arg(request: Request, name: str) -> str | None:
    raw = request.args.get(name)
    return raw if raw else None


def json_body(request: Request, what: str) -> Any:
    """The request body as JSON; ``what`` says what the body should hold (for the 400)."""
    if not request.body:
        raise ErrorResponse(
            400, "BadRequest", f"The request body is empty; expected {what}.", {"in": "body"}
        )
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise ErrorResponse(
            400, "BadRequest", f"The request body is not valid JSON: {exc}", {"in": "body"}
        ) from exc


def json_object(request: Request, what: str) -> dict[str, Any]:
    body = json_body(request, what)
    if not isinstance(body, dict):
        raise ErrorResponse(
            400,
            "BadRequest",
            f"The request body must be a JSON object ({what}), got {_json_kind(body)}.",
            {"in": "body"},
        )
    return body


def text_body(request: Request, what: str) -> str:
    """The request body as UTF-8 text (YAML payloads)."""
    if not request.body:
        raise ErrorResponse(
            400, "BadRequest", f"The request body is empty; expected {what}.", {"in": "body"}
        )
    try:
        return request.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ErrorResponse(
            400, "BadRequest", f"The request body is not UTF-8 text: {exc}", {"in": "body"}
        ) from exc


def required_str(body: Mapping[str, Any], key: str, what: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        problem = "is missing" if value is None else "must be a non-empty string"
        raise bad_parameter(key, "body", f"Field '{key}' ({what}) {problem}.")
    return value


def optional_str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise bad_parameter(key, "body", f"Field '{key}' must be a string or null.")


def optional_number(body: Mapping[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_parameter(key, "body", f"Field '{key}' must be a number or null.")
    return float(value)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def content_type(request: Request) -> str:
    """The request's media type without parameters, lower-cased."""
    return str(request.headers.get("content-type", "")).split(";", 1)[0].strip().lower()
