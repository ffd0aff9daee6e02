"""Request parameters: every invalid value is a 400 naming the parameter."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from palaver.core.tracker import EventVerbosity
from palaver.server import params
from palaver.server.errors import ErrorResponse


def request(body: bytes = b"", headers: dict[str, str] | None = None, **args: str) -> Any:
    return SimpleNamespace(args=args, body=body, headers=headers or {})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, EventVerbosity.AFTER_RESTART),
        ("ALL", EventVerbosity.ALL),
        ("applied", EventVerbosity.APPLIED),
        (" none ", EventVerbosity.NONE),
    ],
)
def test_include_events(raw: str | None, expected: EventVerbosity) -> None:
    req = request() if raw is None else request(include_events=raw)
    assert params.verbosity_arg(req) is expected


def test_invalid_include_events() -> None:
    with pytest.raises(ErrorResponse) as info:
        params.verbosity_arg(request(include_events="SOME"))
    assert info.value.status == 400
    assert info.value.details == {"parameter": "include_events", "in": "query"}
    assert "AFTER_RESTART" in info.value.message


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("False", False), ("1", True), ("no", False), ("", True)]
)
def test_bool(raw: str, expected: bool) -> None:
    assert params.bool_arg(request(flag=raw), "flag", True) is expected


def test_invalid_bool() -> None:
    with pytest.raises(ErrorResponse, match="'flag' must be true or false"):
        params.bool_arg(request(flag="maybe"), "flag", False)


def test_float() -> None:
    assert params.float_arg(request(until="1559744410.5"), "until") == 1559744410.5
    assert params.float_arg(request(), "until") is None
    for bad in ("yesterday", "nan", "inf"):
        with pytest.raises(ErrorResponse):
            params.float_arg(request(until=bad), "until")


def test_int_range() -> None:
    assert params.int_arg(request(n="3"), "n", None, minimum=2, maximum=5) == 3
    assert params.int_arg(request(), "n", 7, minimum=2, maximum=5) == 7
    for bad in ("1", "6", "2.5", "x"):
        with pytest.raises(ErrorResponse):
            params.int_arg(request(n=bad), "n", None, minimum=2, maximum=5)


def test_json_body() -> None:
    assert params.json_object(request(b'{"a": 1}'), "x") == {"a": 1}
    with pytest.raises(ErrorResponse, match="empty"):
        params.json_body(request(), "events")
    with pytest.raises(ErrorResponse, match="not valid JSON"):
        params.json_body(request(b"{nope"), "events")
    with pytest.raises(ErrorResponse, match="got an array"):
        params.json_object(request(b"[1]"), "x")


def test_text_body() -> None:
    assert params.text_body(request(b"nlu: []"), "data") == "nlu: []"
    with pytest.raises(ErrorResponse, match="not UTF-8"):
        params.text_body(request(b"\xff\xfe\xfa"), "data")


def test_body_fields() -> None:
    body = {"name": "utter_greet", "policy": None, "confidence": 1, "bad": True}
    assert params.required_str(body, "name", "the action") == "utter_greet"
    assert params.optional_str(body, "policy") is None
    assert params.optional_number(body, "confidence") == 1.0
    with pytest.raises(ErrorResponse, match=r"'missing'.*is missing"):
        params.required_str(body, "missing", "a thing")
    with pytest.raises(ErrorResponse, match="'bad' must be a number"):
        params.optional_number(body, "bad")
    with pytest.raises(ErrorResponse, match="'confidence' must be a string"):
        params.optional_str(body, "confidence")


def test_content_type() -> None:
    req = request(headers={"content-type": "Application/X-YAML; charset=utf-8"})
    assert params.content_type(req) == "application/x-yaml"
