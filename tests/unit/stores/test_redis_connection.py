"""The Redis tracker store's hot path: one multiplexed connection, scripts reloaded."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from palaver.stores.redis import RedisStoreSettings, RedisTrackerStore
from tests.services import PrivateRedis

pytestmark = pytest.mark.redis


async def test_concurrent_conversations_share_one_connection(private_redis: PrivateRedis) -> None:
    raw = Redis.from_url(private_redis.url)
    store = RedisTrackerStore(RedisStoreSettings.from_config({"url": private_redis.url}))
    try:
        async with store:

            async def turn(i: int) -> int:
                sender = f"sender-{i}"
                await store.append(sender, [{"event": "user", "text": f"hi {i}"}])
                await store.append(sender, [{"event": "bot", "text": "hey"}], expected_total=1)
                loaded = await store.load(sender)
                assert loaded is not None
                return loaded.total_events

            assert await asyncio.gather(*(turn(i) for i in range(200))) == [2] * 200
            # the multiplexed connection, start()'s pooled one, ours
            assert len(await raw.client_list()) <= 3
    finally:
        await raw.aclose()


async def test_scripts_flushed_from_redis_are_loaded_again(private_redis: PrivateRedis) -> None:
    raw = Redis.from_url(private_redis.url)
    try:
        async with RedisTrackerStore(
            RedisStoreSettings.from_config({"url": private_redis.url})
        ) as store:
            await store.append("a", [{"event": "user", "text": "one"}])
            await raw.script_flush()
            await store.append("a", [{"event": "user", "text": "two"}], expected_total=1)
            await raw.script_flush()
            loaded = await store.load("a")
            assert loaded is not None
            assert [e["text"] for e in loaded.events] == ["one", "two"]
    finally:
        await raw.aclose()
