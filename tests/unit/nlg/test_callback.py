from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from palaver.actions.endpoint import HttpClient
from palaver.core.domain import Domain
from palaver.core.events import SlotSet
from palaver.core.tracker import DialogueStateTracker
from palaver.errors import ActionExecutionError, ConfigError
from palaver.nlg import create_nlg
from palaver.nlg.callback import CallbackNaturalLanguageGenerator

DOMAIN = Domain.from_dict(
    {
        "slots": {"name": {"type": "text", "mappings": [{"type": "custom"}]}},
        "responses": {"utter_greet": [{"text": "Hi {name} from the domain"}]},
    }
)


@dataclass
class NLGServer:
    url: str = ""
    status: int = 200
    reply: Any = field(default_factory=lambda: {"text": "Hi from the server"})
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    query: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def nlg_server() -> AsyncIterator[NLGServer]:
    server = NLGServer()

    async def handle(request: web.Request) -> web.Response:
        server.requests.append(await request.json())
        server.query.append(dict(request.query))
        if server.delay:
            await asyncio.sleep(server.delay)
        return web.Response(
            status=server.status, body=json.dumps(server.reply), content_type="application/json"
        )

    app = web.Application()
    app.router.add_post("/nlg", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/nlg"  # type: ignore[union-attr]
    yield server
    await runner.cleanup()


def tracker() -> DialogueStateTracker:
    return DialogueStateTracker.from_events(
        "conv-9", [SlotSet("name", "Ada")], DOMAIN.create_slots()
    )


async def test_request_shape_and_reply(nlg_server: NLGServer) -> None:
    nlg = create_nlg({"type": "callback", "url": nlg_server.url, "token": "s3"}, DOMAIN)
    assert isinstance(nlg, CallbackNaturalLanguageGenerator)
    async with nlg:
        message = await nlg.generate("utter_greet", tracker(), "slack", extra=1)
    assert message == {"text": "Hi from the server"}
    body = nlg_server.requests[0]
    assert body["response"] == "utter_greet"
    assert body["arguments"] == {"extra": 1}
    assert body["channel"] == {"name": "slack"}
    assert body["tracker"]["sender_id"] == "conv-9"
    assert body["tracker"]["slots"]["name"] == "Ada"
    assert body["tracker"]["events"][0]["event"] == "slot"
    assert "id" in body
    assert nlg_server.query[0] == {"token": "s3"}


@pytest.mark.parametrize(
    ("status", "reply"),
    [(500, {"error": "boom"}), (200, ["not", "an", "object"]), (200, {"text": 3})],
)
async def test_failures_raise_action_execution_error(
    nlg_server: NLGServer, status: int, reply: Any
) -> None:
    nlg_server.status, nlg_server.reply = status, reply
    async with HttpClient() as http:
        nlg = create_nlg({"url": nlg_server.url}, DOMAIN, http=http)
        with pytest.raises(ActionExecutionError, match="utter_greet"):
            await nlg.generate("utter_greet", tracker(), "rest")


async def test_timeout_raises(nlg_server: NLGServer) -> None:
    nlg_server.delay = 0.5
    async with HttpClient() as http:
        nlg = create_nlg({"url": nlg_server.url, "timeout": 0.1}, DOMAIN, http=http)
        with pytest.raises(ActionExecutionError, match="did not answer"):
            await nlg.generate("utter_greet", tracker(), "rest")


async def test_fallback_to_domain_only_when_configured(nlg_server: NLGServer) -> None:
    nlg_server.status = 503
    async with HttpClient() as http:
        plain = create_nlg({"url": nlg_server.url}, DOMAIN, http=http)
        with pytest.raises(ActionExecutionError):
            await plain.generate("utter_greet", tracker(), "rest")
        with_fallback = create_nlg(
            {"url": nlg_server.url, "fallback_to_domain": True}, DOMAIN, http=http
        )
        message = await with_fallback.generate("utter_greet", tracker(), "rest")
    assert message == {"text": "Hi Ada from the domain"}


def test_create_nlg_rejects_unknown_types_and_missing_url() -> None:
    with pytest.raises(ConfigError, match="Valid types"):
        create_nlg({"type": "nope"}, DOMAIN)
    with pytest.raises(ConfigError, match="url"):
        create_nlg({"type": "callback"}, DOMAIN)
