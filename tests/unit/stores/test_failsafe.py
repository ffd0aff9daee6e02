"""FailSafeTrackerStore: switching, honesty about non-connection errors, recovery, replay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from palaver.errors import StaleWriteError, StoreError, StoreUnavailableError
from palaver.stores.base import (
    ConversationVersion,
    EventDict,
    StoredConversation,
    TrackerStore,
    VersionedStore,
)
from palaver.stores.failsafe import FailSafeTrackerStore, VersionedFailSafeTrackerStore
from palaver.stores.memory import InMemoryTrackerStore


class FlakyStore(InMemoryTrackerStore):
    """An in-memory primary that can be taken down or broken on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.broken: StoreError | None = None
        self.fail_appends_after: int | None = None
        self.calls = 0
        self.stopped = False

    def _check(self) -> None:
        self.calls += 1
        if self.broken is not None:
            raise self.broken
        if self.down:
            raise StoreUnavailableError("connection refused")

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        self._check()
        await asyncio.sleep(0)
        return await super().load(sender_id, full=full)

    async def append(
        self,
        sender_id: str,
        events: Sequence[EventDict],
        *,
        fence: int | None = None,
        expected_total: int | None = None,
    ) -> None:
        self._check()
        if self.fail_appends_after is not None:
            if self.fail_appends_after == 0:
                raise StoreUnavailableError("died mid-replay")
            self.fail_appends_after -= 1
        await asyncio.sleep(0)
        await super().append(sender_id, events, fence=fence, expected_total=expected_total)

    async def version(self, sender_id: str) -> ConversationVersion | None:
        self._check()
        await asyncio.sleep(0)
        return await super().version(sender_id)

    async def keys(self) -> AsyncIterator[str]:
        self._check()
        async for key in super().keys():
            yield key

    async def delete(self, sender_id: str) -> None:
        self._check()
        await super().delete(sender_id)

    async def stop(self) -> None:
        self.stopped = True


async def drain(keys: AsyncIterator[str]) -> list[str]:
    return [key async for key in keys]


def ev(text: str) -> EventDict:
    return {"event": "user", "text": text, "timestamp": 1.0}


async def wait_for(predicate: Callable[[], bool]) -> None:
    """Poll for up to 5 s (the probe runs every 20-50 ms in these tests)."""
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached within 5 s")


async def wait_for_mode(store: FailSafeTrackerStore, mode: str) -> None:
    await wait_for(lambda: store.mode == mode)


@pytest.fixture
def primary() -> FlakyStore:
    return FlakyStore()


@pytest.fixture
async def store(primary: FlakyStore) -> AsyncIterator[FailSafeTrackerStore]:
    wrapper = FailSafeTrackerStore(primary, retry_interval=0.02, max_retry_interval=0.05)
    await wrapper.start()
    yield wrapper
    await wrapper.stop()


async def test_primary_mode_passes_through(
    store: FailSafeTrackerStore, primary: FlakyStore
) -> None:
    await store.append("a", [ev("1")])
    assert (await primary.load("a")) is not None
    assert store.status() == {
        "mode": "primary",
        "switches": 0,
        "since": None,
        "fallback_conversations": 0,
        "fallback_events": 0,
        "replayed_events": 0,
        "last_error": None,
    }


async def test_switches_to_fallback_on_connection_failure(
    store: FailSafeTrackerStore, primary: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    primary.down = True
    store.retry_interval = 60  # keep it in fallback for this test
    caplog.set_level(logging.INFO, logger="palaver.stores.failsafe")
    await store.append("a", [ev("1")])
    await store.append("a", [ev("2")])
    loaded = await store.load("a")
    assert loaded is not None and loaded.events == [ev("1"), ev("2")]
    status = store.status()
    assert status["mode"] == "fallback"
    assert status["switches"] == 1
    assert status["since"] is not None
    assert status["fallback_conversations"] == 1
    assert status["fallback_events"] == 2
    assert "connection refused" in status["last_error"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one line per switch, not per call


@pytest.mark.parametrize(
    "error", [StoreError("permission denied for table"), StaleWriteError("fence 3 < 4")]
)
async def test_other_errors_are_never_hidden(
    store: FailSafeTrackerStore, primary: FlakyStore, error: StoreError
) -> None:
    primary.broken = error
    with pytest.raises(type(error)):
        await store.append("a", [ev("1")])
    with pytest.raises(type(error)):
        await store.load("a")
    assert store.mode == "primary"
    assert store.status()["fallback_events"] == 0


async def test_recovers_and_replays_in_order(
    store: FailSafeTrackerStore, primary: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="palaver.stores.failsafe")
    await store.append("a", [ev("before")])
    primary.down = True
    await store.append("a", [ev("during-1")])
    await store.append("b", [ev("b-1")])
    await store.append("a", [ev("during-2")])
    assert store.mode == "fallback"

    primary.down = False
    await wait_for_mode(store, "primary")
    loaded = await primary.load("a", full=True)
    assert loaded is not None
    assert loaded.events == [ev("before"), ev("during-1"), ev("during-2")]
    assert (await primary.load("b")) is not None
    status = store.status()
    assert status["fallback_conversations"] == 0
    assert status["replayed_events"] == 3
    assert status["switches"] == 1

    await store.append("a", [ev("after")])
    loaded = await primary.load("a", full=True)
    assert loaded is not None and loaded.events[-1] == ev("after")
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("is back" in m and "replayed 3 events of 2 conversations" in m for m in infos)


async def test_replay_interrupted_keeps_the_rest(
    store: FailSafeTrackerStore, primary: FlakyStore
) -> None:
    primary.down = True
    await store.append("a", [ev("a")])
    await store.append("b", [ev("b")])
    primary.fail_appends_after = 1  # "a" replays, then the primary dies again
    primary.down = False
    await wait_for(lambda: store.status()["replayed_events"] >= 1)
    assert store.mode == "fallback"
    assert store.status()["fallback_conversations"] == 1
    primary.fail_appends_after = None
    await wait_for_mode(store, "primary")
    assert (await primary.load("a")) is not None
    assert (await primary.load("b")) is not None


async def test_calls_wait_while_replaying(primary: FlakyStore) -> None:
    store = FailSafeTrackerStore(primary, retry_interval=60)
    primary.down = True
    await store.append("a", [ev("1")])
    primary.down = False
    replay = asyncio.create_task(store._replay())
    await asyncio.sleep(0)  # replay started and closed the gate
    append = asyncio.create_task(store.append("a", [ev("2")]))
    await asyncio.gather(replay, append)
    loaded = await primary.load("a", full=True)
    assert loaded is not None and loaded.events == [ev("1"), ev("2")]
    await store.stop()


async def test_probe_survives_a_primary_that_refuses_the_replay(
    store: FailSafeTrackerStore, primary: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    primary.down = True
    await store.append("a", [ev("1")])
    primary.down = False
    primary.broken = StoreError("permission denied for table palaver_events")
    await wait_for(lambda: "permission denied" in (store.status()["last_error"] or ""))
    assert store.mode == "fallback"
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    primary.broken = None
    await wait_for_mode(store, "primary")
    assert (await primary.load("a")) is not None


async def test_keys_and_delete_are_refused_in_fallback(
    store: FailSafeTrackerStore, primary: FlakyStore
) -> None:
    store.retry_interval = 60
    primary.down = True
    await store.append("a", [ev("1")])
    with pytest.raises(StoreUnavailableError, match="keys refused"):
        await drain(store.keys())
    with pytest.raises(StoreUnavailableError, match="delete refused"):
        await store.delete("a")


async def test_keys_failure_switches_and_raises(
    store: FailSafeTrackerStore, primary: FlakyStore
) -> None:
    store.retry_interval = 60
    primary.down = True
    with pytest.raises(StoreUnavailableError):
        await drain(store.keys())
    assert store.mode == "fallback"


async def test_fallback_is_bounded(primary: FlakyStore) -> None:
    store = FailSafeTrackerStore(primary, retry_interval=60, max_fallback_events=3)
    primary.down = True
    await store.append("a", [ev("1"), ev("2")])
    with pytest.raises(StoreUnavailableError, match="fallback is full"):
        await store.append("a", [ev("3"), ev("4")])
    await store.stop()


async def test_fallback_keeps_fencing(store: FailSafeTrackerStore, primary: FlakyStore) -> None:
    store.retry_interval = 60
    primary.down = True
    await store.append("a", [ev("1")], fence=4)
    with pytest.raises(StaleWriteError):
        await store.append("a", [ev("2")], fence=3)


async def test_stop_replays_or_reports_what_is_lost(
    primary: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = FailSafeTrackerStore(primary, retry_interval=60)
    primary.down = True
    await store.append("a", [ev("1")])
    await store.stop()
    assert primary.stopped
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "Tracker store stopped with 1 events of 1 conversations still in the in-memory "
        "fallback; they could not be written to the primary and are lost"
    ]

    recovered = FlakyStore()
    store = FailSafeTrackerStore(recovered, retry_interval=60)
    recovered.down = True
    await store.append("b", [ev("1")])
    recovered.down = False
    await store.stop()  # primary is back: the last replay saves it
    assert (await recovered.load("b")) is not None


class UnversionedStore:
    """A custom primary without the optional version() capability."""

    def __init__(self) -> None:
        self._inner = InMemoryTrackerStore()

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        return await self._inner.load(sender_id, full=full)

    async def append(
        self,
        sender_id: str,
        events: Sequence[EventDict],
        *,
        fence: int | None = None,
        expected_total: int | None = None,
    ) -> None:
        await self._inner.append(sender_id, events, fence=fence, expected_total=expected_total)

    def keys(self) -> AsyncIterator[str]:
        return self._inner.keys()

    async def delete(self, sender_id: str) -> None:
        await self._inner.delete(sender_id)


async def test_version_capability_follows_the_primary() -> None:
    versioned = FailSafeTrackerStore(InMemoryTrackerStore())
    assert type(versioned) is VersionedFailSafeTrackerStore
    assert isinstance(versioned, VersionedStore)
    plain = FailSafeTrackerStore(UnversionedStore(), retry_interval=5)
    assert type(plain) is FailSafeTrackerStore
    assert plain.retry_interval == 5
    assert isinstance(plain, TrackerStore)
    assert not isinstance(plain, VersionedStore)


async def test_version_follows_the_mode(store: FailSafeTrackerStore, primary: FlakyStore) -> None:
    assert isinstance(store, VersionedFailSafeTrackerStore)
    store.retry_interval = 60
    await store.append("a", [ev("1"), ev("2")], fence=4)
    assert await store.version("a") == ConversationVersion(2, 4)
    primary.down = True
    # The primary's version is unreachable: the fallback's answer, consistent with load().
    assert await store.version("a") is None
    assert store.mode == "fallback"
    await store.append("a", [ev("3")], fence=5)
    assert await store.version("a") == ConversationVersion(1, 5)
