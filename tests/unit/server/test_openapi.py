"""The OpenAPI document: valid, and in step with the routes the API mounts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from palaver.server.openapi import openapi_document

ROUTE_PARAM = re.compile(r"<(\w+)(?::\w+)?>")
UNDOCUMENTED = {("GET", "/metrics"), ("GET", "/openapi.json")}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def _app_routes() -> set[tuple[str, str]]:
    from palaver.server.app import create_app
    from palaver.server.runtime import Runtime
    from palaver.server.settings import ServerSettings

    app = create_app(Runtime(ServerSettings(enable_api=True)), name="openapi_test")
    routes = set()
    for route in app.router.routes:
        path = "/" + ROUTE_PARAM.sub(r"{\1}", route.path)
        for method in route.methods:
            if not path.startswith("/webhooks/") and method not in ("HEAD", "OPTIONS"):
                routes.add((method, path))
    return routes


def test_every_route_is_documented_and_nothing_else(document: dict[str, Any]) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert _app_routes() - UNDOCUMENTED == documented


def test_rasa_operation_ids_are_kept(document: dict[str, Any]) -> None:
    ids = {op["operationId"] for ops in document["paths"].values() for op in ops.values()}
    rasa_ids = {
        "getHealth",
        "getVersion",
        "getStatus",
        "getConversationTracker",
        "addConversationTrackerEvents",
        "replaceConversationTrackerEvents",
        "getConversationStory",
        "executeConversationAction",
        "triggerConversationIntent",
        "predictConversationAction",
        "addConversationMessage",
        "trainModel",
        "testModelStories",
        "testModelIntent",
        "predictModelAction",
        "parseModelMessage",
        "replaceModel",
        "unloadModel",
        "getDomain",
    }
    assert rasa_ids <= ids


def test_api_operations_declare_auth_and_error_envelope(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path in ("/", "/version", "/ready"):
                continue
            assert operation["security"], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_a_copy_is_returned(document: dict[str, Any]) -> None:
    document["paths"].clear()
    assert openapi_document()["paths"]
