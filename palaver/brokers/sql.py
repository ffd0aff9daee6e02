"""SQL event broker (``type: sql``): PostgreSQL (asyncpg) or SQLite (aiosqlite).

Writes one row per event to the table ``events`` exactly as Rasa's SQL
broker does: ``id`` (auto increment), ``sender_id``, ``data`` (the event JSON
with ``sender_id``). The table is created if missing. A batch is inserted in
one transaction, so it is acknowledged all at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from palaver.brokers.dispatcher import (
    BackgroundBroker,
    ConfigReader,
    DeliveryReport,
    DeliverySettings,
    masked_repr,
)
from palaver.brokers.outbox import Record
from palaver.errors import BrokerUnavailableError, ConfigError

TABLE = "events"
DIALECTS = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+asyncpg": "postgresql",
    "postgresql+psycopg2": "postgresql",
    "sqlite": "sqlite",
    "sqlite+aiosqlite": "sqlite",
}
_INSERT_PG = f"INSERT INTO {TABLE} (sender_id, data) VALUES ($1, $2)"
_INSERT_LITE = f"INSERT INTO {TABLE} (sender_id, data) VALUES (?, ?)"
_CREATE_PG = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " id SERIAL PRIMARY KEY, sender_id VARCHAR(255), data TEXT)"
)
_CREATE_LITE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " id INTEGER PRIMARY KEY, sender_id VARCHAR(255), data TEXT)"
)


@dataclass(frozen=True, slots=True, repr=False)
class SQLSettings:
    """Validated ``event_broker`` settings for ``type: sql``.

    Attributes:
        dialect: ``postgresql`` or ``sqlite`` (Rasa's default).
        host: database host (``url`` in Rasa configs; may also be a full
            ``postgresql://`` or ``sqlite:///`` URL).
        db: database name, or the SQLite file (default ``events.db``).
    """

    dialect: str
    delivery: DeliverySettings
    host: str | None = None
    port: int | None = None
    db: str = "events.db"
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SQLSettings:
        """Build from the ``event_broker`` mapping; errors name key and value."""
        reader = ConfigReader("sql", config, secrets=("password",))
        url = reader.optional_text("url") or reader.optional_text("host")
        parts = _url_parts(reader, url) if url and "://" in url else {"host": url}
        dialect_value = reader.get("dialect", parts.get("dialect", "sqlite"))
        dialect = DIALECTS.get(str(dialect_value).lower())
        if dialect is None:
            raise reader.error(
                "dialect", dialect_value, f"Supported: {', '.join(sorted(set(DIALECTS)))}."
            )
        settings = cls(
            dialect=dialect,
            delivery=DeliverySettings.read(reader, "sql"),
            host=parts.get("host"),
            port=reader.optional_integer("port") or _int(parts.get("port")),
            db=reader.text("db", parts.get("db") or "events.db"),
            username=reader.optional_text("username") or parts.get("username"),
            password=reader.optional_text("password") or parts.get("password"),
        )
        reader.finish()
        return settings

    def __repr__(self) -> str:
        return masked_repr(self, ("password",))


def _url_parts(reader: ConfigReader, url: str) -> dict[str, str | None]:
    split = urlsplit(url)
    dialect = split.scheme.lower()
    if dialect.startswith("sqlite"):
        # sqlite:///relative.db and sqlite:////absolute.db, as in SQLAlchemy
        return {"dialect": dialect, "db": split.path[1:] or None}
    if dialect not in DIALECTS:
        raise reader.error("url", f"{split.scheme}://...", "Expected a postgresql:// URL.")
    return {
        "dialect": dialect,
        "host": split.hostname,
        "port": str(split.port) if split.port else None,
        "db": unquote(split.path[1:]) or None,
        "username": unquote(split.username) if split.username else None,
        "password": unquote(split.password) if split.password else None,
    }


def _int(value: str | None) -> int | None:
    return int(value) if value else None


class _Writer(Protocol):
    async def connect(self) -> None: ...

    async def insert(self, rows: list[tuple[str, str]]) -> None: ...

    async def close(self) -> None: ...


class _PostgresWriter:
    def __init__(self, settings: SQLSettings) -> None:
        self.settings = settings
        self._pool: Any = None

    async def connect(self) -> None:
        import asyncpg

        s = self.settings
        pool = await asyncpg.create_pool(
            host=s.host,
            port=s.port,
            user=s.username,
            password=s.password,
            database=s.db,
            min_size=1,
            max_size=1,
            timeout=s.delivery.connect_timeout,
        )
        try:
            await pool.execute(_CREATE_PG)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def insert(self, rows: list[tuple[str, str]]) -> None:
        if self._pool is None:
            raise BrokerUnavailableError("Not connected to PostgreSQL.")
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(_INSERT_PG, rows)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


class _SQLiteWriter:
    def __init__(self, settings: SQLSettings) -> None:
        self.settings = settings
        self._db: Any = None

    async def connect(self) -> None:
        import aiosqlite

        db = await aiosqlite.connect(self.settings.db)
        try:
            await db.execute(_CREATE_LITE)
            await db.commit()
        except BaseException:
            await db.close()
            raise
        self._db = db

    async def insert(self, rows: list[tuple[str, str]]) -> None:
        if self._db is None:
            raise BrokerUnavailableError("Not connected to SQLite.")
        try:
            await self._db.executemany(_INSERT_LITE, rows)
            await self._db.commit()
        except BaseException:
            await asyncio.shield(self._db.rollback())
            raise

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()


class SQLTransport:
    """Inserts each batch in one transaction; on a data error, row by row."""

    def __init__(self, settings: SQLSettings) -> None:
        self.settings = settings
        postgres = settings.dialect == "postgresql"
        self._writer: _Writer = _PostgresWriter(settings) if postgres else _SQLiteWriter(settings)

    @property
    def target(self) -> str:
        s = self.settings
        if s.dialect == "sqlite":
            return f"SQLite table '{TABLE}' in {s.db}"
        return f"PostgreSQL table '{TABLE}' in {s.host or 'localhost'}:{s.port or 5432}/{s.db}"

    async def connect(self) -> None:
        try:
            await self._writer.connect()
        except ImportError as exc:
            extra = "postgres" if self.settings.dialect == "postgresql" else "sqlite"
            raise ConfigError(
                f"The sql event broker with dialect '{self.settings.dialect}' needs "
                f"'pip install palaver[{extra}]': {exc}"
            ) from exc

    async def deliver(self, records: Sequence[Record], budget: float) -> DeliveryReport:
        rows = [(r.sender_id, r.body.decode("utf-8")) for r in records]
        async with asyncio.timeout(budget):
            try:
                await self._writer.insert(rows)
            except Exception as exc:
                if len(records) > 1 and _is_data_error(exc):
                    return await self._one_by_one(records)
                raise
        return DeliveryReport.all_acked(records)

    async def close(self) -> None:
        await self._writer.close()

    async def _one_by_one(self, records: Sequence[Record]) -> DeliveryReport:
        """Isolate the rows the database refuses (too long, bad characters)."""
        acked: set[int] = set()
        rejected: dict[int, str] = {}
        for record in records:
            try:
                await self._writer.insert([(record.sender_id, record.body.decode())])
            except Exception as exc:
                if not _is_data_error(exc):
                    return DeliveryReport(frozenset(acked), rejected, exc)
                rejected[record.seq] = repr(exc)
            else:
                acked.add(record.seq)
        return DeliveryReport(frozenset(acked), rejected)


def _is_data_error(exc: BaseException) -> bool:
    """A problem with the row itself (SQLSTATE class 22), not the connection."""
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith("22")


class SQLEventBroker(BackgroundBroker):
    """``type: sql`` — see ``SQLSettings`` and ``BackgroundBroker``."""

    def __init__(self, settings: SQLSettings) -> None:
        self.settings = settings
        super().__init__(
            SQLTransport(settings), settings.delivery, secrets=[settings.password or ""]
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SQLEventBroker:
        return cls(SQLSettings.from_config(config))
