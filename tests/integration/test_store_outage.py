"""Outages of a real Redis / PostgreSQL under a FailSafeTrackerStore.

Each test starts a *private* server on a free port (never the machine's shared
ones), stops it mid-conversation, checks that turns keep working from the
in-memory fallback, restarts it on the same port and checks that the fallback
was replayed into the primary and new turns land there.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import pytest

from palaver.stores.base import EventDict, TrackerStore
from palaver.stores.failsafe import FailSafeTrackerStore
from palaver.stores.redis import RedisStoreSettings, RedisTrackerStore
from palaver.stores.sql_postgres import PostgresStoreSettings, PostgresTrackerStore
from tests import services

pytestmark = pytest.mark.timeout(60)


def turn(label: str) -> list[EventDict]:
    return [
        {"event": "user", "timestamp": 1.0, "text": label, "parse_data": {"intent": {"name": "x"}}},
        {"event": "action", "timestamp": 1.1, "name": "utter_x"},
        {"event": "action", "timestamp": 1.2, "name": "action_listen"},
    ]


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll for up to 15 s (the fail-safe probe backs off to 0.5 s here)."""
    for _ in range(300):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached within 15 s")


async def run_outage(
    store: FailSafeTrackerStore,
    stop_server: Callable[[], Awaitable[None]],
    start_server: Callable[[], Awaitable[None]],
    *,
    survives_restart: bool,
) -> None:
    session = [{"event": "session_started", "timestamp": 0.5}]
    await store.append("alice", [*session, *turn("before")], fence=1)
    assert store.mode == "primary"

    await stop_server()
    # Turns keep working: the first failing call switches to the fallback.
    await store.append("alice", turn("during-1"), fence=2)
    await store.append("bob", turn("bob-during"), fence=1)
    loaded = await store.load("alice")
    assert loaded is not None
    assert loaded.events == turn("during-1")  # the fallback only knows the outage's events
    await store.append("alice", turn("during-2"), fence=2)
    status = store.status()
    assert status["mode"] == "fallback"
    assert status["switches"] == 1
    assert status["fallback_conversations"] == 2
    assert status["fallback_events"] == 9

    await start_server()
    await wait_until(lambda: store.mode == "primary")
    assert store.status()["fallback_events"] == 0
    assert store.status()["replayed_events"] == 9

    await store.append("alice", turn("after"), fence=3)
    primary: TrackerStore = store.primary
    alice = await primary.load("alice", full=True)
    assert alice is not None
    kept = [*session, *turn("before")] if survives_restart else []
    assert alice.events == [*kept, *turn("during-1"), *turn("during-2"), *turn("after")]
    bob = await primary.load("bob")
    assert bob is not None and bob.events == turn("bob-during")
    latest = await store.load("alice")
    assert latest is not None and latest.events[-3:] == turn("after")


@pytest.mark.redis
async def test_redis_outage_falls_back_and_replays() -> None:
    server = services.PrivateRedis()
    server.start()
    try:
        primary = RedisTrackerStore(
            RedisStoreSettings.from_config(
                {"url": server.url, "socket_timeout": 1, "connect_retries": 1}
            )
        )
        store = FailSafeTrackerStore(primary, retry_interval=0.1, max_retry_interval=0.5)
        async with store:

            async def stop() -> None:
                await asyncio.to_thread(server.stop)

            async def start() -> None:
                await asyncio.to_thread(server.start)

            # The private Redis runs without persistence: what it held before the
            # outage is gone after the restart; the fallback's events are not.
            await run_outage(store, stop, start, survives_restart=False)
    finally:
        server.stop()


@pytest.mark.postgres
async def test_postgres_outage_falls_back_and_replays() -> None:
    if services.postgres_bin("initdb") is None:
        pytest.skip("PostgreSQL server binaries (initdb, postgres) are not installed")
    with services.private_postgres() as server:
        primary = PostgresTrackerStore(
            PostgresStoreSettings.from_config(
                {
                    "url": server.dsn,
                    "connect_timeout": 2,
                    "command_timeout": 5,
                    # The private server accepts connections before it is ready
                    # ("the database system is starting up"): startup retries.
                    "connect_retries": 20,
                    "retry_delay": 0.1,
                    "pool_min_size": 1,
                    "pool_max_size": 4,
                }
            )
        )
        store = FailSafeTrackerStore(primary, retry_interval=0.1, max_retry_interval=0.5)
        async with store:

            async def stop() -> None:
                # Fast shutdown: the default smart shutdown waits for our pool.
                await asyncio.to_thread(server.stop, signal.SIGINT)

            async def start() -> None:
                await asyncio.to_thread(server.start)

            await run_outage(store, stop, start, survives_restart=True)
