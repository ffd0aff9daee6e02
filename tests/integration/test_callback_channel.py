"""The callback channel: ``success`` at once, bot messages POSTed to the configured URL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests import services
from tests.integration.api_helpers import Api, ServerPool, StubServer
from tests.integration.conftest import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def receiver() -> Iterator[StubServer]:
    with StubServer() as stub:
        yield stub


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    with ServerPool(tmp_path_factory.mktemp("logs")) as servers:
        yield servers


def credentials(directory: Path, url: str) -> Path:
    path = directory / f"credentials-{time.monotonic_ns()}.yml"
    path.write_text(f"rest: {{}}\ncallback:\n  url: {url}\n")
    return path


@pytest.fixture(scope="module")
def callback_server(
    pool: ServerPool,
    moodbot_model: Path,
    receiver: StubServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> ServerProcess:
    creds = credentials(tmp_path_factory.mktemp("creds"), f"{receiver.url}/bot")
    args = ["-m", str(moodbot_model), "--enable-api", "--credentials", str(creds)]
    return pool.start(args, ready_path="/ready")


@pytest.fixture
async def api(callback_server: ServerProcess) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, callback_server.url)


def sent_to(receiver: StubServer, user: str) -> list[dict[str, Any]]:
    return [b for b in receiver.bodies("/bot") if b.get("recipient_id") == user]


async def wait_for_messages(receiver: StubServer, user: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while len(sent_to(receiver, user)) < count and time.monotonic() < deadline:
        await receiver.wait_for(len(receiver.bodies("/bot")) + 1, "/bot", seconds=20)
    return sent_to(receiver, user)


async def webhook(api: Api, user: str, text: str) -> tuple[int, bytes]:
    status, body = await api.call(
        "POST", "/webhooks/callback/webhook", {"sender": user, "message": text}
    )
    return status, body


async def test_messages_are_posted_to_the_callback_url(api: Api, receiver: StubServer) -> None:
    user = f"cb-{time.monotonic_ns()}"
    status, body = await webhook(api, user, "hello")
    assert (status, body) == (200, b"success")
    assert await wait_for_messages(receiver, user, 1) == [
        {"recipient_id": user, "text": "Hey! How are you?"}
    ]
    status, _ = await webhook(api, user, "I am sad")
    assert status == 200
    messages = await wait_for_messages(receiver, user, 4)
    assert messages[1:] == [
        {"recipient_id": user, "text": "Here is something to cheer you up:"},
        {"recipient_id": user, "image": "https://i.imgur.com/nGF1K8f.jpg"},
        {"recipient_id": user, "text": "Did that help you?"},
    ]
    _, tracker = await api.call("GET", f"/conversations/{user}/tracker")
    assert tracker["latest_input_channel"] == "callback"


async def test_health(api: Api) -> None:
    status, body = await api.call("GET", "/webhooks/callback/")
    assert (status, body) == (200, {"status": "ok"})


async def test_invalid_payloads_are_400(api: Api) -> None:
    status, body = await api.call("POST", "/webhooks/callback/webhook", {"message": "hi"})
    assert status == 400 and "'sender'" in body["message"]


async def test_trigger_intent_to_the_callback_channel(api: Api, receiver: StubServer) -> None:
    user = f"cb-api-{time.monotonic_ns()}"
    status, body = await api.call(
        "POST",
        f"/conversations/{user}/trigger_intent",
        {"name": "greet"},
        params={"output_channel": "callback"},
    )
    assert status == 200
    assert await wait_for_messages(receiver, user, 1) == [
        {"recipient_id": user, "text": "Hey! How are you?"}
    ]
    # the callback output also collects, so the messages are in the response as in Rasa
    assert body["messages"] == [{"recipient_id": user, "text": "Hey! How are you?"}]


async def test_latest_output_channel(api: Api, receiver: StubServer) -> None:
    user = f"cb-latest-{time.monotonic_ns()}"
    await webhook(api, user, "hello")
    await wait_for_messages(receiver, user, 1)
    status, _ = await api.call(
        "POST",
        f"/conversations/{user}/execute",
        {"name": "utter_happy"},
        params={"output_channel": "latest"},
    )
    assert status == 200
    messages = await wait_for_messages(receiver, user, 2)
    assert messages[-1] == {"recipient_id": user, "text": "Great, carry on!"}


async def test_appended_bot_events_are_sent_only_with_side_effects(
    api: Api, receiver: StubServer
) -> None:
    user = f"cb-events-{time.monotonic_ns()}"
    quiet = {"event": "bot", "text": "not sent"}
    status, _ = await api.call(
        "POST",
        f"/conversations/{user}/tracker/events",
        quiet,
        params={"output_channel": "callback"},
    )
    assert status == 200
    loud = {
        "event": "bot",
        "text": "sent",
        "data": {"buttons": [{"title": "ok", "payload": "/ok"}]},
    }
    status, _ = await api.call(
        "POST",
        f"/conversations/{user}/tracker/events",
        loud,
        params={"output_channel": "callback", "execute_side_effects": "true"},
    )
    assert status == 200
    messages = await wait_for_messages(receiver, user, 1)
    assert messages == [
        {"recipient_id": user, "text": "sent", "buttons": [{"title": "ok", "payload": "/ok"}]}
    ]


async def test_an_unreachable_callback_url_still_answers_success(
    pool: ServerPool, moodbot_model: Path, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{services.free_port()}/bot"
    server = pool.start(
        ["-m", str(moodbot_model), "--credentials", str(credentials(tmp_path, dead))],
        ready_path="/ready",
    )
    async with aiohttp.ClientSession() as session:
        api = Api(session, server.url)
        status, body = await webhook(api, "lonely", "hello")
    assert (status, body) == (200, b"success")
