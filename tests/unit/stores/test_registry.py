"""palaver.stores.create_tracker_store: the registry from endpoints.yml to a backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest

from palaver.errors import ConfigError
from palaver.stores import (
    TRACKER_STORES,
    FailSafeTrackerStore,
    InMemoryTrackerStore,
    StoredConversation,
    TrackerStore,
    create_tracker_store,
)
from palaver.stores.base import EventDict
from palaver.stores.dynamo import DynamoTrackerStore
from palaver.stores.mongo import MongoTrackerStore
from palaver.stores.redis import RedisTrackerStore
from palaver.stores.sql_postgres import PostgresTrackerStore
from palaver.stores.sql_sqlite import SqliteTrackerStore


class CustomStore:
    """A user store loaded by dotted path; built through ``from_config``."""

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CustomStore:
        return cls(greeting=str(config["greeting"]))

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        return None

    async def append(
        self,
        sender_id: str,
        events: Sequence[EventDict],
        *,
        fence: int | None = None,
        expected_total: int | None = None,
    ) -> None: ...

    async def keys(self) -> AsyncIterator[str]:
        nothing: tuple[str, ...] = ()
        for key in nothing:
            yield key

    async def delete(self, sender_id: str) -> None: ...


class NotAStore:
    def __init__(self, **config: Any) -> None:
        self.config = config


def test_no_section_means_in_memory() -> None:
    assert isinstance(create_tracker_store(None), InMemoryTrackerStore)


@pytest.mark.parametrize("type_name", ["memory", "in_memory", "In_Memory"])
def test_memory_names(type_name: str) -> None:
    assert isinstance(create_tracker_store({"type": type_name}), InMemoryTrackerStore)


def test_unknown_type_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        create_tracker_store({"type": "cassandra"})
    message = str(info.value)
    assert "'cassandra'" in message
    for name in ("dynamo", "in_memory", "memory", "mongo", "mongod", "redis", "sql"):
        assert name in message
    assert "dotted path" in message
    assert TRACKER_STORES.names == sorted(TRACKER_STORES.names)


def test_missing_type_is_an_error_not_a_silent_default() -> None:
    with pytest.raises(ConfigError, match=r"tracker_store\.type' is missing.*redis"):
        create_tracker_store({"url": "localhost"})


@pytest.mark.parametrize(
    ("config", "cls"),
    [
        (
            {"type": "sql", "dialect": "postgresql", "url": "db.internal", "db": "bot"},
            PostgresTrackerStore,
        ),
        ({"type": "SQL", "url": "postgresql://u:p@db:5433/bot"}, PostgresTrackerStore),
        ({"type": "sql", "dialect": "sqlite", "db": "bot.db"}, SqliteTrackerStore),
        ({"type": "sql"}, SqliteTrackerStore),  # Rasa's default dialect
        ({"type": "redis", "url": "localhost", "record_exp": 60}, RedisTrackerStore),
        ({"type": "mongod", "url": "mongodb://localhost:27017", "db": "bot"}, MongoTrackerStore),
        ({"type": "mongo", "url": "localhost"}, MongoTrackerStore),
        ({"type": "dynamo", "table_name": "t", "region": "eu-west-1"}, DynamoTrackerStore),
    ],
)
def test_builtin_types(config: dict[str, Any], cls: type) -> None:
    store = create_tracker_store(config)
    assert type(store) is cls
    assert isinstance(store, TrackerStore)


def test_unsupported_sql_dialect() -> None:
    with pytest.raises(ConfigError, match=r"dialect' has value 'mysql'.*postgresql, sqlite"):
        create_tracker_store({"type": "sql", "dialect": "mysql", "url": "db"})


def test_sql_server_settings_without_dialect_are_not_silently_sqlite() -> None:
    with pytest.raises(ConfigError, match="dialect"):
        create_tracker_store({"type": "sql", "url": "db.internal", "username": "bot"})


def test_unknown_key_is_reported_with_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) pasword.*password"):
        create_tracker_store({"type": "redis", "url": "localhost", "pasword": "x"})


def test_invalid_value_names_key_and_value() -> None:
    with pytest.raises(
        ConfigError, match=r"tracker_store\.port' has value 'abc'\. Not a valid int"
    ):
        create_tracker_store({"type": "redis", "url": "localhost", "port": "abc"})


def test_dotted_custom_class_is_loaded_and_checked() -> None:
    store = create_tracker_store(
        {"type": "tests.unit.stores.test_registry.CustomStore", "greeting": "hi"}
    )
    assert isinstance(store, CustomStore)
    assert store.greeting == "hi"


def test_dotted_class_that_is_not_a_store_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not implement the tracker store interface"):
        create_tracker_store({"type": "tests.unit.stores.test_registry.NotAStore"})


def test_dotted_path_that_does_not_import() -> None:
    with pytest.raises(ConfigError, match="Cannot import module"):
        create_tracker_store({"type": "tests.unit.stores.nope.Store"})


def test_failsafe_wrapper_satisfies_the_protocol() -> None:
    assert isinstance(FailSafeTrackerStore(InMemoryTrackerStore()), TrackerStore)
