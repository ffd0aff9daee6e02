"""Reminders on a running ``palaver run``: set through the HTTP API or by a rasa-sdk action.

The test bot (``projects/reminderbot``) answers the intent ``nudge`` with a
domain response and the intent ``reminder_due`` with a custom action; its
custom actions (served by a real rasa-sdk action server) schedule and cancel
reminders as Rasa's reminderbot does. Replies of the callback channel are
POSTed to a local HTTP server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.api_helpers import Api, ServerPool, StubServer
from tests.integration.conftest import ServerProcess
from tests.integration.rasa_sdk_server import RasaSdkActionServer

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "reminderbot"

Events = list[dict[str, Any]]


@pytest.fixture(scope="module")
def reminderbot_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from palaver.training import train_project

    return train_project(PROJECT, out_dir=tmp_path_factory.mktemp("reminderbot")).archive


@pytest.fixture(scope="module")
def receiver() -> Iterator[StubServer]:
    with StubServer() as stub:
        yield stub


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    with ServerPool(tmp_path_factory.mktemp("logs")) as servers:
        yield servers


def _server_args(
    model: Path, directory: Path, callback_url: str, action_url: str | None = None
) -> list[str]:
    credentials = directory / "credentials.yml"
    credentials.write_text(f"rest: {{}}\ncallback:\n  url: {callback_url}\n")
    args = ["-m", str(model), "--enable-api", "--credentials", str(credentials)]
    if action_url is not None:
        endpoints = directory / "endpoints.yml"
        endpoints.write_text(f"action_endpoint:\n  url: {action_url}\n")
        args += ["--endpoints", str(endpoints)]
    return args


@pytest.fixture(scope="module")
def api_server(
    pool: ServerPool,
    reminderbot_model: Path,
    receiver: StubServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> ServerProcess:
    directory = tmp_path_factory.mktemp("api-server")
    args = _server_args(reminderbot_model, directory, f"{receiver.url}/bot")
    return pool.start(args, ready_path="/ready")


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
def sdk_server(
    pool: ServerPool,
    reminderbot_model: Path,
    receiver: StubServer,
    action_server: RasaSdkActionServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> ServerProcess:
    directory = tmp_path_factory.mktemp("sdk-server")
    args = _server_args(reminderbot_model, directory, f"{receiver.url}/bot", action_server.url)
    return pool.start(args, ready_path="/ready")


@pytest.fixture
async def api(api_server: ServerProcess) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, api_server.url)


@pytest.fixture
async def sdk_api(sdk_server: ServerProcess) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, sdk_server.url)


def new_user(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns()}"


def reminder(
    intent: str,
    seconds: float,
    *,
    name: str,
    kill: bool = True,
    entities: dict[str, Any] | None = None,
) -> dict[str, Any]:
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return {
        "event": "reminder",
        "intent": intent,
        "date_time": when.isoformat(),
        "entities": entities,
        "name": name,
        "kill_on_user_msg": kill,
    }


async def add_events(api: Api, user: str, *events: dict[str, Any]) -> None:
    """Append events with their side effects: reminders are scheduled and cancelled."""
    status, body = await api.call(
        "POST",
        f"/conversations/{user}/tracker/events",
        list(events),
        params={"execute_side_effects": "true"},
    )
    assert status == 200, body


async def rest(api: Api, user: str, text: str) -> list[str]:
    status, body = await api.call(
        "POST", "/webhooks/rest/webhook", {"sender": user, "message": text}
    )
    assert status == 200, body
    return [m.get("text") for m in body]


async def callback(api: Api, user: str, text: str) -> None:
    status, body = await api.call(
        "POST", "/webhooks/callback/webhook", {"sender": user, "message": text}
    )
    assert (status, body) == (200, b"success")


async def events_of(api: Api, user: str) -> Events:
    status, body = await api.call("GET", f"/conversations/{user}/tracker")
    assert status == 200, body
    return list(body["events"])


async def wait_for_events(
    api: Api, user: str, done: Callable[[Events], bool], seconds: float = 15.0
) -> Events:
    deadline = time.monotonic() + seconds
    while True:
        events = await events_of(api, user)
        if done(events):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"conversation {user} did not get there: {events}")
        await asyncio.sleep(0.1)


def external(intent: str) -> Callable[[Events], bool]:
    """Whether the reminder's user event is there and the turn it started is complete."""

    def done(events: Events) -> bool:
        fired = any(e.get("text") == f"EXTERNAL: {intent}" for e in events)
        return fired and events[-1].get("name") == "action_listen"

    return done


def texts(events: Events, kind: str) -> list[str]:
    return [e["text"] for e in events if e["event"] == kind]


async def wait_for_callback(receiver: StubServer, user: str, count: int) -> list[str]:
    deadline = time.monotonic() + 15
    while True:
        sent = [b["text"] for b in receiver.bodies("/bot") if b.get("recipient_id") == user]
        if len(sent) >= count or time.monotonic() > deadline:
            return sent
        await asyncio.sleep(0.05)


async def test_a_reminder_set_through_the_api_fires(api: Api) -> None:
    user = new_user("api")
    assert await rest(api, user, "hello") == ["Hi!"]
    event = reminder("nudge", 1.0, name="keys", entities={"thing": "keys"})
    await add_events(api, user, event)
    events = await wait_for_events(api, user, external("nudge"))
    fired = next(e for e in events if e.get("text") == "EXTERNAL: nudge")
    assert fired["timestamp"] >= datetime.fromisoformat(event["date_time"]).timestamp() - 0.01
    assert fired["parse_data"]["intent"]["name"] == "nudge"
    assert fired["parse_data"]["entities"] == [{"entity": "thing", "value": "keys"}]
    assert fired["input_channel"] == "rest"
    assert texts(events, "bot") == ["Hi!", "Don't forget the keys!"]
    assert [e["name"] for e in events if e["event"] == "action"][-2:] == [
        "utter_nudge",
        "action_listen",
    ]


async def test_a_reminder_replies_through_the_callback_channel(
    api: Api, receiver: StubServer
) -> None:
    user = new_user("callback")
    await callback(api, user, "hello")
    assert await wait_for_callback(receiver, user, 1) == ["Hi!"]
    await add_events(api, user, reminder("nudge", 1.0, name="u", entities={"thing": "umbrella"}))
    assert await wait_for_callback(receiver, user, 2) == ["Hi!", "Don't forget the umbrella!"]
    events = await wait_for_events(api, user, external("nudge"))
    assert texts(events, "bot")[-1] == "Don't forget the umbrella!"


async def test_a_user_message_in_between_keeps_the_reminder_from_firing(api: Api) -> None:
    user = new_user("kill")
    await rest(api, user, "hello")
    killed = reminder("nudge", 1.0, name="killed", entities={"thing": "keys"})
    # fires after the other one had its turn: once it is there, the other's time is past
    survivor = reminder("greet", 1.5, name="survivor", kill=False)
    await add_events(api, user, killed, survivor)
    assert await rest(api, user, "hello") == ["Hi!"]
    events = await wait_for_events(api, user, external("greet"))
    assert texts(events, "user") == ["hello", "hello", "EXTERNAL: greet"]
    assert "Don't forget the keys!" not in texts(events, "bot")


async def test_a_cancelled_reminder_does_not_fire(api: Api) -> None:
    user = new_user("cancel")
    await rest(api, user, "hello")
    await add_events(
        api,
        user,
        reminder("nudge", 1.0, name="a", entities={"thing": "keys"}),
        # due after "a": once it fired, "a" would have fired before it
        reminder("nudge", 1.3, name="b", entities={"thing": "wallet"}),
    )
    await add_events(api, user, {"event": "cancel_reminder", "entities": {"thing": "keys"}})
    events = await wait_for_events(api, user, external("nudge"))
    assert texts(events, "user") == ["hello", "EXTERNAL: nudge"]
    assert texts(events, "bot") == ["Hi!", "Don't forget the wallet!"]


async def test_a_reminder_set_by_a_rasa_sdk_action_fires(
    sdk_api: Api, receiver: StubServer
) -> None:
    user = new_user("sdk")
    await callback(sdk_api, user, '/remind_me{"thing": "tea"}')
    assert await wait_for_callback(receiver, user, 2) == [
        "I will remind you of the tea.",
        "Reminder: the tea!",
    ]
    events = await wait_for_events(sdk_api, user, external("reminder_due"))
    scheduled = next(e for e in events if e["event"] == "reminder")
    assert (scheduled["name"], scheduled["entities"]) == ("remember_tea", {"thing": "tea"})
    fired = next(e for e in events if e.get("text") == "EXTERNAL: reminder_due")
    assert fired["parse_data"]["entities"] == [{"entity": "thing", "value": "tea"}]
    assert fired["input_channel"] == "callback"
    actions = [e["name"] for e in events if e["event"] == "action"]
    assert actions[-2:] == ["action_react_to_reminder", "action_listen"]


async def test_a_rasa_sdk_action_cancels_reminders(sdk_api: Api) -> None:
    user = new_user("sdk-cancel")
    assert await rest(sdk_api, user, '/remind_me{"thing": "cake"}') == [
        "I will remind you of the cake."
    ]
    assert await rest(sdk_api, user, "/forget_reminders") == ["Okay, forgotten."]
    await add_events(sdk_api, user, reminder("greet", 1.5, name="later", kill=False))
    events = await wait_for_events(sdk_api, user, external("greet"))
    assert "EXTERNAL: reminder_due" not in texts(events, "user")
    assert "Reminder: the cake!" not in texts(events, "bot")
