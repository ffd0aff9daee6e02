"""Responses from an NLG server (Rasa's NLG protocol) served by a local HTTP server."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.api_helpers import Api, ServerPool, StubServer
from tests.integration.conftest import ServerProcess

pytestmark = pytest.mark.slow


def generate(path: str, body: bytes) -> tuple[int, Any]:
    """The NLG server: a text naming the response; an image for utter_cheer_up; fails goodbye."""
    request = json.loads(body)
    response = request["response"]
    if response == "utter_goodbye":
        return 500, {"error": "template engine down"}
    reply: dict[str, Any] = {"text": f"[nlg] {response} for {request['tracker']['sender_id']}"}
    if response == "utter_cheer_up":
        reply["image"] = "https://example.com/kitten.jpg"
    return 200, reply


@pytest.fixture(scope="module")
def nlg() -> Iterator[StubServer]:
    with StubServer(generate) as stub:
        yield stub


@pytest.fixture(scope="module")
def nlg_server(
    tmp_path_factory: pytest.TempPathFactory, moodbot_model: Path, nlg: StubServer
) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("nlg")
    endpoints = directory / "endpoints.yml"
    endpoints.write_text(f"nlg:\n  url: {nlg.url}/nlg\n")
    with ServerPool(directory) as pool:
        yield pool.start(
            ["-m", str(moodbot_model), "--enable-api", "--endpoints", str(endpoints)],
            ready_path="/ready",
        )


@pytest.fixture
async def api(nlg_server: ServerProcess) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, nlg_server.url)


async def say(api: Api, sender: str, text: str) -> list[dict[str, Any]]:
    status, body = await api.call(
        "POST", "/webhooks/rest/webhook", {"sender": sender, "message": text}
    )
    assert status == 200, body
    return list(body)


async def test_responses_come_from_the_nlg_server(api: Api, nlg: StubServer) -> None:
    user = f"nlg-{time.monotonic_ns()}"
    assert await say(api, user, "hello") == [
        {"recipient_id": user, "text": f"[nlg] utter_greet for {user}"}
    ]
    request = next(b for b in nlg.bodies("/nlg") if b["tracker"]["sender_id"] == user)
    assert request["response"] == "utter_greet"
    assert request["arguments"] == {}
    assert request["channel"] == {"name": "collector"}
    assert request["tracker"]["latest_message"]["intent"]["name"] == "greet"
    assert any(e["event"] == "user" for e in request["tracker"]["events"])


async def test_rich_responses_pass_through(api: Api) -> None:
    user = f"nlg-rich-{time.monotonic_ns()}"
    await say(api, user, "hello")
    messages = await say(api, user, "I am sad")
    assert {"recipient_id": user, "image": "https://example.com/kitten.jpg"} in messages
    assert messages[0]["text"] == f"[nlg] utter_cheer_up for {user}"


async def test_nlg_through_the_http_api(api: Api) -> None:
    user = f"nlg-api-{time.monotonic_ns()}"
    status, body = await api.call(
        "POST", f"/conversations/{user}/trigger_intent", {"name": "greet"}
    )
    assert status == 200
    assert body["messages"] == [{"recipient_id": user, "text": f"[nlg] utter_greet for {user}"}]
    bot = [e for e in body["tracker"]["events"] if e["event"] == "bot"]
    assert bot[0]["text"] == f"[nlg] utter_greet for {user}"


async def test_a_failing_nlg_server_fails_the_response_not_the_request(api: Api) -> None:
    user = f"nlg-down-{time.monotonic_ns()}"
    _, before = await api.call("GET", "/status")
    assert await say(api, user, "bye") == []
    _, tracker = await api.call("GET", f"/conversations/{user}/tracker")
    assert tracker["latest_action_name"] == "action_listen"
    assert not [e for e in tracker["events"] if e["event"] == "bot"]
    _, after = await api.call("GET", "/status")
    assert after["counters"]["actions_failed"] > before["counters"]["actions_failed"]
