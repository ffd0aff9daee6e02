"""Schema and migrations shared by the PostgreSQL and SQLite tracker stores.

Layout (version 1):

* ``palaver_events``: append-only, one row per event. ``id`` is a global
  surrogate key; ``seq`` is the event's position in its conversation (0-based)
  and ``(sender_id, seq)`` is unique, so loading a session is one range scan
  of that index.
* ``palaver_conversations``: one small row per conversation holding
  ``total_events`` (the next ``seq``), ``session_start`` (``seq`` of the latest
  ``session_started`` event, 0 when there is none) and ``fence`` (highest
  fencing token accepted). Appends lock this row, which serialises writers of
  one conversation and makes the fence check and the ``seq`` allocation atomic.
* ``palaver_schema_version``: one row per applied migration.

Tables carry a ``palaver_`` prefix so they never collide with a Rasa
``events`` table in the same database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from palaver.errors import ConfigError, StoreError

Dialect = Literal["postgresql", "sqlite"]

SCHEMA_VERSION_TABLE = "palaver_schema_version"
CONVERSATIONS_TABLE = "palaver_conversations"
EVENTS_TABLE = "palaver_events"

# Any constant works; it only has to be the same in every Palaver process.
MIGRATION_LOCK_KEY = 0x70616C6176657231  # "palaver1"


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step; statements run in one transaction with the version row."""

    version: int
    description: str
    postgresql: tuple[str, ...]
    sqlite: tuple[str, ...]

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        return self.postgresql if dialect == "postgresql" else self.sqlite


CREATE_VERSION_TABLE: dict[Dialect, str] = {
    "postgresql": (
        f"CREATE TABLE IF NOT EXISTS {SCHEMA_VERSION_TABLE} ("
        " version integer PRIMARY KEY,"
        " description text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    ),
    "sqlite": (
        f"CREATE TABLE IF NOT EXISTS {SCHEMA_VERSION_TABLE} ("
        " version INTEGER PRIMARY KEY,"
        " description TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    ),
}

SELECT_VERSION = f"SELECT COALESCE(MAX(version), 0) FROM {SCHEMA_VERSION_TABLE}"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        description="events and conversations tables",
        postgresql=(
            f"CREATE TABLE {CONVERSATIONS_TABLE} ("
            " sender_id text PRIMARY KEY,"
            " total_events bigint NOT NULL,"
            " session_start bigint NOT NULL DEFAULT 0,"
            " fence bigint)",
            f"CREATE TABLE {EVENTS_TABLE} ("
            " id bigserial PRIMARY KEY,"
            " sender_id text NOT NULL,"
            " seq bigint NOT NULL,"
            " type_name text NOT NULL,"
            " timestamp double precision,"
            " intent_name text,"
            " action_name text,"
            # json, not jsonb: keeps the exact text written and accepts \u0000.
            " data json NOT NULL)",
            f"CREATE UNIQUE INDEX {EVENTS_TABLE}_sender_seq ON {EVENTS_TABLE} (sender_id, seq)",
        ),
        sqlite=(
            f"CREATE TABLE {CONVERSATIONS_TABLE} ("
            " sender_id TEXT PRIMARY KEY,"
            " total_events INTEGER NOT NULL,"
            " session_start INTEGER NOT NULL DEFAULT 0,"
            " fence INTEGER)",
            f"CREATE TABLE {EVENTS_TABLE} ("
            " id INTEGER PRIMARY KEY,"
            " sender_id TEXT NOT NULL,"
            " seq INTEGER NOT NULL,"
            " type_name TEXT NOT NULL,"
            " timestamp REAL,"
            " intent_name TEXT,"
            " action_name TEXT,"
            " data TEXT NOT NULL)",
            f"CREATE UNIQUE INDEX {EVENTS_TABLE}_sender_seq ON {EVENTS_TABLE} (sender_id, seq)",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def pending_migrations(current: int) -> list[Migration]:
    """Migrations to apply on a database at schema ``current``.

    Raises:
        StoreError: the database was migrated by a newer Palaver.
    """
    if current > LATEST_VERSION:
        raise StoreError(
            f"The tracker store database has schema version {current}, newer than "
            f"the {LATEST_VERSION} this Palaver supports; upgrade Palaver."
        )
    return [migration for migration in MIGRATIONS if migration.version > current]


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (for statements that cannot take parameters).

    Raises:
        ConfigError: the name is empty or contains a NUL character.
    """
    if not name or "\x00" in name:
        raise ConfigError(f"'{name}' is not a valid SQL identifier.")
    return '"' + name.replace('"', '""') + '"'


# Both dialects accept the same text for these (``$n`` vs ``?`` aside, see below).
_LOAD = (
    "SELECT c.total_events, e.data"
    f" FROM {CONVERSATIONS_TABLE} AS c"
    f" LEFT JOIN {EVENTS_TABLE} AS e"
    " ON e.sender_id = c.sender_id"
    " AND e.seq >= (CASE WHEN {full} THEN 0 ELSE c.session_start END)"
    " WHERE c.sender_id = {sender}"
    " ORDER BY e.seq"
)

LOAD_SQL: dict[Dialect, str] = {
    "postgresql": _LOAD.format(full="$2::boolean", sender="$1"),
    "sqlite": _LOAD.format(full=":full", sender=":sender"),
}

# Keyset pagination: no connection or cursor is held while the caller consumes ids.
_KEYS = (
    f"SELECT sender_id FROM {CONVERSATIONS_TABLE}"
    " WHERE sender_id > {after} ORDER BY sender_id LIMIT {limit}"
)
_KEYS_FIRST = f"SELECT sender_id FROM {CONVERSATIONS_TABLE} ORDER BY sender_id LIMIT {{limit}}"

KEYS_FIRST_SQL: dict[Dialect, str] = {
    "postgresql": _KEYS_FIRST.format(limit="$1"),
    "sqlite": _KEYS_FIRST.format(limit="?"),
}
KEYS_NEXT_SQL: dict[Dialect, str] = {
    "postgresql": _KEYS.format(after="$1", limit="$2"),
    "sqlite": _KEYS.format(after="?", limit="?"),
}

KEYS_PAGE_SIZE = 500
