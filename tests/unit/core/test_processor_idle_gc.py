"""Due GC work (counts, full collections) runs when no turn is in flight, never during one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from palaver.channels.base import CollectingOutputChannel, UserMessage
from palaver.core import gc_policy
from palaver.core.processor import MessageProcessor
from palaver.server.runtime import Runtime
from palaver.server.settings import ServerSettings
from palaver.training import train_project

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


class RecordingSchedule(gc_policy.GcSchedule):
    """The real schedule, with ``on_idle`` recorded together with the turns in flight."""

    def __init__(self, processor: MessageProcessor) -> None:
        super().__init__()
        self.processor = processor
        self.due = False
        self.idle_calls: list[int] = []

    @property
    def idle_due(self) -> bool:
        return self.due

    def on_idle(self) -> None:
        self.idle_calls.append(self.processor._in_flight)
        self.due = False


@pytest.fixture(scope="module")
def moodbot_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_project(EXAMPLES / "moodbot", out_dir=tmp_path_factory.mktemp("m")).archive


@pytest.fixture
async def runtime(moodbot_archive: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime(ServerSettings(model=str(moodbot_archive)))
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.fixture
def schedule(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> RecordingSchedule:
    """The runtime's schedule, replaced by a recording one with work due."""
    assert runtime.processor is not None
    recording = RecordingSchedule(runtime.processor)
    recording.due = True
    runtime.processor._gc = recording
    monkeypatch.setattr("palaver.core.processor.GC_IDLE_AFTER", 0.05)
    return recording


async def say(runtime: Runtime, sender: str, text: str) -> None:
    assert runtime.processor is not None
    await runtime.processor.handle_message(
        UserMessage(text=text, sender_id=sender), CollectingOutputChannel()
    )


async def test_due_work_runs_once_the_server_is_idle(
    runtime: Runtime, schedule: RecordingSchedule
) -> None:
    await say(runtime, "a", "hello")
    assert schedule.idle_calls == []  # not straight after the turn
    await asyncio.sleep(0.2)
    assert schedule.idle_calls == [0]
    await say(runtime, "a", "I am great")
    await asyncio.sleep(0.2)
    assert schedule.idle_calls == [0]  # nothing was due any more


async def test_nothing_runs_while_turns_keep_arriving(
    runtime: Runtime, schedule: RecordingSchedule
) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + 0.3
    turns = 0
    while loop.time() < until:  # a new turn every 10 ms, more often than GC_IDLE_AFTER
        await say(runtime, f"busy-{turns % 3}", "hello")
        turns += 1
        await asyncio.sleep(0.01)
    assert turns > 10
    assert schedule.idle_calls == []
    await asyncio.sleep(0.2)
    assert schedule.idle_calls == [0]


async def test_concurrent_turns_hold_the_work_until_the_last_one_ends(
    runtime: Runtime, schedule: RecordingSchedule
) -> None:
    await asyncio.gather(*(say(runtime, f"c{i}", "hello") for i in range(8)))
    await asyncio.sleep(0.2)
    assert schedule.idle_calls == [0]


async def test_a_failed_turn_still_counts_as_ended(
    runtime: Runtime, schedule: RecordingSchedule, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runtime.processor is not None

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("store down")

    monkeypatch.setattr(runtime.processor, "_persist_to_the_end", broken)
    with pytest.raises(RuntimeError):
        await say(runtime, "f", "hello")
    assert runtime.processor._in_flight == 0
    await asyncio.sleep(0.2)
    assert schedule.idle_calls == [0]


async def test_a_turn_in_flight_when_the_timer_fires_defers_the_work_to_its_end(
    runtime: Runtime, schedule: RecordingSchedule, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runtime.processor is not None
    processor = runtime.processor
    await say(runtime, "s", "hello")  # ends: the idle timer starts
    persist = processor._persist_to_the_end

    async def slow(*args: object, **kwargs: object) -> None:
        await asyncio.sleep(0.15)  # the timer (50 ms) fires while this turn waits
        await persist(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(processor, "_persist_to_the_end", slow)
    await say(runtime, "s", "I am great")
    assert schedule.idle_calls == []
    await asyncio.sleep(0.2)
    assert schedule.idle_calls == [0]
