"""Connection-level failures become StoreUnavailableError after bounded, logged retries;
misconfiguration is a plain StoreError at once (the fail-safe wrapper must not hide it)."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest

from palaver.errors import StoreError, StoreUnavailableError
from palaver.stores.dynamo import DynamoStoreSettings, DynamoTrackerStore
from palaver.stores.mongo import MongoStoreSettings, MongoTrackerStore
from palaver.stores.redis import RedisStoreSettings, RedisTrackerStore
from palaver.stores.sql_postgres import PostgresStoreSettings, PostgresTrackerStore
from palaver.stores.sql_sqlite import SqliteStoreSettings, SqliteTrackerStore
from tests import services

RETRY = {"connect_retries": 3, "retry_delay": 0.01}


def retry_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def test_postgres_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    port = services.free_port()
    store = PostgresTrackerStore(
        PostgresStoreSettings.from_config(
            {"url": f"postgresql://u:secret@127.0.0.1:{port}/x", **RETRY}
        )
    )
    with pytest.raises(StoreUnavailableError, match="unreachable after 3 attempts") as info:
        await store.start()
    assert info.value.__cause__ is not None
    lines = retry_warnings(caplog)
    assert len(lines) == 2 and "attempt 1/3" in lines[0]
    assert not any("secret" in line for line in lines)


@pytest.mark.postgres
async def test_postgres_missing_database_is_not_an_outage(
    postgres_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = postgres_server.rsplit("/", 1)[0] + f"/missing_{uuid.uuid4().hex[:8]}"
    store = PostgresTrackerStore(PostgresStoreSettings.from_config({"url": dsn, **RETRY}))
    with pytest.raises(StoreError, match="InvalidCatalogNameError") as info:
        await store.start()
    assert not isinstance(info.value, StoreUnavailableError)
    assert retry_warnings(caplog) == []


async def test_redis_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    port = services.free_port()
    store = RedisTrackerStore(
        RedisStoreSettings.from_config({"url": f"redis://127.0.0.1:{port}", **RETRY})
    )
    with pytest.raises(StoreUnavailableError, match="unreachable after 3 attempts"):
        await store.start()
    assert len(retry_warnings(caplog)) == 2


async def test_redis_wrong_password_is_not_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    server = services.PrivateRedis()
    server.args += ["--requirepass", "right-password"]
    with server:
        store = RedisTrackerStore(
            RedisStoreSettings.from_config({"url": server.url, "password": "wrong", **RETRY})
        )
        with pytest.raises(StoreError, match="check username/password") as info:
            await store.start()
        assert not isinstance(info.value, StoreUnavailableError)
        assert retry_warnings(caplog) == []

        good = RedisTrackerStore(
            RedisStoreSettings.from_config({"url": server.url, "password": "right-password"})
        )
        async with good:
            await good.append("x", [{"event": "user"}])


async def test_mongo_unreachable() -> None:
    port = services.free_port()
    store = MongoTrackerStore(
        MongoStoreSettings.from_config(
            {"url": f"mongodb://127.0.0.1:{port}", "server_selection_timeout": 0.2, **RETRY}
        )
    )
    with pytest.raises(StoreUnavailableError, match="unreachable after 3 attempts"):
        await store.start()


async def test_dynamo_unreachable() -> None:
    port = services.free_port()
    store = DynamoTrackerStore(
        DynamoStoreSettings.from_config(
            {
                "endpoint_url": f"http://127.0.0.1:{port}",
                "aws_access_key_id": "x",
                "aws_secret_access_key": "y",
                "connect_timeout": 0.5,
                **RETRY,
            }
        )
    )
    with pytest.raises(StoreUnavailableError, match="unreachable after 3 attempts"):
        await store.start()


async def test_dynamo_foreign_table_is_refused(moto_server: services.MotoServer) -> None:
    import aioboto3

    table = f"rasa_states_{uuid.uuid4().hex[:8]}"
    session = aioboto3.Session(
        aws_access_key_id="x", aws_secret_access_key="y", region_name="us-east-1"
    )
    async with session.client("dynamodb", endpoint_url=moto_server.url) as client:
        await client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "sender_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "sender_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    store = DynamoTrackerStore(
        DynamoStoreSettings.from_config(
            {
                "table_name": table,
                "endpoint_url": moto_server.url,
                "aws_access_key_id": "x",
                "aws_secret_access_key": "y",
            }
        )
    )
    with pytest.raises(StoreError, match="key schema") as info:
        await store.start()
    assert not isinstance(info.value, StoreUnavailableError)


async def test_sqlite_bad_path_is_not_an_outage(tmp_path: Path) -> None:
    store = SqliteTrackerStore(SqliteStoreSettings(path=str(tmp_path / "missing" / "t.db")))
    with pytest.raises(StoreError, match="unable to open") as info:
        await store.start()
    assert not isinstance(info.value, StoreUnavailableError)
