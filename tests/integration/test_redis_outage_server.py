"""A ``palaver run`` on Redis (lock and tracker store) while its Redis stops and restarts.

The Redis is a private one on a free port; the machine's shared Redis is never touched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.services import PrivateRedis

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(90)]


async def post(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> Any:
    body = {"sender": sender, "message": text}
    async with session.post(url + "/webhooks/rest/webhook", json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_lock_store_outage_is_a_503_and_the_next_message_after_it_works(
    start_server: Any, moodbot_model: Path, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        f"tracker_store:\n  type: redis\n  url: {private_redis.url}\n"
        f"lock_store:\n  type: redis\n  url: {private_redis.url}\n  socket_timeout: 2\n"
    )
    server = start_server(["-m", str(moodbot_model), "--endpoints", str(endpoints)], "/ready")
    async with aiohttp.ClientSession() as s:
        status, body = await post(s, server.url, "before", "hello")
        assert status == 200, body

        await asyncio.to_thread(private_redis.stop)
        status, body = await post(s, server.url, "before", "I am sad")
        assert status == 503, body
        assert body["reason"] == "LockStoreUnavailable"
        assert "conversation 'before'" in body["message"]

        await asyncio.to_thread(private_redis.start)  # same port, empty (no persistence)
        status, body = await post(s, server.url, "after", "hello")
        assert status == 200, body
        assert [m["text"] for m in body] == ["Hey! How are you?"]
        status, body = await post(s, server.url, "after", "I am great")
        assert status == 200, body
        assert [m["text"] for m in body] == ["Great, carry on!"]
        # A conversation this server has cached from before the outage: its version
        # is read from the restarted Redis (which lost it), not from a dead connection.
        status, body = await post(s, server.url, "before", "hello")
        assert status == 200, body
    # The restarted Redis holds the new conversation: the per-turn commands went
    # to it, not to the tracker store's in-memory fallback.
    from redis.asyncio import Redis

    raw = Redis.from_url(private_redis.url)
    try:
        assert await raw.llen("palaver:events:after") > 0
    finally:
        await raw.aclose()
    log = server.log.read_text()
    assert "in-memory fallback" not in log, log[-2000:]
