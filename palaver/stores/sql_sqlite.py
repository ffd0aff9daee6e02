"""SQLite tracker store (aiosqlite: the driver runs in its own thread, off the loop).

Same schema as PostgreSQL (``palaver.stores.sql_common``). One connection in
WAL mode; an ``asyncio.Lock`` serialises statements of this process and
``BEGIN IMMEDIATE`` plus ``busy_timeout`` serialise writers of several
processes sharing the file. Good for development and single-node deployments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import unquote, urlsplit

import aiosqlite

from palaver.errors import ConfigError, StoreError, StoreUnavailableError
from palaver.stores.base import ConversationVersion, EventDict, StoredConversation
from palaver.stores.memory import (
    ConfigReader,
    check_fence,
    check_total,
    decode_event,
    encode_events,
    session_start_offset,
)
from palaver.stores.sql_common import (
    CONVERSATIONS_TABLE,
    CREATE_VERSION_TABLE,
    EVENTS_TABLE,
    KEYS_FIRST_SQL,
    KEYS_NEXT_SQL,
    KEYS_PAGE_SIZE,
    LOAD_SQL,
    SCHEMA_VERSION_TABLE,
    SELECT_VERSION,
    pending_migrations,
)

logger = logging.getLogger(__name__)

SECTION = "tracker_store"
_CONFIG_KEYS = ("dialect", "db", "url", "busy_timeout")

# SQLite result codes that mean "try again later", not "you asked for something wrong".
_UNAVAILABLE_CODES = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_PROTOCOL,
}

_SELECT_CONVERSATION = f"SELECT total_events, fence FROM {CONVERSATIONS_TABLE} WHERE sender_id = ?"
_INSERT_CONVERSATION = (
    f"INSERT INTO {CONVERSATIONS_TABLE} (sender_id, total_events, session_start, fence)"
    " VALUES (?, ?, ?, ?)"
)
_UPDATE_CONVERSATION = (
    f"UPDATE {CONVERSATIONS_TABLE} SET total_events = ?,"
    " session_start = COALESCE(?, session_start), fence = COALESCE(?, fence)"
    " WHERE sender_id = ?"
)
_INSERT_EVENT = (
    f"INSERT INTO {EVENTS_TABLE}"
    " (sender_id, seq, type_name, timestamp, intent_name, action_name, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class SqliteStoreSettings:
    """``db`` is the database file path (Rasa's key); ``url`` may be ``sqlite:///path``."""

    path: str = "palaver.db"
    busy_timeout: float = 5.0

    @classmethod
    def from_dsn(cls, dsn: str) -> Self:
        parts = urlsplit(dsn)
        if parts.scheme not in {"sqlite", "sqlite+aiosqlite"}:
            raise ConfigError(
                f"Config '{SECTION}.url' has value '{dsn}'. Not a valid sqlite:///path DSN."
            )
        path = unquote(parts.path)
        # sqlite:///rel.db -> "rel.db"; sqlite:////abs.db -> "/abs.db" (SQLAlchemy's rule)
        path = path[1:] if path.startswith("/") else path
        return cls(path=path or "palaver.db")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        reader = ConfigReader(SECTION, config, _CONFIG_KEYS)
        url = reader.get_str("url", None)
        base = cls.from_dsn(url) if url else cls()
        return cls(
            path=reader.get_str("db", base.path),
            busy_timeout=reader.get_float("busy_timeout", 5.0, minimum=0.0),
        )


class SqliteTrackerStore:
    """Conversation events in an SQLite file; see the module docstring."""

    dialect = "sqlite"

    def __init__(self, settings: SqliteStoreSettings) -> None:
        self.settings = settings
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        return cls(SqliteStoreSettings.from_config(config))

    def __repr__(self) -> str:
        return f"SqliteTrackerStore(path={self.settings.path!r})"

    def __del__(self) -> None:
        if getattr(self, "_conn", None) is not None:
            warnings.warn(f"{self!r} was never stopped", ResourceWarning, stacklevel=1)

    async def start(self) -> None:
        """Open the file and migrate. A wrong path is a ``StoreError`` at once."""
        async with self._lock:
            if self._conn is not None:
                return
            with self._errors("open", None):
                # Open once in a plain thread first: a bad path fails here, because
                # aiosqlite's own failed connect leaves its worker thread behind.
                await asyncio.to_thread(_try_open, self.settings.path)
                conn = await aiosqlite.connect(self.settings.path, isolation_level=None)
            try:
                with self._errors("migrate", None):
                    timeout_ms = int(self.settings.busy_timeout * 1000)
                    await conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")
                    await conn.execute("PRAGMA journal_mode = WAL")
                    await conn.execute("PRAGMA synchronous = NORMAL")
                    await self._migrate(conn)
            except BaseException:
                await conn.close()
                raise
            self._conn = conn

    async def stop(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        async with _transaction(conn):
            await conn.execute(CREATE_VERSION_TABLE["sqlite"])
            async with conn.execute(SELECT_VERSION) as cursor:
                row = await cursor.fetchone()
            for migration in pending_migrations(int(row[0]) if row else 0):
                for statement in migration.statements("sqlite"):
                    await conn.execute(statement)
                await conn.execute(
                    f"INSERT INTO {SCHEMA_VERSION_TABLE} (version, description) VALUES (?, ?)",
                    (migration.version, migration.description),
                )
                logger.info(
                    "Migrated tracker store %s to schema version %d (%s)",
                    self.settings.path, migration.version, migration.description,
                )  # fmt: skip

    # -- contract --------------------------------------------------------------------

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        async with self._lock:
            conn = self._require_conn()
            with self._errors("load", sender_id):
                cursor = await conn.execute(LOAD_SQL["sqlite"], {"sender": sender_id, "full": full})
                rows = list(await cursor.fetchall())
                await cursor.close()
        if not rows:
            return None
        return StoredConversation(
            events=[decode_event(row[1]) for row in rows if row[1] is not None],
            total_events=int(rows[0][0]),
        )

    async def version(self, sender_id: str) -> ConversationVersion | None:
        """Event count and fence of a conversation: one primary-key lookup."""
        async with self._lock:
            conn = self._require_conn()
            with self._errors("version", sender_id):
                async with conn.execute(_SELECT_CONVERSATION, (sender_id,)) as cursor:
                    row = await cursor.fetchone()
        return None if row is None else ConversationVersion(int(row[0]), row[1])

    async def append(
        self,
        sender_id: str,
        events: Sequence[EventDict],
        *,
        fence: int | None = None,
        expected_total: int | None = None,
    ) -> None:
        encoded = encode_events(sender_id, events)
        if not encoded:
            return
        offset = session_start_offset(encoded)
        async with self._lock:
            conn = self._require_conn()
            with self._errors("append", sender_id):
                async with _transaction(conn):
                    first_seq = await self._claim(
                        conn, sender_id, len(encoded), offset, fence, expected_total
                    )
                    await conn.executemany(
                        _INSERT_EVENT,
                        [
                            (sender_id, first_seq + i, e.type_name, e.timestamp,
                             e.intent_name, e.action_name, e.text)
                            for i, e in enumerate(encoded)
                        ],
                    )  # fmt: skip

    async def _claim(
        self,
        conn: aiosqlite.Connection,
        sender_id: str,
        count: int,
        offset: int | None,
        fence: int | None,
        expected_total: int | None,
    ) -> int:
        """Check the fence and the event count, reserve ``count`` positions; returns the first.

        Runs inside the ``BEGIN IMMEDIATE`` transaction, so no other writer can
        change the conversation between these checks and the insert.
        """
        async with conn.execute(_SELECT_CONVERSATION, (sender_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            if expected_total is not None:
                check_total(sender_id, expected_total, 0)
            await conn.execute(_INSERT_CONVERSATION, (sender_id, count, offset or 0, fence))
            return 0
        total, stored_fence = int(row[0]), row[1]
        if fence is not None:
            check_fence(sender_id, stored_fence, fence)
        if expected_total is not None:
            check_total(sender_id, expected_total, total)
        session_start = None if offset is None else total + offset
        await conn.execute(_UPDATE_CONVERSATION, (total + count, session_start, fence, sender_id))
        return total

    async def keys(self) -> AsyncIterator[str]:
        after: str | None = None
        while True:
            async with self._lock:
                conn = self._require_conn()
                with self._errors("keys", None):
                    if after is None:
                        cursor = await conn.execute(KEYS_FIRST_SQL["sqlite"], (KEYS_PAGE_SIZE,))
                    else:
                        cursor = await conn.execute(
                            KEYS_NEXT_SQL["sqlite"], (after, KEYS_PAGE_SIZE)
                        )
                    rows = [str(row[0]) for row in await cursor.fetchall()]
                    await cursor.close()
            for sender_id in rows:
                yield sender_id
            if len(rows) < KEYS_PAGE_SIZE:
                return
            after = rows[-1]

    async def delete(self, sender_id: str) -> None:
        async with self._lock:
            conn = self._require_conn()
            with self._errors("delete", sender_id):
                async with _transaction(conn):
                    await conn.execute(
                        f"DELETE FROM {CONVERSATIONS_TABLE} WHERE sender_id = ?", (sender_id,)
                    )
                    await conn.execute(
                        f"DELETE FROM {EVENTS_TABLE} WHERE sender_id = ?", (sender_id,)
                    )

    # -- helpers -------------------------------------------------------------------

    def _require_conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreError("SQLite tracker store is not started; call start() first.")
        return self._conn

    @contextlib.contextmanager
    def _errors(self, operation: str, sender_id: str | None) -> Iterator[None]:
        where = f" for conversation '{sender_id}'" if sender_id is not None else ""
        try:
            yield
        except StoreError:
            raise
        except sqlite3.Error as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            error: type[StoreError] = StoreError
            if code is not None and (code & 0xFF) in _UNAVAILABLE_CODES:
                error = StoreUnavailableError
            raise error(
                f"SQLite tracker store {self.settings.path!r} {operation}{where} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        except (OSError, ValueError) as exc:  # aiosqlite: ValueError when its thread is gone
            raise StoreUnavailableError(
                f"SQLite tracker store {self.settings.path!r} {operation}{where} failed: {exc}"
            ) from exc


def _try_open(path: str) -> None:
    sqlite3.connect(path).close()


@contextlib.asynccontextmanager
async def _transaction(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """``BEGIN IMMEDIATE`` (take the write lock up front) ... ``COMMIT``, or roll back."""
    await conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        await conn.execute("COMMIT")
    except BaseException:
        # Keep the original error: a failed ROLLBACK (no transaction, closed
        # connection) says nothing new.
        with contextlib.suppress(sqlite3.Error, ValueError):
            await conn.execute("ROLLBACK")
        raise
