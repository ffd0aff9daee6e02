"""The LockStore contract (palaver/locks/base.py), run against every backend.

Stores are built inside fixtures, never at collection time. Redis runs with a
1 s lock lifetime and a key prefix unique to each test.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from palaver.errors import LockTimeoutError
from palaver.locks import LockHandle, LockStore, create_lock_store

BACKENDS = ["in_memory", pytest.param("redis", marks=pytest.mark.redis)]
CONVERSATION = "conversation-1"


@pytest.fixture(params=BACKENDS)
def lock_store_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "in_memory":
        return {"type": "in_memory", "lock_wait_timeout": 10}
    return {
        "type": "redis",
        "url": request.getfixturevalue("redis_url"),
        "key_prefix": request.getfixturevalue("redis_prefix"),
        "lock_lifetime": 1,
        "lock_poll_interval": 0.05,
        "lock_wait_timeout": 10,
    }


@pytest.fixture
async def lock_store(lock_store_config: dict[str, Any]) -> AsyncIterator[LockStore]:
    store = create_lock_store(lock_store_config)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


async def test_satisfies_the_protocol_and_lifecycle_is_idempotent(lock_store: LockStore) -> None:
    assert isinstance(lock_store, LockStore)
    await lock_store.start()  # second start: no-op
    async with lock_store.lock(CONVERSATION) as handle:
        assert isinstance(handle, LockHandle)
        assert handle.conversation_id == CONVERSATION
        assert handle.fence > 0


async def test_multi_process_safe_flag(
    lock_store: LockStore, lock_store_config: dict[str, Any]
) -> None:
    assert lock_store.multi_process_safe is (lock_store_config["type"] == "redis")


async def test_fifo_under_contention(lock_store: LockStore) -> None:
    called: list[int] = []
    acquired: list[int] = []
    handles: list[LockHandle] = []

    async def worker(i: int) -> None:
        called.append(i)
        async with lock_store.lock(CONVERSATION) as handle:
            acquired.append(i)
            handles.append(handle)
            await asyncio.sleep(0)

    async with lock_store.lock(CONVERSATION):
        tasks = [asyncio.create_task(worker(i)) for i in range(50)]
        await asyncio.sleep(0.3)  # everyone queues behind the holder
        assert acquired == []
    await asyncio.wait_for(asyncio.gather(*tasks), 20)

    assert called == list(range(50))
    assert acquired == called
    tickets = [h.ticket for h in handles]
    assert tickets == sorted(tickets) and len(set(tickets)) == 50
    fences = [h.fence for h in handles]
    assert all(a < b for a, b in itertools.pairwise(fences))


async def test_fifo_without_a_prior_holder(lock_store: LockStore) -> None:
    acquired: list[int] = []

    async def worker(i: int) -> None:
        async with lock_store.lock(CONVERSATION):
            acquired.append(i)
            await asyncio.sleep(0.001)

    await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(30))), 20)
    assert acquired == list(range(30))


async def test_mutual_exclusion(lock_store: LockStore) -> None:
    counter = 0
    inside = 0
    overlap = False

    async def worker() -> None:
        nonlocal counter, inside, overlap
        for _ in range(5):
            async with lock_store.lock(CONVERSATION):
                inside += 1
                overlap = overlap or inside > 1
                value = counter
                await asyncio.sleep(0.001)  # a racing writer would interleave here
                counter = value + 1
                inside -= 1

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(10))), 30)
    assert not overlap
    assert counter == 50


async def test_different_conversations_run_in_parallel(lock_store: LockStore) -> None:
    async def hold(conversation_id: str) -> None:
        async with lock_store.lock(conversation_id):
            await asyncio.sleep(0.3)

    started = time.monotonic()
    await asyncio.gather(*(hold(f"parallel-{i}") for i in range(10)))
    assert time.monotonic() - started < 1.5  # serially it would take 3 s


async def test_timeout_raises_and_does_not_block_later_waiters(lock_store: LockStore) -> None:
    acquired_at: list[float] = []

    async def later() -> None:
        async with lock_store.lock(CONVERSATION, wait_timeout=5):
            acquired_at.append(time.monotonic())

    async with lock_store.lock(CONVERSATION):
        started = time.monotonic()
        with pytest.raises(LockTimeoutError) as info:
            async with lock_store.lock(CONVERSATION, wait_timeout=0.2):
                pytest.fail("got a held lock")
        assert info.value.conversation_id == CONVERSATION
        assert 0.15 <= info.value.waited < 2
        assert 0.15 <= time.monotonic() - started < 2
        task = asyncio.create_task(later())
        await asyncio.sleep(0.1)
        released_at = time.monotonic()
    await asyncio.wait_for(task, 5)
    assert acquired_at[0] - released_at < 0.5


async def test_timed_out_ticket_in_the_middle_is_skipped(lock_store: LockStore) -> None:
    order: list[str] = []

    async def waiter(name: str, wait_timeout: float) -> None:
        async with lock_store.lock(CONVERSATION, wait_timeout=wait_timeout):
            order.append(name)

    async with lock_store.lock(CONVERSATION):
        first = asyncio.create_task(waiter("first", 5))
        await asyncio.sleep(0.05)
        impatient = asyncio.create_task(waiter("impatient", 0.2))
        await asyncio.sleep(0.05)
        last = asyncio.create_task(waiter("last", 5))
        with pytest.raises(LockTimeoutError):
            await impatient
        released_at = time.monotonic()
    await asyncio.wait_for(asyncio.gather(first, last), 5)
    assert order == ["first", "last"]
    assert time.monotonic() - released_at < 1


async def test_zero_wait_timeout_is_a_try_lock(lock_store: LockStore) -> None:
    async with lock_store.lock(CONVERSATION, wait_timeout=0) as handle:
        assert handle.fence > 0
        with pytest.raises(LockTimeoutError):
            async with lock_store.lock(CONVERSATION, wait_timeout=0):
                pytest.fail("got a held lock")
    async with lock_store.lock(CONVERSATION, wait_timeout=0):
        pass


async def test_cancelled_waiter_does_not_block_the_queue(lock_store: LockStore) -> None:
    got_it = asyncio.Event()

    async def waiter() -> None:
        async with lock_store.lock(CONVERSATION, wait_timeout=5):
            got_it.set()

    async with lock_store.lock(CONVERSATION):
        doomed = asyncio.create_task(waiter())
        await asyncio.sleep(0.05)
        survivor = asyncio.create_task(waiter())
        await asyncio.sleep(0.05)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        assert not got_it.is_set()
    await asyncio.wait_for(survivor, 2)


async def test_body_exception_releases_the_lock(lock_store: LockStore) -> None:
    with pytest.raises(ValueError, match="boom"):
        async with lock_store.lock(CONVERSATION):
            raise ValueError("boom")
    async with lock_store.lock(CONVERSATION, wait_timeout=0.5):
        pass


async def test_a_note_reaches_exactly_the_next_holder(lock_store: LockStore) -> None:
    async with lock_store.lock(CONVERSATION) as first:
        assert first.previous_note is None
        first.note = "v1:5:123"
    async with lock_store.lock(CONVERSATION) as second:
        assert second.previous_note == "v1:5:123"
    # The second holder said nothing: the note was its alone.
    async with lock_store.lock(CONVERSATION) as third:
        assert third.previous_note is None
    async with lock_store.lock("another conversation") as other:
        assert other.previous_note is None


async def test_a_note_is_handed_to_a_queued_waiter(lock_store: LockStore) -> None:
    seen: list[str | None] = []

    async def waiter() -> None:
        async with lock_store.lock(CONVERSATION) as handle:
            seen.append(handle.previous_note)

    async with lock_store.lock(CONVERSATION) as holder:
        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.1)  # queued behind the holder
        holder.note = "from the holder"
    await asyncio.wait_for(task, 10)
    assert seen == ["from the holder"]


async def test_a_holder_whose_body_failed_leaves_no_note(lock_store: LockStore) -> None:
    with pytest.raises(RuntimeError):
        async with lock_store.lock(CONVERSATION) as handle:
            handle.note = "half done"
            raise RuntimeError("turn failed")
    async with lock_store.lock(CONVERSATION) as after:
        assert after.previous_note is None


async def test_fence_strictly_increases(lock_store: LockStore) -> None:
    fences = []
    for _ in range(10):
        async with lock_store.lock(CONVERSATION) as handle:
            fences.append(handle.fence)
    assert all(a < b for a, b in itertools.pairwise(fences))


@pytest.mark.parametrize(
    "conversation_id", ["a:b", "x:w:1", "{tag}", "ünïcödé 💬", "with space", "*?[]", ""]
)
async def test_unusual_conversation_ids(lock_store: LockStore, conversation_id: str) -> None:
    async with lock_store.lock(conversation_id):
        with pytest.raises(LockTimeoutError):
            async with lock_store.lock(conversation_id, wait_timeout=0):
                pass
        async with lock_store.lock(conversation_id + ":q", wait_timeout=0):
            pass
    async with lock_store.lock(conversation_id, wait_timeout=0):
        pass


async def test_fences_stay_above_those_of_a_previous_process(
    lock_store_config: dict[str, Any],
) -> None:
    """A restarted lock store (or a Redis that lost its counter) must not reuse fences.

    A persistent tracker store remembers the highest fence it accepted and
    refuses lower ones; fences restarting at 1 would lock every conversation.
    """
    first = create_lock_store(lock_store_config)
    async with first, first.lock("restart-conv") as handle:
        before = handle.fence
    if lock_store_config.get("type") == "redis":
        from redis.asyncio import Redis

        client = Redis.from_url(lock_store_config["url"])
        await client.delete(f"{lock_store_config['key_prefix'].rstrip(':')}:lock:seq")
        await client.aclose()
    second = create_lock_store(lock_store_config)
    async with second, second.lock("restart-conv") as handle:
        assert handle.fence > before
