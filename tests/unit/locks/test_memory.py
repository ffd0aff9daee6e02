"""InMemoryLockStore specifics: cleanup, hand-over races, cost of the hot path."""

from __future__ import annotations

import asyncio
import time

import pytest

from palaver.errors import LockTimeoutError
from palaver.locks.memory import InMemoryLockSettings, InMemoryLockStore


@pytest.fixture
def store() -> InMemoryLockStore:
    return InMemoryLockStore(InMemoryLockSettings(lock_wait_timeout=5))


async def test_entries_are_removed_when_nobody_holds_or_waits(store: InMemoryLockStore) -> None:
    for i in range(10_000):
        async with store.lock(f"conversation-{i}"):
            assert store.active_conversations == 1
    assert store.active_conversations == 0


async def test_entries_removed_after_contention_timeouts_and_cancellations(
    store: InMemoryLockStore,
) -> None:
    async def waiter(limit: float) -> None:
        async with store.lock("c", wait_timeout=limit):
            await asyncio.sleep(0)

    async with store.lock("c"):
        tasks = [asyncio.create_task(waiter(5)) for _ in range(5)]
        impatient = [asyncio.create_task(waiter(0.01)) for _ in range(5)]
        cancelled = [asyncio.create_task(waiter(5)) for _ in range(5)]
        await asyncio.sleep(0.05)
        for task in cancelled:
            task.cancel()
        assert await store.queue_length("c") == 6
    await asyncio.gather(*tasks)
    results = await asyncio.gather(*impatient, *cancelled, return_exceptions=True)
    assert all(isinstance(r, LockTimeoutError | asyncio.CancelledError) for r in results)
    assert store.active_conversations == 0
    assert await store.queue_length("c") == 0


async def test_cancelled_right_after_hand_over_passes_the_lock_on(store: InMemoryLockStore) -> None:
    entered = asyncio.Event()

    async def doomed() -> None:
        async with store.lock("c"):
            entered.set()

    holder = store.lock("c")
    await holder.__aenter__()
    victim = asyncio.create_task(doomed())
    await asyncio.sleep(0)
    await holder.__aexit__(None, None, None)  # hands the lock to victim...
    victim.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await victim
    assert not entered.is_set()
    async with store.lock("c", wait_timeout=0):  # it was passed on, not leaked
        pass
    assert store.active_conversations == 0


async def test_timeout_racing_the_hand_over_leaks_nothing(store: InMemoryLockStore) -> None:
    for delay in (0.02, 0.0201, 0.0199, 0.02):
        holder = store.lock("c")
        await holder.__aenter__()
        loop = asyncio.get_running_loop()
        release = holder.__aexit__(None, None, None)
        loop.call_later(delay, asyncio.ensure_future, release)
        try:
            async with store.lock("c", wait_timeout=0.02) as handle:  # either outcome is fine
                assert handle.fence > 0
        except LockTimeoutError:
            pass
        await asyncio.sleep(0.01)
        assert store.active_conversations == 0


async def test_uncontended_path_is_cheap(store: InMemoryLockStore) -> None:
    n = 50_000
    started = time.perf_counter()
    for i in range(n):
        async with store.lock(f"c{i % 100}"):
            pass
    per_lock = (time.perf_counter() - started) / n
    assert per_lock < 50e-6  # typically ~1 us; generous for slow CI


async def test_not_reentrant_times_out(store: InMemoryLockStore) -> None:
    async with store.lock("c"):
        with pytest.raises(LockTimeoutError):
            async with store.lock("c", wait_timeout=0.01):
                pass


async def test_lifecycle(store: InMemoryLockStore) -> None:
    async with store as same:
        assert same is store
        await store.stop()
    await store.stop()
    assert "lock_wait_timeout=5" in repr(store)
    assert store.multi_process_safe is False
