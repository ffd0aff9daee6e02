"""Settings classes: DSN parsing, endpoints.yml keys, masked secrets, exact errors."""

from __future__ import annotations

import dataclasses

import pytest

from palaver.errors import ConfigError
from palaver.stores.dynamo import DynamoStoreSettings
from palaver.stores.memory import MemoryStoreSettings
from palaver.stores.mongo import MongoStoreSettings
from palaver.stores.redis import RedisStoreSettings
from palaver.stores.sql_postgres import PostgresStoreSettings
from palaver.stores.sql_sqlite import SqliteStoreSettings


def test_postgres_from_dsn() -> None:
    settings = PostgresStoreSettings.from_dsn(
        "postgresql://bot%40corp:s%3Acret@db.internal:5433/tracker?sslmode=require"
    )
    assert settings.host == "db.internal"
    assert settings.port == 5433
    assert settings.db == "tracker"
    assert settings.username == "bot@corp"
    assert settings.password == "s:cret"
    assert dict(settings.query) == {"sslmode": "require"}


def test_postgres_from_rasa_style_config() -> None:
    settings = PostgresStoreSettings.from_config(
        {
            "dialect": "postgresql",
            "url": "db.internal",
            "port": "5433",
            "db": "rasa",
            "username": "bot",
            "password": "hunter2",
            "login_db": "postgres",
            "query": {"sslmode": "disable"},
        }
    )
    assert (settings.host, settings.port, settings.db) == ("db.internal", 5433, "rasa")
    assert settings.login_db == "postgres"
    assert dict(settings.query) == {"sslmode": "disable"}
    kwargs = settings.connect_kwargs("rasa")
    assert kwargs["password"] == "hunter2"
    assert kwargs["dsn"] == "postgresql://?sslmode=disable"


def test_postgres_explicit_keys_override_the_dsn() -> None:
    settings = PostgresStoreSettings.from_config(
        {"url": "postgresql://a:b@h:1/x?sslmode=require", "db": "y", "query": {"x": "1"}}
    )
    assert (settings.host, settings.port, settings.db, settings.username) == ("h", 1, "y", "a")
    assert dict(settings.query) == {"sslmode": "require", "x": "1"}


def test_postgres_repr_masks_secrets() -> None:
    settings = PostgresStoreSettings.from_config(
        {"url": "postgresql://bot:hunter2@db/x", "query": {"sslpassword": "key-secret"}}
    )
    for text in (repr(settings), str(settings)):
        assert "hunter2" not in text
        assert "key-secret" not in text
        assert "password='***'" in text


def test_postgres_bad_values() -> None:
    with pytest.raises(ConfigError, match="Not a PostgreSQL DSN"):
        PostgresStoreSettings.from_dsn("mysql://db/x")
    with pytest.raises(ConfigError, match="pool_min_size"):
        PostgresStoreSettings.from_config({"pool_min_size": 5, "pool_max_size": 2})
    with pytest.raises(ConfigError, match=r"'tracker_store\.password' has value '\*\*\*'"):
        PostgresStoreSettings.from_config({"password": ["not", "a", "string"]})


def test_settings_are_frozen() -> None:
    settings = RedisStoreSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.host = "elsewhere"  # type: ignore[misc]


def test_redis_from_dsn() -> None:
    settings = RedisStoreSettings.from_dsn("rediss://user:pw@cache:6380/3")
    assert (settings.host, settings.port, settings.db) == ("cache", 6380, 3)
    assert (settings.username, settings.password, settings.use_ssl) == ("user", "pw", True)
    with pytest.raises(ConfigError, match="invalid port or db 'x'"):
        RedisStoreSettings.from_dsn("redis://cache/x")


def test_redis_from_rasa_style_config() -> None:
    settings = RedisStoreSettings.from_config(
        {
            "url": "cache",
            "port": 6380,
            "db": 2,
            "password": "pw",
            "use_ssl": "true",
            "key_prefix": "bot",
            "record_exp": 3600,
        }
    )
    assert settings.key_prefix == "bot:"
    assert settings.record_exp == 3600
    assert settings.use_ssl is True
    assert "pw" not in repr(settings)
    assert RedisStoreSettings.from_config({"record_exp": 0}).record_exp is None
    with pytest.raises(ConfigError, match=r"use_ssl' has value 'maybe'\. Not a valid boolean"):
        RedisStoreSettings.from_config({"use_ssl": "maybe"})
    with pytest.raises(ConfigError, match=r"record_exp' has value '-1'"):
        RedisStoreSettings.from_config({"record_exp": -1})


def test_mongo_settings_mask_uri_credentials() -> None:
    settings = MongoStoreSettings.from_config(
        {"url": "mongodb://bot:hunter2@m1,m2/?replicaSet=rs", "db": "bot", "password": "x2"}
    )
    text = repr(settings)
    assert "hunter2" not in text and "x2'" not in text
    assert "bot:***@m1,m2" in text
    assert (
        MongoStoreSettings.from_config({"url": "mongo.internal"}).url == "mongodb://mongo.internal"
    )
    with pytest.raises(ConfigError, match="collection"):
        MongoStoreSettings.from_config({"collection": "$bad"})


def test_dynamo_settings() -> None:
    settings = DynamoStoreSettings.from_config(
        {"table_name": "t", "region": "eu-west-1", "aws_secret_access_key": "shh"}
    )
    assert (settings.table_name, settings.region) == ("t", "eu-west-1")
    assert "shh" not in repr(settings)
    assert DynamoStoreSettings.from_dsn("dynamodb://eu-west-1/t") == DynamoStoreSettings(
        table_name="t", region="eu-west-1"
    )
    with pytest.raises(ConfigError):
        DynamoStoreSettings.from_dsn("dynamodb://eu-west-1")


def test_sqlite_settings() -> None:
    assert SqliteStoreSettings.from_config({"dialect": "sqlite", "db": "bot.db"}).path == "bot.db"
    assert SqliteStoreSettings.from_dsn("sqlite:///rel.db").path == "rel.db"
    assert SqliteStoreSettings.from_dsn("sqlite:////abs/x.db").path == "/abs/x.db"
    with pytest.raises(ConfigError, match="unknown key"):
        SqliteStoreSettings.from_config({"dialect": "sqlite", "username": "x"})


def test_memory_settings() -> None:
    assert MemoryStoreSettings.from_dsn("memory://") == MemoryStoreSettings()
    with pytest.raises(ConfigError):
        MemoryStoreSettings.from_config({"url": "x"})
