"""PostgreSQL tracker store (asyncpg, pooled).

Schema and migrations: ``palaver.stores.sql_common``. An append is one
statement, hence one round trip and one transaction: a write of the
conversation row (fence check, event count check against ``expected_total``,
``seq`` allocation, latest-session pointer; it locks the row, so writers of
one conversation are serialised) whose RETURNING feeds one multi-row
``INSERT ... SELECT unnest(...)`` of the new events. The row write is an
upsert, or a plain ``UPDATE`` when the writer expects the conversation to
have events (an upsert would create a missing row instead of refusing). A load
is one statement: the conversation row joined to an index range scan of its
events from ``session_start`` on. ``version`` reads the conversation row only.
Pooled connections are not reset between queries (see ``_keep_session``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import asyncpg

from palaver.errors import ConfigError, StoreError, StoreUnavailableError
from palaver.stores.base import ConversationVersion, EventDict, StoredConversation
from palaver.stores.memory import (
    ConfigReader,
    decode_event,
    encode_events,
    mask,
    refusal,
    retry_unavailable,
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
    MIGRATION_LOCK_KEY,
    SCHEMA_VERSION_TABLE,
    SELECT_VERSION,
    pending_migrations,
    quote_ident,
)

logger = logging.getLogger(__name__)

SECTION = "tracker_store"
_DSN_SCHEMES = {"postgresql", "postgres", "postgresql+asyncpg"}
_CONFIG_KEYS = (
    "dialect", "url", "host", "port", "db", "username", "password", "login_db", "query",
    "pool_min_size", "pool_max_size", "connect_timeout", "command_timeout",
    "connect_retries", "retry_delay",
)  # fmt: skip

# Connection-level failures: the server is down, restarting, unreachable or full.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable, DNS
    TimeoutError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, incl. "connection does not exist"
    asyncpg.CannotConnectNowError,  # starting up / shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.QueryCanceledError,  # statement_timeout
)

# One statement, so one round trip and its own transaction: the write of the
# conversation row (fence check, event count check, ``seq`` allocation,
# latest-session pointer; it locks the row, so writers of one conversation are
# serialised) feeds the multi-row insert of the events through its RETURNING.
# A refused check makes it return no row, so nothing is inserted and
# ``first_seq`` is NULL. Parameters: $1 sender_id, $2 event count, $3 offset of
# the last session_started or NULL, $4 fence or NULL, $5-$9 the event columns,
# $10 expected_total or NULL.
_FENCE_OK = "($4::bigint IS NULL OR c.fence IS NULL OR c.fence <= $4::bigint)"
_NEW_SESSION_START = (
    "CASE WHEN $3::bigint IS NULL THEN c.session_start ELSE c.total_events + $3::bigint END"
)

# Without an expected count, or when the writer found the conversation empty:
# create the row or update it (a conversation that has events fails the count).
_UPSERT_CONVERSATION = f"""
    INSERT INTO {CONVERSATIONS_TABLE} AS c (sender_id, total_events, session_start, fence)
    VALUES ($1, $2, COALESCE($3::bigint, 0), $4::bigint)
    ON CONFLICT (sender_id) DO UPDATE SET
        total_events = c.total_events + EXCLUDED.total_events,
        session_start = {_NEW_SESSION_START},
        fence = GREATEST(c.fence, EXCLUDED.fence)
    WHERE {_FENCE_OK} AND ($10::bigint IS NULL OR c.total_events = $10::bigint)
    RETURNING c.total_events - $2 AS first_seq
"""

# The writer loaded events: the row must exist with exactly that count. Under
# READ COMMITTED a concurrent writer's committed update is re-checked here.
_UPDATE_CONVERSATION = f"""
    UPDATE {CONVERSATIONS_TABLE} AS c SET
        total_events = c.total_events + $2,
        session_start = {_NEW_SESSION_START},
        fence = GREATEST(c.fence, $4::bigint)
    WHERE c.sender_id = $1 AND c.total_events = $10::bigint AND {_FENCE_OK}
    RETURNING c.total_events - $2 AS first_seq
"""

_APPEND_TEMPLATE = """
WITH conversation AS ({conversation}), inserted AS (
    INSERT INTO {events}
        (sender_id, seq, type_name, timestamp, intent_name, action_name, data)
    SELECT $1, conversation.first_seq + t.ord - 1, t.type_name, t.ts, t.intent_name,
           t.action_name, t.data
    FROM conversation,
         unnest($5::text[], $6::float8[], $7::text[], $8::text[], $9::json[])
             WITH ORDINALITY AS t(type_name, ts, intent_name, action_name, data, ord)
    RETURNING 1
)
SELECT (SELECT first_seq FROM conversation), (SELECT count(*) FROM inserted)
"""
_APPEND = _APPEND_TEMPLATE.format(conversation=_UPSERT_CONVERSATION, events=EVENTS_TABLE)
_APPEND_EXISTING = _APPEND_TEMPLATE.format(conversation=_UPDATE_CONVERSATION, events=EVENTS_TABLE)

_SELECT_VERSION = f"SELECT total_events, fence FROM {CONVERSATIONS_TABLE} WHERE sender_id = $1"
_DELETE_CONVERSATION = f"DELETE FROM {CONVERSATIONS_TABLE} WHERE sender_id = $1"
_DELETE_EVENTS = f"DELETE FROM {EVENTS_TABLE} WHERE sender_id = $1"


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset: nothing to undo (asyncpg still rolls back an open transaction first).

    The store never changes session state (no SET, LISTEN, cursors or session
    advisory locks), so asyncpg's default reset (``pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL``) would only add a round trip per query.
    """


@dataclass(frozen=True, slots=True)
class PostgresStoreSettings:
    """Connection settings; ``endpoints.yml`` keys as Rasa's SQL tracker store.

    ``url`` is a host name or a full ``postgresql://`` DSN; the other keys, when
    given, override the DSN's parts. ``login_db``: connect there first and
    create ``db`` when it is missing. ``query``: connection parameters such as
    ``sslmode`` (unknown ones become server settings).
    """

    host: str = "localhost"
    port: int = 5432
    db: str = "palaver"
    username: str | None = None
    password: str | None = None
    login_db: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    pool_min_size: int = 0
    pool_max_size: int = 10
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    connect_retries: int = 5
    retry_delay: float = 1.0

    def __repr__(self) -> str:
        query = {k: ("***" if "password" in k else v) for k, v in self.query}
        return (
            f"PostgresStoreSettings(host={self.host!r}, port={self.port}, db={self.db!r}, "
            f"username={self.username!r}, password={mask(self.password)!r}, "
            f"login_db={self.login_db!r}, query={query!r}, pool_max_size={self.pool_max_size})"
        )

    @property
    def address(self) -> str:
        """Where the server is, for messages (no credentials)."""
        return f"{self.host}:{self.port}/{self.db}"

    @classmethod
    def from_dsn(cls, dsn: str) -> Self:
        """Parse ``postgresql://user:password@host:port/db?sslmode=require``."""
        parts = urlsplit(dsn)
        if parts.scheme not in _DSN_SCHEMES:
            raise ConfigError(
                f"Config '{SECTION}.url' has value '{parts.scheme}://...'. "
                f"Not a PostgreSQL DSN (schemes: {', '.join(sorted(_DSN_SCHEMES))})."
            )
        try:
            port = parts.port or 5432
        except ValueError as exc:
            raise ConfigError(f"Config '{SECTION}.url' has an invalid port: {exc}") from exc
        return cls(
            host=unquote(parts.hostname or "localhost"),
            port=port,
            db=unquote(parts.path.lstrip("/")) or "palaver",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            query=tuple(parse_qsl(parts.query)),
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        reader = ConfigReader(SECTION, config, _CONFIG_KEYS)
        url = reader.get_str("url", None) or reader.get_str("host", None)
        base = cls.from_dsn(url) if url and "://" in url else cls(host=url or "localhost")
        query = dict(base.query) | reader.get_mapping("query")
        settings = cls(
            host=base.host,
            port=reader.get_int("port", base.port, minimum=1),
            db=reader.get_str("db", base.db),
            username=reader.get_str("username", base.username),
            password=reader.get_str("password", base.password),
            login_db=reader.get_str("login_db", None),
            query=tuple(query.items()),
            pool_min_size=reader.get_int("pool_min_size", 0, minimum=0),
            pool_max_size=reader.get_int("pool_max_size", 10, minimum=1),
            connect_timeout=reader.get_float("connect_timeout", 10.0, minimum=0.1),
            command_timeout=reader.get_float("command_timeout", 30.0, minimum=0.1),
            connect_retries=reader.get_int("connect_retries", 5, minimum=1),
            retry_delay=reader.get_float("retry_delay", 1.0, minimum=0.0),
        )
        if settings.pool_min_size > settings.pool_max_size:
            raise ConfigError(
                f"Config '{SECTION}.pool_min_size' has value '{settings.pool_min_size}'. "
                f"Not a valid size: larger than pool_max_size ({settings.pool_max_size})."
            )
        return settings

    def connect_kwargs(self, database: str) -> dict[str, Any]:
        """Arguments for ``asyncpg.connect``/``create_pool``; query params go in a DSN."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.username,
            "password": self.password,
            "database": database,
            "timeout": self.connect_timeout,
        }
        if self.query:
            kwargs["dsn"] = "postgresql://?" + urlencode(self.query)
        return kwargs


class PostgresTrackerStore:
    """Conversation events in PostgreSQL; see the module docstring for the design."""

    dialect = "postgresql"

    def __init__(self, settings: PostgresStoreSettings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._start_lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        return cls(PostgresStoreSettings.from_config(config))

    def __repr__(self) -> str:
        return f"PostgresTrackerStore({self.settings!r})"

    def __del__(self) -> None:
        if getattr(self, "_pool", None) is not None:
            warnings.warn(f"{self!r} was never stopped", ResourceWarning, stacklevel=1)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (creating the database if asked), migrate; bounded retries.

        Raises:
            StoreUnavailableError: the server stayed unreachable for every attempt.
            StoreError: anything else (bad credentials, missing database, ...): no retry.
        """
        async with self._start_lock:
            if self._pool is not None:
                return
            self._pool = await retry_unavailable(
                f"PostgreSQL tracker store at {self.settings.address}",
                self._connect,
                attempts=self.settings.connect_retries,
                delay=self.settings.retry_delay,
                log=logger,
            )

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(*_UNAVAILABLE):
                await asyncio.wait_for(pool.close(), timeout=self.settings.connect_timeout)
            pool.terminate()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _connect(self) -> asyncpg.Pool:
        with self._errors("connect", None):
            if self.settings.login_db:
                await self._create_database()
            pool = await asyncpg.create_pool(
                **self.settings.connect_kwargs(self.settings.db),
                min_size=self.settings.pool_min_size,
                max_size=self.settings.pool_max_size,
                command_timeout=self.settings.command_timeout,
                reset=_keep_session,
            )
        try:
            with self._errors("migrate", None):
                await self._migrate(pool)
        except BaseException:
            pool.terminate()
            raise
        return pool

    async def _create_database(self) -> None:
        login_db = self.settings.login_db or "postgres"
        conn = await asyncpg.connect(**self.settings.connect_kwargs(login_db))
        try:
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", self.settings.db
            )
            if not exists:
                # CREATE DATABASE takes no parameters: quote the identifier instead.
                with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # a replica won
                    await conn.execute(f"CREATE DATABASE {quote_ident(self.settings.db)}")
                logger.info("Created tracker store database %s", self.settings.address)
        finally:
            await conn.close()

    async def _migrate(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn, conn.transaction():
            # Replicas starting together wait here instead of racing on DDL.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
            await conn.execute(CREATE_VERSION_TABLE["postgresql"])
            current = await conn.fetchval(SELECT_VERSION)
            for migration in pending_migrations(current):
                for statement in migration.statements("postgresql"):
                    await conn.execute(statement)
                await conn.execute(
                    f"INSERT INTO {SCHEMA_VERSION_TABLE} (version, description) VALUES ($1, $2)",
                    migration.version, migration.description,
                )  # fmt: skip
                logger.info(
                    "Migrated tracker store %s to schema version %d (%s)",
                    self.settings.address, migration.version, migration.description,
                )  # fmt: skip

    # -- contract --------------------------------------------------------------------

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        pool = self._require_pool()
        with self._errors("load", sender_id):
            rows = await pool.fetch(LOAD_SQL["postgresql"], sender_id, full)
        if not rows:
            return None
        return StoredConversation(
            events=[decode_event(row[1]) for row in rows if row[1] is not None],
            total_events=rows[0][0],
        )

    async def version(self, sender_id: str) -> ConversationVersion | None:
        """Event count and fence of a conversation: one primary-key lookup."""
        pool = self._require_pool()
        with self._errors("version", sender_id):
            row = await pool.fetchrow(_SELECT_VERSION, sender_id)
        return None if row is None else ConversationVersion(row[0], row[1])

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
        pool = self._require_pool()
        offset = session_start_offset(encoded)
        with self._errors("append", sender_id):
            row = await pool.fetchrow(
                _APPEND_EXISTING if expected_total else _APPEND,
                sender_id,
                len(encoded),
                offset,
                fence,
                [e.type_name for e in encoded],
                [e.timestamp for e in encoded],
                [e.intent_name for e in encoded],
                [e.action_name for e in encoded],
                [e.text for e in encoded],
                expected_total,
            )
            if row is None or row[0] is None:
                stored = await pool.fetchrow(_SELECT_VERSION, sender_id)
                actual, stored_fence = (0, None) if stored is None else (stored[0], stored[1])
                raise refusal(sender_id, fence, stored_fence, expected_total, actual)
            if row[1] != len(encoded):  # cannot happen: the statement is atomic
                raise StoreError(
                    f"PostgreSQL tracker store stored {row[1]} of {len(encoded)} events "
                    f"for conversation '{sender_id}'."
                )

    async def keys(self) -> AsyncIterator[str]:
        pool = self._require_pool()
        after: str | None = None
        while True:
            with self._errors("keys", None):
                if after is None:
                    rows = await pool.fetch(KEYS_FIRST_SQL["postgresql"], KEYS_PAGE_SIZE)
                else:
                    rows = await pool.fetch(KEYS_NEXT_SQL["postgresql"], after, KEYS_PAGE_SIZE)
            for row in rows:
                yield row[0]
            if len(rows) < KEYS_PAGE_SIZE:
                return
            after = rows[-1][0]

    async def delete(self, sender_id: str) -> None:
        pool = self._require_pool()
        with self._errors("delete", sender_id):
            async with pool.acquire() as conn, conn.transaction():
                # The conversation row first: it waits for an in-flight append.
                await conn.execute(_DELETE_CONVERSATION, sender_id)
                await conn.execute(_DELETE_EVENTS, sender_id)

    # -- helpers -------------------------------------------------------------------

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("PostgreSQL tracker store is not started; call start() first.")
        return self._pool

    @contextlib.contextmanager
    def _errors(self, operation: str, sender_id: str | None) -> Iterator[None]:
        """Translate driver errors: connection-level -> StoreUnavailableError."""
        where = f" for conversation '{sender_id}'" if sender_id is not None else ""
        try:
            yield
        except StoreError:
            raise
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(
                f"PostgreSQL tracker store at {self.settings.address} unavailable during "
                f"{operation}{where}: {type(exc).__name__}: {exc}"
            ) from exc
        except asyncpg.InterfaceError as exc:
            pool = self._pool
            error: type[StoreError] = StoreError
            if pool is None or pool.is_closing():
                error = StoreUnavailableError
            raise error(f"PostgreSQL tracker store {operation}{where} failed: {exc}") from exc
        except (asyncpg.PostgresError, asyncpg.exceptions.InternalClientError) as exc:
            raise StoreError(
                f"PostgreSQL tracker store {operation}{where} at {self.settings.address} "
                f"failed: {type(exc).__name__}: {exc}"
            ) from exc
