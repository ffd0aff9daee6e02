"""The reminder scheduler: timers per conversation and name, replacement, cancellation, stop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from palaver.core.events import ReminderCancelled, ReminderScheduled
from palaver.core.reminders import ReminderScheduler, cancels, entity_list
from palaver.errors import LockTimeoutError


def in_seconds(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def reminder(
    name: str | None = None,
    intent: str = "remind",
    seconds: float = 0.05,
    entities: list[dict[str, Any]] | dict[str, Any] | None = None,
) -> ReminderScheduled:
    return ReminderScheduled(intent, in_seconds(seconds), entities, name)


class Recorder:
    """A handler that records what fired, and when."""

    def __init__(self) -> None:
        self.fired: list[tuple[str, str, str, float]] = []
        self._arrived = asyncio.Event()

    async def __call__(self, sender_id: str, reminder: ReminderScheduled) -> None:
        self.fired.append((sender_id, reminder.name, reminder.intent, time.time()))
        self._arrived.set()

    async def wait_for(self, count: int, seconds: float = 5.0) -> None:
        async with asyncio.timeout(seconds):
            while len(self.fired) < count:
                self._arrived.clear()
                await self._arrived.wait()

    def names(self) -> list[tuple[str, str]]:
        return [(sender, name) for sender, name, _, _ in self.fired]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def scheduler(recorder: Recorder) -> AsyncIterator[ReminderScheduler]:
    async with ReminderScheduler(recorder) as running:
        yield running


async def test_a_reminder_fires_at_its_time(
    scheduler: ReminderScheduler, recorder: Recorder
) -> None:
    job = reminder("r", seconds=0.2)
    scheduler.schedule("a", job)
    assert [r.name for r in scheduler.scheduled("a")] == ["r"]
    await recorder.wait_for(1)
    assert recorder.names() == [("a", "r")]
    # not before its time (timers may run a clock tick early)
    assert recorder.fired[0][3] >= job.trigger_date_time.timestamp() - 0.01
    # a fired job is forgotten
    assert scheduler.scheduled("a") == [] and scheduler.job_count() == 0
    assert scheduler._jobs == {}


async def test_a_past_due_reminder_fires_at_once(
    scheduler: ReminderScheduler, recorder: Recorder
) -> None:
    started = time.monotonic()
    scheduler.schedule("a", reminder("late", seconds=-3600))
    await recorder.wait_for(1)
    assert time.monotonic() - started < 0.5


async def test_a_naive_date_time_is_local_time(
    scheduler: ReminderScheduler, recorder: Recorder
) -> None:
    naive = datetime.now() + timedelta(seconds=0.1)
    scheduler.schedule("a", ReminderScheduled("remind", naive, name="naive"))
    await recorder.wait_for(1)
    assert recorder.fired[0][3] >= naive.timestamp() - 0.01


async def test_the_same_name_replaces_the_earlier_reminder(
    scheduler: ReminderScheduler, recorder: Recorder
) -> None:
    scheduler.schedule("a", reminder("r", intent="first", seconds=0.05))
    scheduler.schedule("a", reminder("r", intent="second", seconds=0.15))
    assert scheduler.job_count() == 1
    await recorder.wait_for(1)
    await asyncio.sleep(0.1)  # the replaced one's time has passed too
    assert [(name, intent) for _, name, intent, _ in recorder.fired] == [("r", "second")]


async def test_the_same_name_in_another_conversation_is_another_job(
    scheduler: ReminderScheduler, recorder: Recorder
) -> None:
    scheduler.schedule("a", reminder("r"))
    scheduler.schedule("b", reminder("r"))
    await recorder.wait_for(2)
    assert sorted(recorder.names()) == [("a", "r"), ("b", "r")]


async def test_reminders_without_a_name_get_unique_names(
    scheduler: ReminderScheduler, recorder: Recorder
) -> None:
    scheduler.schedule("a", reminder())
    scheduler.schedule("a", reminder())
    assert scheduler.job_count() == 2
    await recorder.wait_for(2)


async def test_cancel_by_name(scheduler: ReminderScheduler, recorder: Recorder) -> None:
    scheduler.schedule("a", reminder("keep", seconds=0.1))
    scheduler.schedule("a", reminder("drop", seconds=0.05))
    scheduler.schedule("b", reminder("drop", seconds=0.1))
    assert scheduler.cancel("a", ReminderCancelled(name="drop")) == 1
    assert scheduler.cancel("a", ReminderCancelled(name="unknown")) == 0
    await recorder.wait_for(2)
    await asyncio.sleep(0.05)
    assert sorted(recorder.names()) == [("a", "keep"), ("b", "drop")]


async def test_cancel_by_intent_and_entities(
    scheduler: ReminderScheduler, recorder: Recorder
) -> None:
    tea = [{"entity": "drink", "value": "tea"}]
    scheduler.schedule("a", reminder("tea", "drink", 0.3, tea))
    scheduler.schedule("a", reminder("coffee", "drink", 0.3, {"drink": "coffee"}))
    scheduler.schedule("a", reminder("call", "phone", 0.3, tea))
    # intent and entities must both match; the shorthand object equals its list
    assert scheduler.cancel("a", ReminderCancelled(intent="drink", entities={"drink": "tea"})) == 1
    assert {r.name for r in scheduler.scheduled("a")} == {"coffee", "call"}
    # entities alone match across intents
    assert scheduler.cancel("a", ReminderCancelled(entities=tea)) == 1
    # intent alone cancels all of that intent
    assert scheduler.cancel("a", ReminderCancelled(intent="drink")) == 1
    assert scheduler.job_count() == 0 and scheduler._jobs == {}
    await asyncio.sleep(0.35)
    assert recorder.fired == []


async def test_cancel_without_arguments_cancels_all_of_the_conversation(
    scheduler: ReminderScheduler, recorder: Recorder
) -> None:
    for name in ("x", "y", "z"):
        scheduler.schedule("a", reminder(name, seconds=0.05))
    scheduler.schedule("b", reminder("other", seconds=0.05))
    assert scheduler.cancel("a", ReminderCancelled()) == 3
    assert scheduler.cancel("nobody", ReminderCancelled()) == 0
    await recorder.wait_for(1)
    await asyncio.sleep(0.05)
    assert recorder.names() == [("b", "other")]


async def test_stop_cancels_timers_and_reminders_being_fired() -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    async def slow(sender_id: str, reminder: ReminderScheduled) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(reminder.name)
            raise

    scheduler = ReminderScheduler(slow)
    await scheduler.start()
    scheduler.schedule("a", reminder("now", seconds=0))
    scheduler.schedule("a", reminder("later", seconds=0.1))
    await asyncio.wait_for(started.wait(), 5)
    await scheduler.stop()
    assert cancelled == ["now"]
    assert scheduler.job_count() == 0
    await asyncio.sleep(0.15)
    assert cancelled == ["now"]  # "later" never started
    await scheduler.stop()  # twice is fine


async def test_scheduling_while_not_running_is_refused(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = ReminderScheduler(recorder)
    with caplog.at_level(logging.WARNING, logger="palaver.core.reminders"):
        scheduler.schedule("early", reminder("r", seconds=0))
        await scheduler.start()
        await scheduler.stop()
        scheduler.schedule("late", reminder("r", seconds=0))
    assert scheduler.job_count() == 0
    assert sum("will not fire" in r.getMessage() for r in caplog.records) == 2
    await asyncio.sleep(0.02)
    assert recorder.fired == []


async def test_a_failing_reminder_is_logged_and_the_scheduler_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fired: list[str] = []
    done = asyncio.Event()

    async def handler(sender_id: str, reminder: ReminderScheduled) -> None:
        if reminder.name == "boom":
            raise RuntimeError("no luck")
        if reminder.name == "locked":
            raise LockTimeoutError(sender_id, 1.0)
        fired.append(reminder.name)
        done.set()

    with caplog.at_level(logging.ERROR, logger="palaver.core.reminders"):
        async with ReminderScheduler(handler) as scheduler:
            scheduler.schedule("conv-1", reminder("boom", seconds=0))
            scheduler.schedule("conv-2", reminder("locked", seconds=0))
            scheduler.schedule("conv-3", reminder("fine", seconds=0.05))
            await asyncio.wait_for(done.wait(), 5)
    messages = [r.getMessage() for r in caplog.records]
    assert any("conv-1" in m and "'boom'" in m for m in messages)
    assert any("conv-2" in m and "did not fire" in m for m in messages)
    assert fired == ["fine"]


def test_cancels_follows_rasa() -> None:
    job = ReminderScheduled("drink", in_seconds(1), [{"entity": "d", "value": "tea"}], "tea")
    assert cancels(ReminderCancelled(), job)
    assert cancels(ReminderCancelled(name="tea"), job)
    assert not cancels(ReminderCancelled(name="coffee"), job)
    assert cancels(ReminderCancelled(intent="drink"), job)
    assert not cancels(ReminderCancelled(intent="eat"), job)
    assert cancels(ReminderCancelled(name="tea", intent="drink", entities={"d": "tea"}), job)
    assert not cancels(ReminderCancelled(name="tea", intent="eat"), job)
    assert not cancels(ReminderCancelled(entities={"d": "coffee"}), job)
    # empty values narrow nothing, as in Rasa
    assert cancels(ReminderCancelled(name="", intent="", entities=[]), job)


def test_entity_list_accepts_rasas_shorthand() -> None:
    assert entity_list({"city": "Berlin"}) == [{"entity": "city", "value": "Berlin"}]
    assert entity_list([{"entity": "city", "value": "Paris", "start": 0}]) == [
        {"entity": "city", "value": "Paris", "start": 0}
    ]
    assert entity_list(None) == []
