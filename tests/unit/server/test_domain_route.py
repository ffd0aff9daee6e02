"""``GET /domain`` content negotiation."""

from __future__ import annotations

import pytest

from palaver.server.routes.domain import negotiate


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "json"),
        ("", "json"),
        ("application/json", "json"),
        ("*/*", "json"),
        ("application/*", "json"),
        ("application/x-yaml", "yaml"),
        ("application/yaml", "yaml"),
        ("text/yml", "yaml"),
        ("text/html", None),
        ("text/html, application/json;q=0.5", "json"),
        ("application/json;q=0.2, application/x-yaml", "yaml"),
        ("application/json;q=0", None),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected
