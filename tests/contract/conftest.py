"""Tracker store backends for the contract suite, built in fixtures (never at collection).

``tracker_backend`` is a sync fixture on purpose: it pulls the service fixtures
(``postgres_db``, ``redis_prefix``, ``moto_server``, ``mongo_url``) with
``getfixturevalue`` so each backend skips on its own when its service is absent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from palaver.stores.base import EventDict, TrackerStore

StoreMaker = Callable[[], TrackerStore]
Seeder = Callable[[TrackerStore, str, list[list[EventDict]]], Awaitable[None]]


async def append_sessions(
    store: TrackerStore, sender_id: str, sessions: list[list[EventDict]]
) -> None:
    """Write sessions the normal way: one append per session."""
    for session in sessions:
        await store.append(sender_id, session)


@dataclass
class Backend:
    """How to build (and rebuild, for restart tests) one backend's store."""

    name: str
    make: StoreMaker
    persistent: bool
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    seed: Seeder = append_sessions
    # False where reading 20,000 events back is slow for reasons of the test
    # double, not of the store (moto rescans a partition for every 1 MB page).
    cheap_full_scan: bool = True
    # False where the test double does not isolate concurrent transactions
    # (moto's threaded server checks and applies TransactWriteItems without a
    # lock; DynamoDB's transactions are serializable).
    isolated_transactions: bool = True


BACKENDS = [
    pytest.param("memory"),
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("sqlite"),
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("dynamo"),
    pytest.param("mongo", marks=pytest.mark.mongo),
    pytest.param("mongo_standin"),
]


@pytest.fixture(params=BACKENDS)
def tracker_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    builder = _BUILDERS[request.param]
    return builder(request, tmp_path)


@pytest.fixture
async def tracker_store(tracker_backend: Backend) -> AsyncIterator[TrackerStore]:
    backend = tracker_backend
    instance = backend.make()
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()
        for cleanup in backend.cleanups:
            await cleanup()


def _memory(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    from palaver.stores.memory import InMemoryTrackerStore

    return Backend("memory", InMemoryTrackerStore, persistent=False)


def _postgres(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    from palaver.stores.sql_postgres import PostgresStoreSettings, PostgresTrackerStore

    dsn: str = request.getfixturevalue("postgres_db")
    settings = PostgresStoreSettings.from_config({"url": dsn, "pool_max_size": 5})
    return Backend("postgres", lambda: PostgresTrackerStore(settings), persistent=True)


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    from palaver.stores.sql_sqlite import SqliteStoreSettings, SqliteTrackerStore

    settings = SqliteStoreSettings(path=str(tmp_path / "tracker.db"))
    return Backend("sqlite", lambda: SqliteTrackerStore(settings), persistent=True)


def _redis(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    from palaver.stores.redis import RedisStoreSettings, RedisTrackerStore

    url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    settings = RedisStoreSettings.from_config({"url": url, "key_prefix": prefix})
    return Backend("redis", lambda: RedisTrackerStore(settings), persistent=True)


def _dynamo(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    from palaver.stores.dynamo import DynamoStoreSettings, DynamoTrackerStore

    moto = request.getfixturevalue("moto_server")
    settings = DynamoStoreSettings.from_config(
        {
            "table_name": f"palaver_{uuid.uuid4().hex[:10]}",
            "region": "us-east-1",
            "endpoint_url": moto.url,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
    )
    return Backend(
        "dynamo",
        lambda: DynamoTrackerStore(settings),
        persistent=True,
        seed=_seed_dynamo,
        cheap_full_scan=False,
        isolated_transactions=False,
    )


async def _seed_dynamo(
    store: TrackerStore, sender_id: str, sessions: list[list[EventDict]]
) -> None:
    """Bulk-write old sessions in the store's item layout (see palaver/stores/dynamo.py).

    moto deep-copies the whole table on every TransactWriteItems, so 20,000
    events through ``append`` take minutes there (not on DynamoDB), and even one
    append on top of them can exceed the read timeout on a busy machine. The
    large tail test therefore seeds all its sessions with BatchWriteItem; the
    tail it then loads (exact events, exact total) checks this layout against
    the store's reader. Appends on DynamoDB are covered by the rest of the
    suite and tests/unit/stores/test_dynamo.py.
    """
    import orjson

    client = store._client  # type: ignore[attr-defined]
    table = store.settings.table_name  # type: ignore[attr-defined]
    requests: list[dict[str, Any]] = []
    seq = session_start = 0
    for session in sessions:
        session_start = seq
        for event in session:
            item = {
                "sender_id": {"S": sender_id},
                "seq": {"N": str(seq)},
                "type_name": {"S": event["event"]},
                "data": {"S": orjson.dumps(event).decode()},
            }
            requests.append({"PutRequest": {"Item": item}})
            seq += 1
    meta = {
        "sender_id": {"S": sender_id},
        "seq": {"N": "-1"},
        "total": {"N": str(seq)},
        "session_start": {"N": str(session_start)},
        "rev": {"S": uuid.uuid4().hex},
    }
    requests.append({"PutRequest": {"Item": meta}})
    gate = asyncio.Semaphore(8)

    async def write(batch: list[dict[str, Any]]) -> None:
        async with gate:
            response = await client.batch_write_item(RequestItems={table: batch})
        assert not response.get("UnprocessedItems")

    await asyncio.gather(*(write(requests[i : i + 25]) for i in range(0, len(requests), 25)))


def _mongo(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    from palaver.stores.mongo import MongoStoreSettings, MongoTrackerStore

    url: str = request.getfixturevalue("mongo_url")
    db = f"palaver_test_{uuid.uuid4().hex[:10]}"
    settings = MongoStoreSettings.from_config({"url": url, "db": db})

    async def drop() -> None:
        from motor.motor_asyncio import AsyncIOMotorClient

        client: AsyncIOMotorClient = AsyncIOMotorClient(url)  # type: ignore[type-arg]
        try:
            await client.drop_database(db)
        finally:
            client.close()

    return Backend("mongo", lambda: MongoTrackerStore(settings), persistent=True, cleanups=[drop])


def _mongo_standin(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The Mongo store's logic against an in-process stand-in for motor (no server here)."""
    from palaver.stores.mongo import MongoStoreSettings, MongoTrackerStore
    from tests.unit.stores.fake_motor import FakeMongoServer

    server = FakeMongoServer()
    settings = MongoStoreSettings(db="palaver_test")
    return Backend(
        "mongo_standin",
        lambda: MongoTrackerStore(settings, client_factory=server.client_factory),
        persistent=True,
    )


_BUILDERS: dict[str, Callable[[pytest.FixtureRequest, Path], Backend]] = {
    "memory": _memory,
    "postgres": _postgres,
    "sqlite": _sqlite,
    "redis": _redis,
    "dynamo": _dynamo,
    "mongo": _mongo,
    "mongo_standin": _mongo_standin,
}
