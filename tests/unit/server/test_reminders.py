"""Firing reminders on a real runtime (in-memory stores): Rasa's ``handle_reminder`` rules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from palaver.channels.base import CollectingOutputChannel, UserMessage
from palaver.config import CredentialsConfig
from palaver.core.events import (
    ActionExecuted,
    Event,
    ReminderCancelled,
    ReminderScheduled,
    Restarted,
    SessionStarted,
    UserUttered,
)
from palaver.core.processor import MessageProcessor
from palaver.core.reminders import ReminderScheduler
from palaver.core.tracker import DialogueStateTracker
from palaver.server.reminders import fire_reminder, scheduling_channel, why_not_fire
from palaver.server.runtime import Runtime
from palaver.server.settings import ServerSettings
from palaver.training import train_project
from tests import services

PROJECT = Path(__file__).resolve().parents[2] / "integration" / "projects" / "reminderbot"


@pytest.fixture(scope="module")
def reminderbot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_project(PROJECT, out_dir=tmp_path_factory.mktemp("reminderbot")).archive


@pytest.fixture
async def runtime(reminderbot: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime(ServerSettings(model=str(reminderbot)))
    await runtime.start()
    yield runtime
    await runtime.stop()


def processor(runtime: Runtime) -> MessageProcessor:
    assert runtime.processor is not None
    return runtime.processor


def scheduler(runtime: Runtime) -> ReminderScheduler:
    assert runtime.reminders is not None
    return runtime.reminders


def nudge(
    seconds: float = 0.0, *, name: str = "nudge", kill: bool = True, thing: str = "keys"
) -> ReminderScheduled:
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return ReminderScheduled("nudge", when, {"thing": thing}, name, kill)


async def say(runtime: Runtime, sender: str, text: str, channel: str = "rest") -> list[str]:
    output = CollectingOutputChannel()
    message = UserMessage(text=text, sender_id=sender, input_channel=channel)
    await processor(runtime).handle_message(message, output)
    return [m.get("text", "") for m in output.messages]


async def add_events(runtime: Runtime, sender: str, *events: Event, schedule: bool = False) -> None:
    """``POST /conversations/{sender}/tracker/events`` (with side effects if ``schedule``)."""
    async with processor(runtime).conversation(sender, session="initial") as turn:
        turn.tracker.update_with_events(list(events))
        if schedule:
            turn.schedule_reminders(events)


async def stored(runtime: Runtime, sender: str) -> list[dict[str, Any]]:
    assert runtime.tracker_store is not None
    conversation = await runtime.tracker_store.load(sender, full=True)
    return [] if conversation is None else list(conversation.events)


def externals(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "user" and e["text"].startswith("EXTERNAL: ")]


async def wait_for_external(runtime: Runtime, sender: str, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if externals(await stored(runtime, sender)):
                return
            await asyncio.sleep(0.02)


async def test_a_reminder_fires_as_an_external_intent(runtime: Runtime) -> None:
    await say(runtime, "u1", "hello")
    # scheduled while the conversation is locked and already due: it fires after the append
    await add_events(runtime, "u1", nudge(0), schedule=True)
    await wait_for_external(runtime, "u1")
    events = await stored(runtime, "u1")
    assert scheduler(runtime).job_count() == 0
    reminder_at = next(i for i, e in enumerate(events) if e["event"] == "reminder")
    tail = [
        (e["event"], e.get("text") or e.get("value") or e.get("name"))
        for e in events[reminder_at + 1 :]
        if e["event"] != "user_featurization"
    ]
    assert tail == [
        ("user", "EXTERNAL: nudge"),
        ("slot", "keys"),
        ("action", "utter_nudge"),
        ("bot", "Don't forget the keys!"),
        ("action", "action_listen"),
    ]
    user = externals(events)[0]
    assert user["parse_data"]["intent"]["name"] == "nudge"
    assert user["parse_data"]["entities"] == [{"entity": "thing", "value": "keys"}]
    assert user["metadata"] == {"is_external": True}
    assert user["input_channel"] == "rest"


async def test_a_user_message_kills_the_reminder(runtime: Runtime) -> None:
    await say(runtime, "u2", "hello")
    reminder = nudge()
    await add_events(runtime, "u2", reminder)
    await say(runtime, "u2", "hello")
    before = await stored(runtime, "u2")
    await fire_reminder(runtime, "u2", reminder)
    assert await stored(runtime, "u2") == before


async def test_without_kill_on_user_message_it_fires_anyway(runtime: Runtime) -> None:
    reminder = nudge(kill=False)
    await add_events(runtime, "u3", reminder)
    await say(runtime, "u3", "hello")
    await fire_reminder(runtime, "u3", reminder)
    assert len(externals(await stored(runtime, "u3"))) == 1


async def test_a_restarted_conversation_drops_the_reminder(runtime: Runtime) -> None:
    reminder = nudge(kill=False)
    await add_events(runtime, "u4", reminder)
    await add_events(runtime, "u4", Restarted())
    before = await stored(runtime, "u4")
    await fire_reminder(runtime, "u4", reminder)
    assert await stored(runtime, "u4") == before


async def test_a_deleted_or_replaced_conversation_drops_the_reminder(runtime: Runtime) -> None:
    await add_events(runtime, "u5", nudge(kill=False))
    await processor(runtime).replace_events(
        "u5", [SessionStarted(), ActionExecuted("action_listen")]
    )
    before = await stored(runtime, "u5")
    await fire_reminder(runtime, "u5", nudge(kill=False))
    assert await stored(runtime, "u5") == before
    assert runtime.tracker_store is not None
    await runtime.tracker_store.delete("u5")
    await fire_reminder(runtime, "u5", nudge(kill=False))
    assert await stored(runtime, "u5") == []


async def test_a_stored_cancellation_drops_the_reminder(runtime: Runtime) -> None:
    # e.g. cancelled by an action on another replica: this process still holds the timer
    reminder = nudge(kill=False)
    await add_events(runtime, "u6", reminder, ReminderCancelled(intent="nudge"))
    before = await stored(runtime, "u6")
    await fire_reminder(runtime, "u6", reminder)
    assert await stored(runtime, "u6") == before


async def test_an_intent_missing_from_the_domain_does_not_fire(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    odd = ReminderScheduled("no_such_intent", datetime.now(UTC), name="odd")
    await add_events(runtime, "u7", odd)
    before = await stored(runtime, "u7")
    with caplog.at_level(logging.WARNING, logger="palaver.server.reminders"):
        await fire_reminder(runtime, "u7", odd)
    assert await stored(runtime, "u7") == before
    assert any(
        "u7" in r.getMessage() and "no_such_intent" in r.getMessage() for r in caplog.records
    )


async def test_a_reminder_rescheduled_under_its_name_fires_once(runtime: Runtime) -> None:
    # e.g. rescheduled on another replica: this process's older timer must not fire it
    first, second = nudge(name="same", kill=False), nudge(30, name="same", kill=False)
    await add_events(runtime, "u10", first, second)
    before = await stored(runtime, "u10")
    await fire_reminder(runtime, "u10", first)
    assert await stored(runtime, "u10") == before


async def test_cancel_events_with_side_effects_cancel_the_job(runtime: Runtime) -> None:
    await add_events(runtime, "u8", nudge(30, name="a"), nudge(30, name="b"), schedule=True)
    assert {r.name for r in scheduler(runtime).scheduled("u8")} == {"a", "b"}
    await add_events(runtime, "u8", ReminderCancelled(name="a"), schedule=True)
    assert [r.name for r in scheduler(runtime).scheduled("u8")] == ["b"]
    await add_events(runtime, "u8", ReminderCancelled(), schedule=True)
    assert scheduler(runtime).job_count() == 0


async def test_stopping_the_runtime_stops_the_scheduler(reminderbot: Path) -> None:
    runtime = Runtime(ServerSettings(model=str(reminderbot)))
    await runtime.start()
    await add_events(runtime, "u9", nudge(30), schedule=True)
    running = scheduler(runtime)
    assert running.job_count() == 1
    await runtime.stop()
    assert running.job_count() == 0
    await runtime.stop()


async def test_replies_go_to_the_callback_channel_the_conversation_used(reminderbot: Path) -> None:
    received: list[Any] = []
    arrived = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        received.append(await request.json())
        arrived.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/bot", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = services.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    credentials = CredentialsConfig(
        {"rest": {}, "callback": {"url": f"http://127.0.0.1:{port}/bot"}}
    )
    runtime = Runtime(ServerSettings(model=str(reminderbot)), credentials=credentials)
    await runtime.start()
    try:
        assert await say(runtime, "cb", "hello", channel="callback") == ["Hi!"]
        await add_events(runtime, "cb", nudge(0.05, thing="umbrella"), schedule=True)
        await asyncio.wait_for(arrived.wait(), 5)
        assert received == [{"recipient_id": "cb", "text": "Don't forget the umbrella!"}]
    finally:
        await runtime.stop()
        await runner.cleanup()


def tracker(*events: Event) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("t", list(events))


def test_why_not_fire_follows_rasa() -> None:
    reminder = nudge(name="r")
    hello = UserUttered("hello", {"name": "greet"}, input_channel="callback")
    assert why_not_fire(tracker(hello, reminder), reminder) is None
    assert "kill_on_user_message" in str(why_not_fire(tracker(reminder, hello), reminder))
    # a user event without text (e.g. from a story) is no message
    assert why_not_fire(tracker(reminder, UserUttered(None, {"name": "greet"})), reminder) is None
    # rescheduled under the same name: the latest reminder of that name counts
    again = nudge(5, name="r")
    assert why_not_fire(tracker(reminder, hello, again), again) is None
    assert "replaced" in str(why_not_fire(tracker(reminder, hello, again), reminder))
    assert "no longer" in str(why_not_fire(tracker(hello), reminder))
    assert "no longer" in str(why_not_fire(tracker(reminder, SessionStarted()), reminder))
    cancel_other = ReminderCancelled(name="other")
    assert why_not_fire(tracker(reminder, cancel_other), reminder) is None
    assert "cancel" in str(why_not_fire(tracker(reminder, ReminderCancelled()), reminder))
    # cancelled, then scheduled again
    assert why_not_fire(tracker(ReminderCancelled(), reminder), reminder) is None


def test_the_scheduling_channel_is_the_latest_before_the_reminder() -> None:
    reminder = nudge(name="r")
    via = [UserUttered("a", input_channel="callback"), UserUttered("b", input_channel="rest")]
    assert scheduling_channel(tracker(via[0], reminder, via[1]), reminder) == "callback"
    assert scheduling_channel(tracker(via[1], reminder), reminder) == "rest"
    assert scheduling_channel(tracker(reminder), reminder) is None
