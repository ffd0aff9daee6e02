"""RedisLockStore against real Redis: replicas, crashes, freezes, outages, keys.

Replicas are separate ``RedisLockStore`` instances (own connections and
wake-up channel) or separate processes. Outages use a private Redis server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import random
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from palaver.errors import LockError, LockLostError, LockTimeoutError
from palaver.locks.base import LockHandle
from palaver.locks.redis import RedisLockSettings, RedisLockStore
from tests.services import PrivateRedis

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[3]
CONVERSATION = "conversation-1"
StoreFactory = Callable[..., RedisLockStore]


@pytest.fixture
def settings(redis_url: str, redis_prefix: str) -> RedisLockSettings:
    return RedisLockSettings.from_config(
        {
            "url": redis_url,
            "key_prefix": redis_prefix,
            "lock_lifetime": 1,
            "lock_poll_interval": 0.05,
            "lock_wait_timeout": 10,
        }
    )


@pytest.fixture
async def make_store(settings: RedisLockSettings) -> AsyncIterator[StoreFactory]:
    """Start replicas sharing ``settings``; all are stopped after the test."""
    stores: list[RedisLockStore] = []

    def make(**overrides: Any) -> RedisLockStore:
        from dataclasses import replace

        store = RedisLockStore(replace(settings, **overrides))
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.stop()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def started(store: RedisLockStore) -> RedisLockStore:
    await store.start()
    return store


async def wait_until(predicate: Callable[[], Any], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def keys_of(raw: Redis, settings: RedisLockSettings) -> list[str]:
    found = [k.decode() async for k in raw.scan_iter(match=f"{settings.namespace}*")]
    return sorted(found)


# -- replicas ---------------------------------------------------------------------


async def test_two_replicas_are_mutually_exclusive_and_fifo(make_store: StoreFactory) -> None:
    replicas = [await started(make_store()), await started(make_store())]
    acquired: list[int] = []
    inside = 0
    overlap = False

    async def worker(i: int) -> None:
        nonlocal inside, overlap
        async with replicas[i % 2].lock(CONVERSATION) as handle:
            inside += 1
            overlap = overlap or inside > 1
            acquired.append(i)
            await asyncio.sleep(0.005)
            inside -= 1
            assert handle.conversation_id == CONVERSATION

    async with replicas[0].lock(CONVERSATION):
        tasks = []
        for i in range(20):  # arrival order is the order tickets reach Redis
            tasks.append(asyncio.create_task(worker(i)))
            await wait_until(functools.partial(_queue_is, replicas[0], i + 2))
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert acquired == list(range(20))
    assert not overlap


async def _queue_is(store: RedisLockStore, length: int) -> bool:
    return await store.queue_length(CONVERSATION) == length


async def test_replicas_interleaved_fences_strictly_increase(make_store: StoreFactory) -> None:
    a, b = await started(make_store()), await started(make_store())
    fences: list[int] = []
    for i in range(10):
        async with (a if i % 2 else b).lock(CONVERSATION) as handle:
            fences.append(handle.fence)
    assert all(x < y for x, y in itertools.pairwise(fences))


async def test_handover_between_replicas_is_notified_not_polled(
    make_store: StoreFactory,
) -> None:
    a = await started(make_store())
    b = await started(make_store(lock_poll_interval=0.3))  # a poll would take >= 0.3 s
    async with a.lock(CONVERSATION):
        waiter = asyncio.create_task(_acquire_time(b))
        await wait_until(lambda: _queue_is(a, 2))
        await asyncio.sleep(0.35)  # past one poll: the next wake-up must be the notification
        released_at = time.monotonic()
    assert await asyncio.wait_for(waiter, 5) - released_at < 0.15


async def _acquire_time(store: RedisLockStore, **kwargs: Any) -> float:
    async with store.lock(CONVERSATION, **kwargs):
        return time.monotonic()


# -- expiry, crashes, freezes -----------------------------------------------------


async def test_long_turn_keeps_the_lock_by_extending_it(make_store: StoreFactory) -> None:
    a, b = await started(make_store()), await started(make_store())
    async with a.lock(CONVERSATION):
        with pytest.raises(LockTimeoutError):
            async with b.lock(CONVERSATION, wait_timeout=2.5):  # 2.5 lifetimes
                pytest.fail("took a lock that was being extended")
    async with b.lock(CONVERSATION, wait_timeout=1):
        pass


async def test_stopped_holder_expires_and_next_waiter_gets_a_higher_fence(
    make_store: StoreFactory,
) -> None:
    a, b = await started(make_store()), await started(make_store())
    dead_lock = a.lock(CONVERSATION)
    dead = await dead_lock.__aenter__()
    await a.stop()  # "crash": no more extension, never released
    started_at = time.monotonic()
    async with b.lock(CONVERSATION, wait_timeout=5) as handle:
        waited = time.monotonic() - started_at
        assert handle.fence > dead.fence
    assert 0.5 < waited < 2.5


async def test_lock_lost_is_raised_at_release(
    make_store: StoreFactory, raw: Redis, settings: RedisLockSettings
) -> None:
    a, b = await started(make_store()), await started(make_store())
    with pytest.raises(LockLostError, match="conversation-1"):
        async with a.lock(CONVERSATION) as first:
            await raw.delete(f"{settings.namespace}{CONVERSATION}:h")  # as if it expired
            async with b.lock(CONVERSATION, wait_timeout=1) as second:
                assert second.fence > first.fence
    async with a.lock(CONVERSATION, wait_timeout=1):
        pass


async def test_lock_lost_with_failing_body_keeps_the_body_error(
    make_store: StoreFactory,
    raw: Redis,
    settings: RedisLockSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = await started(make_store()), await started(make_store())
    with pytest.raises(ValueError, match="body"):
        async with a.lock(CONVERSATION):
            await raw.delete(f"{settings.namespace}{CONVERSATION}:h")
            async with b.lock(CONVERSATION, wait_timeout=1):
                pass
            raise ValueError("body")
    assert "lock_lost" in caplog.text


async def test_expiry_without_takeover_is_restored_not_lost(
    make_store: StoreFactory, raw: Redis, settings: RedisLockSettings
) -> None:
    a = await started(make_store())
    holder_key = f"{settings.namespace}{CONVERSATION}:h"
    async with a.lock(CONVERSATION) as handle:
        await raw.delete(holder_key)
        await wait_until(lambda: raw.exists(holder_key), within=2)  # the extender restores it
        assert await raw.get(holder_key) == f"{handle.ticket}:{handle.fence}".encode()
        await raw.delete(holder_key)
    # released without LockLostError: nobody else held it meanwhile


CHILD = """
import asyncio, json, sys
from palaver.errors import LockLostError
from palaver.locks.redis import RedisLockSettings, RedisLockStore

async def main(config, mode, conversation_id, hold):
    async with RedisLockStore(RedisLockSettings.from_config(config)) as store:
        if mode == "wait":
            print("waiting", flush=True)
        try:
            async with store.lock(conversation_id) as handle:
                print("held", handle.fence, flush=True)
                await asyncio.sleep(hold)
        except LockLostError:
            print("lost", flush=True)
            return
        print("released", flush=True)

asyncio.run(main(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])))
"""


@pytest.fixture
async def spawn(settings: RedisLockSettings) -> AsyncIterator[Callable[..., Any]]:
    """Start a replica process that holds or waits for the lock."""
    procs: list[asyncio.subprocess.Process] = []
    config = {
        "url": f"redis://{settings.host}:{settings.port}/{settings.db}",
        "key_prefix": settings.key_prefix,
        "lock_lifetime": settings.lock_lifetime,
        "lock_poll_interval": settings.lock_poll_interval,
    }

    async def start(mode: str, hold: float = 60.0) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            json.dumps(config),
            mode,
            CONVERSATION,
            str(hold),
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def read_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    return (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()


async def test_killed_holder_process_expires(
    make_store: StoreFactory, spawn: Callable[..., Any]
) -> None:
    store = await started(make_store())
    child = await spawn("hold")
    word, child_fence = (await read_line(child)).split()
    assert word == "held"
    waiter = asyncio.create_task(_acquire_handle(store))
    await wait_until(lambda: _queue_is(store, 2))
    child.kill()  # SIGKILL: no release, no more extension
    killed_at = time.monotonic()
    handle = await asyncio.wait_for(waiter, 5)
    assert handle.fence > int(child_fence)
    assert time.monotonic() - killed_at < 2.5


async def _acquire_handle(store: RedisLockStore) -> LockHandle:
    async with store.lock(CONVERSATION, wait_timeout=8) as handle:
        return handle


async def test_frozen_holder_loses_the_lock_and_is_told_so(
    make_store: StoreFactory, spawn: Callable[..., Any]
) -> None:
    store = await started(make_store())
    child = await spawn("hold", hold=1.5)
    word, child_fence = (await read_line(child)).split()
    assert word == "held"
    child.send_signal(signal.SIGSTOP)
    try:
        handle = await asyncio.wait_for(_acquire_handle(store), 5)
        assert handle.fence > int(child_fence)
    finally:
        child.send_signal(signal.SIGCONT)
    assert await read_line(child) == "lost"


async def test_killed_waiter_ticket_is_skipped(
    make_store: StoreFactory, spawn: Callable[..., Any]
) -> None:
    store = await started(make_store())
    async with store.lock(CONVERSATION):
        child = await spawn("wait")
        assert await read_line(child) == "waiting"
        await wait_until(lambda: _queue_is(store, 2))
        waiter = asyncio.create_task(_acquire_handle(store))
        await wait_until(lambda: _queue_is(store, 3))
        child.kill()
        await child.wait()
    released_at = time.monotonic()
    await asyncio.wait_for(waiter, 5)
    # skipped once its heartbeat lapsed (waiter_ttl = 1 s here)
    assert time.monotonic() - released_at < store.settings.waiter_ttl + 1


# -- keys -----------------------------------------------------------------------------


async def test_no_keys_left_after_release(
    make_store: StoreFactory, raw: Redis, settings: RedisLockSettings
) -> None:
    a, b = await started(make_store()), await started(make_store())

    async def worker(store: RedisLockStore, conversation_id: str) -> None:
        async with store.lock(conversation_id, wait_timeout=5):
            await asyncio.sleep(0.002)

    async with a.lock("c-timeout"):
        with pytest.raises(LockTimeoutError):
            async with b.lock("c-timeout", wait_timeout=0.1):
                pass
    await asyncio.gather(*(worker((a, b)[i % 2], f"c-{i % 3}") for i in range(30)))
    await asyncio.sleep(0.1)  # background give-ups
    assert await keys_of(raw, settings) == [f"{settings.namespace}seq"]


async def test_keys_in_use_expire(
    make_store: StoreFactory, raw: Redis, settings: RedisLockSettings
) -> None:
    a, b = await started(make_store()), await started(make_store())
    async with a.lock(CONVERSATION):
        waiter = asyncio.create_task(_acquire_handle(b))
        await wait_until(lambda: _queue_is(a, 2))
        for key in await keys_of(raw, settings):
            ttl = await raw.pttl(key)
            if key.endswith(":seq"):
                assert ttl == -1  # the one global counter: never expires
            else:
                assert 0 < ttl <= 2 * (settings.lock_lifetime + settings.waiter_ttl) * 1000
    await waiter


# -- outages -------------------------------------------------------------------------


def private_store(server: PrivateRedis, **extra: Any) -> RedisLockStore:
    config = {"url": server.url, "lock_lifetime": 1, "lock_poll_interval": 0.05, **extra}
    return RedisLockStore(RedisLockSettings.from_config(config))


async def test_start_against_unreachable_redis_raises_lock_error() -> None:
    server = PrivateRedis()  # never started: nothing listens on its port
    store = private_store(server, socket_timeout=1)
    with pytest.raises(LockError, match="Cannot reach") as info:
        await store.start()
    assert isinstance(info.value.__cause__, RedisConnectionError)
    await store.stop()


async def test_connection_failure_raises_lock_error_and_recovers(
    private_redis: PrivateRedis,
) -> None:
    async with private_store(private_redis, socket_timeout=1) as store:
        async with store.lock(CONVERSATION):
            pass
        await asyncio.to_thread(private_redis.stop)
        with pytest.raises(LockError, match="ConnectionError") as info:
            async with store.lock(CONVERSATION):
                pass
        assert isinstance(info.value.__cause__, RedisConnectionError)
        assert CONVERSATION in str(info.value)
        await asyncio.to_thread(private_redis.start)
        async with store.lock(CONVERSATION, wait_timeout=2):
            pass


async def test_release_during_outage_is_logged_not_raised(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="palaver.locks.redis")
    async with private_store(private_redis, socket_timeout=1) as store:
        async with store.lock(CONVERSATION):
            await asyncio.to_thread(private_redis.stop)
        assert "release_failed" in caplog.text
        assert CONVERSATION in caplog.text


async def test_waiter_during_outage_raises_lock_error(private_redis: PrivateRedis) -> None:
    async with (
        private_store(private_redis, socket_timeout=1) as a,
        private_store(private_redis, socket_timeout=1) as b,
        a.lock(CONVERSATION),
    ):
        waiter = asyncio.create_task(_acquire_handle(b))
        await wait_until(lambda: _queue_is(a, 2))
        await asyncio.to_thread(private_redis.stop)
        with pytest.raises(LockError) as info:
            await asyncio.wait_for(waiter, 5)
        assert isinstance(info.value.__cause__, RedisConnectionError)


async def test_lock_before_start_is_an_error(settings: RedisLockSettings) -> None:
    store = RedisLockStore(settings)
    with pytest.raises(LockError, match="not running"):
        async with store.lock(CONVERSATION):
            pass
    await store.start()
    await store.stop()
    await store.stop()
    with pytest.raises(LockError, match="not running"):
        async with store.lock(CONVERSATION):
            pass


# -- cost -----------------------------------------------------------------------------


async def _client_commands(client: Redis) -> int:
    """Commands sent by clients (EVALSHA and the like); commands run inside Lua
    scripts are counted separately by Redis under their own names."""
    stats = await client.info("commandstats")
    sent = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_script|load", "cmdstat_script|exists")
    return sum(int(stats[name]["calls"]) for name in sent if name in stats)


async def test_round_trips(private_redis: PrivateRedis) -> None:
    raw = Redis.from_url(private_redis.url)
    try:
        async with (
            private_store(private_redis, lock_lifetime=60) as a,
            private_store(private_redis, lock_lifetime=60) as b,
        ):
            before = await _client_commands(raw)
            for _ in range(50):
                async with a.lock(CONVERSATION):
                    pass
            assert (await _client_commands(raw) - before) / 50 == 2  # acquire 1 + release 1

            before = await _client_commands(raw)
            async with a.lock(CONVERSATION):
                waiter = asyncio.create_task(_acquire_handle(b))
                await asyncio.sleep(0.01)  # less than one poll interval
            await waiter
            # holder 2; waiter: enqueue, claim when woken, release
            assert await _client_commands(raw) - before == 5
    finally:
        await raw.aclose()


async def _lock_many(store: RedisLockStore, conversations: int) -> list[int]:
    async def one(i: int) -> int:
        async with store.lock(f"conversation-{i}") as handle:
            await asyncio.sleep(0)
            return handle.fence

    return await asyncio.gather(*(one(i) for i in range(conversations)))


async def test_concurrent_locks_share_one_pipelined_connection(
    private_redis: PrivateRedis,
) -> None:
    """200 conversations locked at once: not one connection each (redis-py's pool)."""
    raw = Redis.from_url(private_redis.url)
    try:
        async with private_store(private_redis, lock_lifetime=60) as store:
            before = await _client_commands(raw)
            fences = await _lock_many(store, 200)
            assert len(set(fences)) == 200
            assert await _client_commands(raw) - before == 400  # still one enqueue + one leave
            clients = await raw.client_list()
            # the multiplexed connection, the pub/sub one, start()'s pooled one, ours
            assert len(clients) <= 4, clients
    finally:
        await raw.aclose()


async def test_without_hiredis_the_lock_uses_redis_py_connections(
    private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    import palaver.locks.redis as module

    monkeypatch.setattr(module, "hiredis_available", lambda: False)
    raw = Redis.from_url(private_redis.url)
    try:
        async with private_store(private_redis, lock_lifetime=60) as store:
            assert store._mux is None
            fences = await _lock_many(store, 50)
            assert len(set(fences)) == 50
            assert len(await raw.client_list()) > 4  # one pooled connection per caller
    finally:
        await raw.aclose()


async def test_scripts_flushed_from_redis_are_loaded_again(private_redis: PrivateRedis) -> None:
    """A Redis restarted without persistence (or ``SCRIPT FLUSH``) forgets the scripts."""
    raw = Redis.from_url(private_redis.url)
    try:
        async with private_store(private_redis, lock_lifetime=60) as store:
            async with store.lock(CONVERSATION) as first:
                pass
            await raw.script_flush()
            async with store.lock(CONVERSATION) as second:
                assert await store.queue_length(CONVERSATION) == 1
            assert second.fence > first.fence
            assert await store.queue_length(CONVERSATION) == 0
    finally:
        await raw.aclose()


async def test_wakeups_resume_after_redis_restart(private_redis: PrivateRedis) -> None:
    async with (
        private_store(private_redis, socket_timeout=1) as a,
        private_store(private_redis, socket_timeout=1, lock_poll_interval=0.3) as b,
    ):
        await asyncio.to_thread(private_redis.stop)
        await asyncio.sleep(0.3)  # b's listener notices the outage
        await asyncio.to_thread(private_redis.start)
        await asyncio.sleep(2)  # and resubscribes (backoff 0.5 s, then 1 s)
        async with a.lock(CONVERSATION, wait_timeout=2):
            waiter = asyncio.create_task(_acquire_time(b))
            await wait_until(lambda: _queue_is(a, 2))
            await asyncio.sleep(0.35)  # past b's first poll
            released_at = time.monotonic()
        assert await asyncio.wait_for(waiter, 5) - released_at < 0.15


async def test_stress_three_replicas_with_timeouts_and_cancellations(
    make_store: StoreFactory,
    raw: Redis,
    settings: RedisLockSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="palaver.locks.redis")
    replicas = [await started(make_store()) for _ in range(3)]
    rng = random.Random(7)
    inside: dict[str, bool] = {}
    last_fence: dict[str, int] = {}
    violations: list[str] = []

    async def worker(i: int) -> None:
        conversation_id = f"c{i % 3}"
        wait_timeout = rng.choice([0.05, 0.2, 5.0, 5.0])
        with contextlib.suppress(LockTimeoutError):
            async with replicas[i % 3].lock(conversation_id, wait_timeout=wait_timeout) as h:
                if inside.get(conversation_id):
                    violations.append(f"overlap in {conversation_id}")
                if last_fence.get(conversation_id, 0) >= h.fence:
                    violations.append(f"fence went back in {conversation_id}")
                inside[conversation_id], last_fence[conversation_id] = True, h.fence
                try:
                    await asyncio.sleep(rng.random() * 0.01)
                finally:
                    inside[conversation_id] = False

    tasks = []
    for i in range(400):  # ~1.5 s: the extender (every 1/3 s) runs several times
        tasks.append(asyncio.create_task(worker(i)))
        if rng.random() < 0.05:
            asyncio.get_running_loop().call_later(rng.random() * 0.05, tasks[-1].cancel)
        await asyncio.sleep(rng.random() * 0.007)
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    assert violations == []
    assert "lock_lost" not in caplog.text
    await asyncio.sleep(0.2)  # background give-ups
    assert await keys_of(raw, settings) == [f"{settings.namespace}seq"]
