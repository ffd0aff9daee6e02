"""The REST channel end to end, through a real ``palaver run`` process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytestmark = pytest.mark.slow


async def post(session: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, bytes | str) else None
    kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
    async with session.post(url + "/webhooks/rest/webhook", **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


async def say(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> list[str]:
    status, body = await post(session, url, {"sender": sender, "message": text})
    assert status == 200, body
    return [m.get("text") or m.get("image") for m in body]


@pytest.fixture(scope="module")
def moodbot_server(start_module_server: Any, moodbot_model: Path) -> Any:
    return start_module_server(["-m", str(moodbot_model)], ready_path="/ready")


async def test_happy_and_sad_paths(moodbot_server: Any) -> None:
    url = moodbot_server.url
    async with aiohttp.ClientSession() as s:
        assert await say(s, url, "alice", "hello") == ["Hey! How are you?"]
        assert await say(s, url, "alice", "I am great") == ["Great, carry on!"]
        assert await say(s, url, "bob", "hi") == ["Hey! How are you?"]
        assert await say(s, url, "bob", "I am sad") == [
            "Here is something to cheer you up:",
            "https://i.imgur.com/nGF1K8f.jpg",
            "Did that help you?",
        ]
        assert await say(s, url, "bob", "yes") == ["Great, carry on!"]
        assert await say(s, url, "carol", "are you a bot?") == ["I am a bot, powered by Palaver."]


async def test_response_shape_matches_rasa(moodbot_server: Any) -> None:
    async with aiohttp.ClientSession() as s:
        status, body = await post(s, moodbot_server.url, {"sender": "dave", "message": "hi"})
    assert status == 200
    assert body == [{"recipient_id": "dave", "text": "Hey! How are you?"}]


async def test_health_and_info_routes(moodbot_server: Any) -> None:
    url = moodbot_server.url
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/webhooks/rest/") as r:
            assert r.status == 200 and await r.json() == {"status": "ok"}
        async with s.get(url + "/") as r:
            assert r.status == 200 and "Palaver" in await r.text()
        async with s.get(url + "/version") as r:
            assert "version" in await r.json()
        async with s.get(url + "/status") as r:
            status = await r.json()
            assert status["ready"] is True and status["model_id"]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"[1, 2]", 400, "JSON object"),
        ({"message": "hi"}, 400, "'sender'"),
        ({"sender": "x"}, 400, "'message'"),
        ({"sender": "x", "message": 42}, 400, "'message' must be a string"),
        ({"sender": "x", "message": None}, 400, "'message'"),
        ({"sender": ["x"], "message": "hi"}, 400, "'sender'"),
        ({"sender": "x", "message": "hi", "metadata": "nope"}, 400, "'metadata'"),
        ({"sender": "x", "message": "a" * 30_000}, 413, "characters"),
        ({"sender": "x", "message": "a" * (1024 * 1024)}, 413, "too large"),
    ],
)
async def test_bad_input_gets_clear_4xx(
    moodbot_server: Any, body: Any, status: int, needle: str
) -> None:
    url = moodbot_server.url
    async with aiohttp.ClientSession() as s:
        # a conversation exists before the bad request...
        assert await say(s, url, "victim", "hello") == ["Hey! How are you?"]
        got_status, got = await post(s, url, body)
        assert got_status == status
        assert got["status"] == "failure" and got["code"] == status
        assert needle in got["message"]
        # ...and the server keeps serving it, with nothing lost
        assert await say(s, url, "victim", "I am great") == ["Great, carry on!"]


async def test_concurrent_conversations(moodbot_server: Any) -> None:
    url = moodbot_server.url
    async with aiohttp.ClientSession() as s:
        replies = await asyncio.gather(*(say(s, url, f"user-{i}", "hello") for i in range(50)))
    assert all(r == ["Hey! How are you?"] for r in replies)


async def test_cors_headers_for_allowed_origins(start_server: Any, moodbot_model: Path) -> None:
    server = start_server(
        ["-m", str(moodbot_model), "--cors", "https://chat.example"], ready_path="/ready"
    )
    url = server.url + "/webhooks/rest/webhook"
    async with aiohttp.ClientSession() as s:
        preflight = {
            "Origin": "https://chat.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        async with s.options(url, headers=preflight) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == "https://chat.example"
            assert "POST" in r.headers["Access-Control-Allow-Methods"]
        async with s.post(
            url, json={"sender": "c", "message": "hi"}, headers={"Origin": "https://chat.example"}
        ) as r:
            assert r.status == 200
            assert r.headers["Access-Control-Allow-Origin"] == "https://chat.example"
        async with s.post(
            url, json={"sender": "c", "message": "hi"}, headers={"Origin": "https://evil.example"}
        ) as r:
            assert "Access-Control-Allow-Origin" not in r.headers


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_event_loop_flag_selects_the_loop(
    start_server: Any, moodbot_model: Path, loop: str
) -> None:
    args = ["-m", str(moodbot_model)] + ([] if loop == "asyncio" else ["--event-loop", loop])
    # The environment variable Sanic reads must not override the flag.
    server = start_server(args, ready_path="/ready", env={"SANIC_USE_UVLOOP": "true"})
    async with aiohttp.ClientSession() as s:
        assert await say(s, server.url, "loop-user", "hello") == ["Hey! How are you?"]
    assert f"serving on the {loop} event loop" in server.log.read_text()
