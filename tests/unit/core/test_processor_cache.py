"""The processor's tracker cache: reused while current, reloaded after any other write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from palaver.channels.base import CollectingOutputChannel, UserMessage
from palaver.core.events import SessionStarted, UserUttered
from palaver.core.processor import MessageProcessor
from palaver.locks.memory import InMemoryLockStore
from palaver.server.runtime import Runtime
from palaver.server.settings import ServerSettings
from palaver.stores.memory import InMemoryTrackerStore
from palaver.training import train_project

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="module")
def moodbot_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_project(EXAMPLES / "moodbot", out_dir=tmp_path_factory.mktemp("m")).archive


@pytest.fixture
async def replicas(moodbot_archive: Path) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Two runtimes sharing one tracker store and one lock store: two replicas of one bot."""
    shared = InMemoryTrackerStore()
    locks = InMemoryLockStore()
    runtimes = []
    for _ in range(2):
        runtime = Runtime(ServerSettings(model=str(moodbot_archive)))
        runtime.tracker_store = shared
        runtime.lock_store = locks
        await runtime.start()
        runtimes.append(runtime)
    yield runtimes[0], runtimes[1]
    for runtime in runtimes:
        await runtime.stop()


async def say(runtime: Runtime, sender: str, text: str) -> list[str]:
    output = CollectingOutputChannel()
    assert runtime.processor is not None
    await runtime.processor.handle_message(UserMessage(text=text, sender_id=sender), output)
    return [m.get("text", "") for m in output.messages]


async def stored_user_texts(runtime: Runtime, sender: str) -> list[str]:
    """The texts of the conversation's stored ``user`` events, in order."""
    assert runtime.tracker_store is not None
    stored = await runtime.tracker_store.load(sender)
    assert stored is not None
    return [e["text"] for e in stored.events if e["event"] == "user"]


def processor(runtime: Runtime) -> MessageProcessor:
    assert runtime.processor is not None
    return runtime.processor


async def test_cached_tracker_is_reused_by_its_own_process(
    replicas: tuple[Runtime, Runtime],
) -> None:
    first, _ = replicas
    await say(first, "a", "hello")
    await say(first, "a", "I am sad")
    await say(first, "a", "yes")
    cache = processor(first)._trackers
    assert cache.hits == 2 and cache.misses == 1


async def test_write_by_another_replica_forces_a_reload(replicas: tuple[Runtime, Runtime]) -> None:
    first, second = replicas
    assert await say(first, "b", "hello") == ["Hey! How are you?"]
    # The second replica moves the conversation on...
    assert await say(second, "b", "I am sad") == [
        "Here is something to cheer you up:",
        "",
        "Did that help you?",
    ]
    # ...so the first one's cached tracker is stale and must not be used.
    assert await say(first, "b", "yes") == ["Great, carry on!"]
    assert processor(first)._trackers.hits == 0
    assert await stored_user_texts(first, "b") == ["hello", "I am sad", "yes"]


async def test_stored_events_match_the_cached_tracker(replicas: tuple[Runtime, Runtime]) -> None:
    first, _ = replicas
    for text in ["hello", "I am great", "bye", "hi"]:
        await say(first, "c", text)
    entry = processor(first)._trackers.take("c", first.model)
    assert entry is not None
    stored = await first.tracker_store.load("c", full=True)  # type: ignore[union-attr]
    assert stored is not None
    assert [e.as_dict()["event"] for e in entry.tracker.events] == [
        e["event"] for e in stored.events
    ]
    assert isinstance(entry.tracker.events[1], SessionStarted)
    assert sum(isinstance(e, UserUttered) for e in entry.tracker.events) == 4


class CountingVersions:
    """Counts ``version`` calls on a store (the check the lock's note saves)."""

    def __init__(self, runtime: Runtime) -> None:
        store = runtime.tracker_store
        assert store is not None
        self.calls = 0
        original = store.version  # type: ignore[attr-defined]

        async def version(sender_id: str) -> object:
            self.calls += 1
            return await original(sender_id)

        store.version = version  # type: ignore[attr-defined]


async def test_the_lock_note_spares_the_version_read_for_consecutive_turns(
    replicas: tuple[Runtime, Runtime],
) -> None:
    first, _ = replicas
    versions = CountingVersions(first)
    await say(first, "n1", "hello")
    await say(first, "n1", "I am sad")
    await say(first, "n1", "yes")
    # Both later turns found the note the previous turn of this process left.
    assert versions.calls == 0
    assert processor(first)._trackers.hits == 2


async def test_any_other_holder_in_between_means_the_version_is_read(
    replicas: tuple[Runtime, Runtime],
) -> None:
    first, second = replicas
    versions = CountingVersions(first)
    await say(first, "n2", "hello")
    await say(second, "n2", "I am sad")  # the other replica's note replaces ours
    assert await say(first, "n2", "yes") == ["Great, carry on!"]
    assert versions.calls == 1  # read, found changed, reloaded
    assert processor(first)._trackers.hits == 0
    # An HTTP API operation holds the lock and leaves no note either.
    async with processor(first).conversation("n2", session="keep") as turn:
        turn.tracker.update(UserUttered("from the API", {"intent": {"name": "greet"}}))
    before = versions.calls
    await say(first, "n2", "bye")
    assert versions.calls == before + 1
    assert await stored_user_texts(first, "n2") == [
        "hello",
        "I am sad",
        "yes",
        "from the API",
        "bye",
    ]


async def test_a_write_that_bypassed_the_lock_and_changed_the_count_is_caught(
    replicas: tuple[Runtime, Runtime],
) -> None:
    """The note is a hint: the append's expected count still refuses a stale view."""
    first, _ = replicas
    await say(first, "n3", "hello")
    store = first.tracker_store
    assert store is not None
    await store.append("n3", [UserUttered("sneaked in", {"intent": {"name": "greet"}}).as_dict()])
    await say(first, "n3", "I am sad")  # computed on the cached view, refused, re-run
    assert await stored_user_texts(first, "n3") == ["hello", "sneaked in", "I am sad"]


async def test_replays_are_kept_for_every_cached_tracker(moodbot_archive: Path) -> None:
    """Beyond the policies' default, a cached conversation would replay its session per turn."""
    runtime = Runtime(ServerSettings(model=str(moodbot_archive), tracker_cache_size=5000))
    await runtime.start()
    try:
        model = runtime.model
        assert model.policies._replays(model.domain).max_conversations == 5000
    finally:
        await runtime.stop()
