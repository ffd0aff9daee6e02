"""A real rasa-sdk action server behind a running Palaver server.

The test bot (``projects/actionbot``) has custom actions that set slots and
send messages, a form validated by a ``FormValidationAction``, and an action
that always rejects execution. Conversations go through the REST channel.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests import services
from tests.integration.api_helpers import Api, ServerPool
from tests.integration.conftest import ServerProcess
from tests.integration.rasa_sdk_server import RasaSdkActionServer

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "actionbot"


@pytest.fixture(scope="module")
def actionbot_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from palaver.training import train_project

    return train_project(PROJECT, out_dir=tmp_path_factory.mktemp("actionbot"), force=True).archive


@pytest.fixture(scope="module")
def action_server(
    tmp_path_factory: pytest.TempPathFactory, rasa_sdk_python: str
) -> Iterator[RasaSdkActionServer]:
    server = RasaSdkActionServer(
        PROJECT, tmp_path_factory.mktemp("sdk") / "action-server.log", rasa_sdk_python
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    with ServerPool(tmp_path_factory.mktemp("logs")) as pool:
        yield pool


def _endpoints(directory: Path, url: str) -> Path:
    path = directory / "endpoints.yml"
    path.write_text(f"action_endpoint:\n  url: {url}\n")
    return path


@pytest.fixture(scope="module")
def bot_server(
    servers: ServerPool,
    actionbot_model: Path,
    action_server: RasaSdkActionServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> ServerProcess:
    endpoints = _endpoints(tmp_path_factory.mktemp("endpoints"), action_server.url)
    args = ["-m", str(actionbot_model), "--enable-api", "--endpoints", str(endpoints)]
    return servers.start(args, ready_path="/ready")


@pytest.fixture
async def bot(bot_server: ServerProcess) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, bot_server.url)


async def say(api: Api, sender: str, text: str) -> list[str]:
    status, body = await api.call(
        "POST", "/webhooks/rest/webhook", {"sender": sender, "message": text}
    )
    assert status == 200, body
    return [m["text"] for m in body]


async def tracker(api: Api, sender: str) -> dict[str, Any]:
    status, body = await api.call("GET", f"/conversations/{sender}/tracker")
    assert status == 200
    return dict(body)


def slot_events(state: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(e["name"], e["value"]) for e in state["events"] if e["event"] == "slot"]


async def test_custom_actions_and_a_validated_form(bot: Api) -> None:
    user = f"form-{time.monotonic_ns()}"
    assert await say(bot, user, "hi") == ["Hello stranger!"]
    assert await say(bot, user, "I want to give my info") == ["What is your name?"]
    assert await say(bot, user, "alice") == ["Which city do you live in?"]
    # the FormValidationAction rejects the value and utters a domain response
    assert await say(bot, user, "atlantis") == [
        "I don't know that city.",
        "Which city do you live in?",
    ]
    assert await say(bot, user, "berlin") == ["Thanks Alice from Berlin!"]

    state = await tracker(bot, user)
    slots = state["slots"]
    assert slots["greeted"] is True
    assert (slots["name"], slots["city"], slots["submitted"]) == ("Alice", "Berlin", True)
    assert slots["requested_slot"] is None and state["active_loop"] == {}
    events = slot_events(state)
    # the validation action's corrections are in the conversation as slot events
    assert ("name", "Alice") in events and ("city", None) in events and ("city", "Berlin") in events
    assert events.index(("greeted", True)) < events.index(("submitted", True))
    bot_texts = [e["text"] for e in state["events"] if e["event"] == "bot"]
    assert bot_texts[-1] == "Thanks Alice from Berlin!"


async def test_custom_actions_through_the_http_api(bot: Api) -> None:
    user = f"api-{time.monotonic_ns()}"
    await bot.call(
        "POST",
        f"/conversations/{user}/tracker/events",
        {"event": "slot", "name": "name", "value": "Dana"},
    )
    status, body = await bot.call(
        "POST", f"/conversations/{user}/trigger_intent", {"name": "greet"}
    )
    assert status == 200, body
    assert body["messages"] == [{"recipient_id": user, "text": "Hello Dana!"}]
    assert body["tracker"]["slots"]["greeted"] is True
    status, body = await bot.call(
        "POST", f"/conversations/{user}/execute", {"name": "action_submit_info"}
    )
    assert status == 200, body
    assert body["messages"][0]["text"] == "Thanks Dana from None!"
    assert body["tracker"]["slots"]["submitted"] is True


async def test_a_rejected_action_is_recorded_and_the_turn_ends(bot: Api) -> None:
    user = f"secret-{time.monotonic_ns()}"
    # Rasa zeroes the rejected action's score; the core fallback answers instead.
    assert await say(bot, user, "what is the secret") == ["Sorry, I can't help with that."]
    state = await tracker(bot, user)
    rejected = [e for e in state["events"] if e["event"] == "action_execution_rejected"]
    assert rejected and rejected[0]["name"] == "action_check_secret"
    assert state["latest_action_name"] == "action_listen"
    # the conversation goes on normally
    assert await say(bot, user, "bye") == ["Bye!"]


async def test_a_rejected_action_is_not_predicted_again(bot: Api) -> None:
    user = f"secret-once-{time.monotonic_ns()}"
    await say(bot, user, "tell me the secret")
    state = await tracker(bot, user)
    rejected = [e for e in state["events"] if e["event"] == "action_execution_rejected"]
    assert len(rejected) == 1


async def test_an_unreachable_action_server_fails_the_action_not_the_request(
    servers: ServerPool, actionbot_model: Path, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{services.free_port()}/webhook"
    endpoints = _endpoints(tmp_path, dead)
    server = servers.start(
        ["-m", str(actionbot_model), "--enable-api", "--endpoints", str(endpoints)],
        ready_path="/ready",
    )
    async with aiohttp.ClientSession() as session:
        api = Api(session, server.url)
        assert await say(api, "nobody-home", "hi") == []
        state = await tracker(api, "nobody-home")
        assert state["latest_action_name"] == "action_listen"
        assert "greeted" not in dict(slot_events(state))
        _, status = await api.call("GET", "/status")
        assert status["counters"]["actions_failed"] >= 1
        # /execute of the failing action logs it without events and adds no
        # action_listen (Rasa's execute_action); the request still succeeds.
        code, body = await api.call(
            "POST", "/conversations/nobody-home/execute", {"name": "action_submit_info"}
        )
        assert code == 200, body
        tail = [(e["event"], e.get("name")) for e in body["tracker"]["events"][-2:]]
        assert tail[-1] == ("action", "action_submit_info")
        assert tail[-2] != ("action", "action_submit_info")
