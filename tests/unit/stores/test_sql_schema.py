"""SQL stores: versioned migrations, CREATE DATABASE via login_db, and query plans.

The plan checks are the structural half of "a load costs O(current session)":
the contract suite counts the rows a load decodes; these show the database
reaches them by one range scan of the (sender_id, seq) index.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from palaver.errors import StoreError
from palaver.stores.sql_common import EVENTS_TABLE, LATEST_VERSION, LOAD_SQL, quote_ident
from palaver.stores.sql_postgres import PostgresStoreSettings, PostgresTrackerStore
from palaver.stores.sql_sqlite import SqliteStoreSettings, SqliteTrackerStore

TAIL = [
    {"event": "session_started"},
    {"event": "user", "text": "hi"},
    {"event": "action", "name": "x"},
]


async def fill(store: PostgresTrackerStore | SqliteTrackerStore) -> None:
    for _ in range(20):
        await store.append("long", [{"event": "session_started"}] + [{"event": "bot"}] * 999)
    for other in range(50):
        await store.append(f"other-{other}", [{"event": "bot"}] * 20)
    await store.append("long", TAIL)


def test_quote_ident() -> None:
    assert quote_ident('we"ird name') == '"we""ird name"'
    with pytest.raises(Exception, match="not a valid SQL identifier"):
        quote_ident("")


@pytest.mark.postgres
class TestPostgres:
    @pytest.fixture
    async def store(self, postgres_db: str) -> AsyncIterator[PostgresTrackerStore]:
        store = PostgresTrackerStore(PostgresStoreSettings.from_dsn(postgres_db))
        await store.start()
        yield store
        await store.stop()

    async def test_load_is_one_index_range_scan(
        self, store: PostgresTrackerStore, postgres_db: str
    ) -> None:
        await fill(store)
        conn = await asyncpg.connect(postgres_db)
        try:
            await conn.execute(f"ANALYZE {EVENTS_TABLE}")
            raw = await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + LOAD_SQL["postgresql"], "long", False
            )
        finally:
            await conn.close()
        nodes = list(_walk(json.loads(raw)[0]["Plan"]))
        # No sequential scan of the events table, anywhere in the plan.
        assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], nodes
        # One scan of the (sender_id, seq) index, bounded by the session start,
        # that finds only the tail (an Index Scan, or a Bitmap Index Scan under
        # a Bitmap Heap Scan, depending on the planner's estimates).
        index_scans = [n for n in nodes if n.get("Index Name") == f"{EVENTS_TABLE}_sender_seq"]
        assert len(index_scans) == 1, nodes
        scan = index_scans[0]
        assert "seq >=" in scan["Index Cond"]
        assert scan["Actual Rows"] == len(TAIL)
        table_scan = next(n for n in nodes if n.get("Relation Name") == EVENTS_TABLE)
        assert table_scan["Actual Rows"] == len(TAIL)
        assert table_scan.get("Rows Removed by Filter", 0) == 0

    async def test_migrations_are_versioned_and_run_once(
        self, store: PostgresTrackerStore, postgres_db: str
    ) -> None:
        again = PostgresTrackerStore(PostgresStoreSettings.from_dsn(postgres_db))
        await again.start()
        await again.stop()
        conn = await asyncpg.connect(postgres_db)
        try:
            versions = await conn.fetch("SELECT version FROM palaver_schema_version")
            assert [r[0] for r in versions] == list(range(1, LATEST_VERSION + 1))
            await conn.execute("INSERT INTO palaver_schema_version VALUES (99, 'from the future')")
        finally:
            await conn.close()
        newer = PostgresTrackerStore(PostgresStoreSettings.from_dsn(postgres_db))
        with pytest.raises(StoreError, match="schema version 99, newer"):
            await newer.start()

    async def test_replicas_starting_together_migrate_once(self, postgres_db: str) -> None:
        stores = [
            PostgresTrackerStore(PostgresStoreSettings.from_dsn(postgres_db)) for _ in range(4)
        ]
        await asyncio.gather(*(s.start() for s in stores))
        await asyncio.gather(*(s.stop() for s in stores))

    async def test_login_db_creates_a_missing_database(self, postgres_server: str) -> None:
        name = f'palaver "odd" db {uuid.uuid4().hex[:6]}'
        settings = PostgresStoreSettings.from_config(
            {"url": postgres_server, "db": name, "login_db": "postgres"}
        )
        store = PostgresTrackerStore(settings)
        try:
            await store.start()
            await store.append("x", TAIL)
            await store.stop()
            await store.start()  # exists now: no second CREATE DATABASE
            assert (await store.load("x")) is not None
        finally:
            await store.stop()
            admin = await asyncpg.connect(postgres_server)
            try:
                await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
            finally:
                await admin.close()


class TestSqlite:
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[SqliteTrackerStore]:
        store = SqliteTrackerStore(SqliteStoreSettings(path=str(tmp_path / "t.db")))
        await store.start()
        yield store
        await store.stop()

    async def test_load_is_one_index_range_scan(self, store: SqliteTrackerStore) -> None:
        await fill(store)
        conn = store._conn
        assert conn is not None
        async with conn.execute(
            "EXPLAIN QUERY PLAN " + LOAD_SQL["sqlite"], {"sender": "long", "full": False}
        ) as cursor:
            details = [row[3] for row in await cursor.fetchall()]
        events_scans = [d for d in details if d.startswith(("SEARCH e", "SCAN e"))]
        assert len(events_scans) == 1, details
        assert events_scans[0].startswith(
            f"SEARCH e USING INDEX {EVENTS_TABLE}_sender_seq (sender_id=? AND seq>?)"
        ), details

    async def test_migrations_are_versioned(
        self, store: SqliteTrackerStore, tmp_path: Path
    ) -> None:
        await store.stop()
        await store.start()
        conn = store._conn
        assert conn is not None
        async with conn.execute("SELECT version FROM palaver_schema_version") as cursor:
            assert [r[0] for r in await cursor.fetchall()] == list(range(1, LATEST_VERSION + 1))
        await conn.execute(
            "INSERT INTO palaver_schema_version (version, description) VALUES (7, 'x')"
        )
        await store.stop()
        with pytest.raises(StoreError, match="schema version 7, newer"):
            await store.start()


def _walk(plan: dict[str, Any]) -> Any:
    yield plan
    for child in plan.get("Plans", []):
        yield from _walk(child)
