"""Fuzzing the HTTP API with schemathesis against Palaver's own ``/openapi.json``.

Every generated request must get an answer that is not a server error and
that matches the document: a documented status code, content type and
response schema. Operations that change the server for the rest of the run
(training, loading and unloading models) are left out; they have their own
tests. The example count per operation is bounded so the run stays short.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from palaver.server.openapi import openapi_document
from tests.integration.api_helpers import ServerPool
from tests.integration.conftest import ServerProcess

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 15
EXCLUDED = ["trainModel", "replaceModel", "unloadModel"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_server(
    tmp_path_factory: pytest.TempPathFactory, moodbot_model: Path
) -> Iterator[ServerProcess]:
    with ServerPool(tmp_path_factory.mktemp("fuzz")) as pool:
        yield pool.start(["-m", str(moodbot_model), "--enable-api"], ready_path="/ready")


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


# The document the server publishes, built in-process so tests can be collected per
# operation; test_openapi_document_is_the_one_served checks it is the served one.
schema = schemathesis.openapi.from_dict(openapi_document())


def test_openapi_document_is_the_one_served(fuzz_server: ServerProcess) -> None:
    with urllib.request.urlopen(f"{fuzz_server.url}/openapi.json", timeout=10) as resp:
        assert json.loads(resp.read()) == openapi_document()


@schema.exclude(operation_id=EXCLUDED).parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(
    case: Any, fuzz_server: ServerProcess, http: requests.Session
) -> None:
    case.call_and_validate(base_url=fuzz_server.url, session=http, checks=CHECKS, timeout=60)
