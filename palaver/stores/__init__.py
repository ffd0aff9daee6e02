"""Tracker stores: the registry from ``endpoints.yml`` ``tracker_store`` to a backend.

Backends import their driver only when chosen, so each stays an optional extra
(``palaver[postgres]``, ``palaver[redis]``, ...). Wrapping a store in
``FailSafeTrackerStore`` is the server's decision, not the registry's.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from palaver.errors import ConfigError
from palaver.registry import Registry
from palaver.stores.base import EventDict, StoredConversation, TrackerStore
from palaver.stores.failsafe import FailSafeTrackerStore
from palaver.stores.memory import InMemoryTrackerStore

__all__ = [
    "TRACKER_STORES",
    "EventDict",
    "FailSafeTrackerStore",
    "InMemoryTrackerStore",
    "StoredConversation",
    "TrackerStore",
    "create_tracker_store",
]

_POSTGRES_DIALECTS = {"postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg2"}
_SQLITE_DIALECTS = {"sqlite", "sqlite+aiosqlite"}
_SERVER_KEYS = ("url", "host", "port", "username", "password", "login_db")


def _backend(module: str, cls: str, extra: str) -> Any:
    """Import a backend class; a missing driver names the extra to install."""
    try:
        return getattr(importlib.import_module(f"palaver.stores.{module}"), cls)
    except ImportError as exc:
        raise ConfigError(
            f"The {module} tracker store needs a driver that is not installed ({exc.name}): "
            f"pip install 'palaver[{extra}]'"
        ) from exc


def _memory(config: Mapping[str, Any]) -> TrackerStore:
    return InMemoryTrackerStore.from_config(config)


def _sql_dialect(config: Mapping[str, Any]) -> str:
    dialect = config.get("dialect")
    if dialect is not None:
        return str(dialect).lower()
    url = str(config.get("url") or "")
    if "://" in url:
        return url.split("://", 1)[0].lower()
    if any(config.get(key) is not None for key in _SERVER_KEYS):
        # Rasa would quietly fall back to SQLite here and ignore the server.
        raise ConfigError(
            "Config 'tracker_store.dialect' is missing but server settings are given; "
            "set dialect: postgresql (or sqlite)."
        )
    return "sqlite"


def _sql(config: Mapping[str, Any]) -> TrackerStore:
    dialect = _sql_dialect(config)
    if dialect in _POSTGRES_DIALECTS:
        store: TrackerStore = _backend(
            "sql_postgres", "PostgresTrackerStore", "postgres"
        ).from_config(config)
        return store
    if dialect in _SQLITE_DIALECTS:
        store = _backend("sql_sqlite", "SqliteTrackerStore", "sqlite").from_config(config)
        return store
    raise ConfigError(
        f"Config 'tracker_store.dialect' has value '{dialect}'. "
        "Not a supported SQL dialect (postgresql, sqlite)."
    )


def _redis(config: Mapping[str, Any]) -> TrackerStore:
    store: TrackerStore = _backend("redis", "RedisTrackerStore", "redis").from_config(config)
    return store


def _mongo(config: Mapping[str, Any]) -> TrackerStore:
    store: TrackerStore = _backend("mongo", "MongoTrackerStore", "mongo").from_config(config)
    return store


def _dynamo(config: Mapping[str, Any]) -> TrackerStore:
    store: TrackerStore = _backend("dynamo", "DynamoTrackerStore", "aws").from_config(config)
    return store


def _is_tracker_store(candidate: object) -> bool:
    """The Protocol check, plus the one keyword a class written for an older Palaver lacks.

    Raises:
        ConfigError: ``append`` does not take ``expected_total``.
    """
    if not isinstance(candidate, TrackerStore):
        return False
    try:
        parameters = inspect.signature(candidate.append).parameters
    except (TypeError, ValueError):  # no signature to read (a C callable): trust it
        return True
    takes_keywords = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    if "expected_total" not in parameters and not takes_keywords:
        raise ConfigError(
            f"Custom tracker store {type(candidate).__module__}.{type(candidate).__qualname__}: "
            "append() must accept the keyword argument expected_total (the event count "
            "the processor loaded; refuse the append with "
            "palaver.errors.ConversationChangedError when the conversation has another "
            "count). See palaver.stores.base.TrackerStore.append."
        )
    return True


TRACKER_STORES: Registry[TrackerStore] = Registry(
    "tracker store",
    {
        "memory": _memory,
        "in_memory": _memory,
        "sql": _sql,
        "redis": _redis,
        "mongod": _mongo,
        "mongo": _mongo,
        "dynamo": _dynamo,
    },
    check=_is_tracker_store,
)


def create_tracker_store(config: Mapping[str, Any] | None) -> TrackerStore:
    """Build the tracker store an ``endpoints.yml`` ``tracker_store`` section describes.

    Args:
        config: the section (with ``type``), or ``None`` when there is none,
            which means the in-memory store.

    Raises:
        ConfigError: missing or unknown ``type`` (the message lists the valid
            ones), unknown or invalid keys, a missing driver, or a custom class
            that does not implement ``TrackerStore``.
    """
    if config is None:
        return InMemoryTrackerStore()
    type_name = config.get("type")
    if not isinstance(type_name, str) or not type_name.strip():
        raise ConfigError(
            f"Config 'tracker_store.type' is missing. Valid types: "
            f"{', '.join(TRACKER_STORES.names)}, or a dotted path to a custom class."
        )
    options = {key: value for key, value in config.items() if key != "type"}
    return TRACKER_STORES.create(type_name.strip(), options)
