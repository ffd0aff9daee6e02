"""A server on each persistent store: restarts keep conversations; outages fail safe."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from palaver.config import EndpointsConfig
from palaver.stores import create_tracker_store
from tests import services

pytestmark = pytest.mark.slow


async def say(url: str, sender: str, text: str) -> list[str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
        return [m.get("text", "") for m in await resp.json()]


@pytest.fixture
def store_endpoints(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """endpoints.yml for the store named by the (indirect) parameter."""
    path = tmp_path / "endpoints.yml"
    path.write_text(_store_config(request.param, request, tmp_path))
    return path


def _store_config(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "postgres":
        dsn = request.getfixturevalue("postgres_db")
        return f"tracker_store:\n  type: sql\n  dialect: postgresql\n  url: {dsn}\n"
    if kind == "sqlite":
        return f"tracker_store:\n  type: sql\n  dialect: sqlite\n  db: {tmp_path / 'c.db'}\n"
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        return f'tracker_store:\n  type: redis\n  url: {url}\n  key_prefix: "{prefix}"\n'
    moto = request.getfixturevalue("moto_server")
    return (
        "tracker_store:\n  type: dynamo\n  table_name: palaver_restart_test\n"
        f"  region: us-east-1\n  endpoint_url: {moto.url}\n"
        "  aws_access_key_id: test\n  aws_secret_access_key: test\n"
    )


@pytest.mark.parametrize(
    "store_endpoints", ["postgres", "sqlite", "redis", "dynamo"], indirect=True
)
async def test_restart_mid_form_continues_where_it_was(
    store_endpoints: Path, start_server: Any, formbot_model: Path
) -> None:
    endpoints = store_endpoints
    args = ["-m", str(formbot_model), "--endpoints", str(endpoints)]
    server = start_server(args, ready_path="/ready")
    assert await say(server.url, "guest", "book a table") == ["What cuisine would you like?"]
    assert await say(server.url, "guest", "italian") == ["For how many people?"]
    server.stop()

    server = start_server(args, ready_path="/ready")
    # same form, same requested slot, same session: the next answer fills num_people
    assert await say(server.url, "guest", "4 people") == ["What price range?"]
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/status") as resp:
        status = await resp.json()
    assert status["tracker_store"].get("mode", "primary") == "primary"

    store = create_tracker_store(EndpointsConfig.load(endpoints).tracker_store)
    async with store:
        stored = await store.load("guest", full=True)
    assert stored is not None
    assert sum(e["event"] == "session_started" for e in stored.events) == 1
    assert [e["text"] for e in stored.events if e["event"] == "user"] == [
        "book a table",
        "italian",
        "4 people",
    ]


async def test_redis_outage_is_served_from_the_fallback_and_recovers(
    tmp_path: Path, start_server: Any, moodbot_model: Path
) -> None:
    redis = services.PrivateRedis()
    redis.start()
    try:
        endpoints = tmp_path / "endpoints.yml"
        endpoints.write_text(f"tracker_store:\n  type: redis\n  url: {redis.url}\n")
        server = start_server(
            ["-m", str(moodbot_model), "--endpoints", str(endpoints)], ready_path="/ready"
        )
        assert await say(server.url, "o", "hello") == ["Hey! How are you?"]

        redis.stop()
        # Every request is answered while Redis is down...
        for i in range(5):
            assert await say(server.url, f"down-{i}", "hello") == ["Hey! How are you?"]
        async with aiohttp.ClientSession() as s, s.get(f"{server.url}/status") as resp:
            assert (await resp.json())["tracker_store"]["mode"] == "fallback"

        redis.start()  # same port
        # ...and once it is back, the server returns to it by itself.
        store = create_tracker_store({"type": "redis", "url": redis.url})
        async with store:
            for _ in range(100):
                async with aiohttp.ClientSession() as s, s.get(f"{server.url}/status") as resp:
                    if (await resp.json())["tracker_store"]["mode"] == "primary":
                        break
                await asyncio.sleep(0.2)
            assert await say(server.url, "after", "hello") == ["Hey! How are you?"]
            after = await store.load("after")
            assert after is not None
            # the turns served during the outage were replayed into Redis
            for i in range(5):
                down = await store.load(f"down-{i}", full=True)
                assert down is not None
                assert [e["text"] for e in down.events if e["event"] == "user"] == ["hello"]
    finally:
        redis.stop()
