"""The action server client against a real local HTTP server."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
from typing import Any

import pytest

from palaver import RASA_COMPAT_VERSION
from palaver.actions.client import ActionServerClient
from palaver.actions.endpoint import EndpointSettings, HttpClient
from palaver.actions.errors import (
    ActionNotRegisteredError,
    ActionServerUnavailableError,
    ActionTimeoutError,
    InvalidActionResponseError,
)
from palaver.actions.remote import RemoteAction
from palaver.core.domain import Domain
from palaver.core.events import BotUttered, SlotSet
from palaver.errors import ActionExecutionError, ActionRejectedError, ConfigError
from tests.unit.actions.helpers import FakeActionServer, context, make_tracker, user

DOMAIN = Domain.from_dict(
    {
        "intents": ["greet"],
        "slots": {"name": {"type": "text", "mappings": [{"type": "custom"}]}},
        "responses": {
            "utter_hello": [
                {"text": "Hello {name}{punct}", "buttons": [{"title": "a", "payload": "/a"}]}
            ]
        },
        "actions": ["action_hello", {"action_needs_domain": {"send_domain": True}}],
    }
)


def tracker() -> Any:
    return make_tracker(DOMAIN, [SlotSet("name", "Ada"), user("greet", "hi")], sender_id="conv-1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def make_client(config: dict[str, Any]) -> ActionServerClient:
    client = ActionServerClient.from_config(config)
    assert client is not None
    await client.start()
    return client


async def test_payload_shape(action_server: FakeActionServer, client: ActionServerClient) -> None:
    action_server.reply("action_hello")
    conversation = tracker()
    reply = await client.run("action_hello", conversation, DOMAIN)
    assert reply.events == [] and reply.responses == []
    payload = action_server.requests[0]
    assert set(payload) == {"next_action", "sender_id", "tracker", "domain", "version"}
    assert payload["next_action"] == "action_hello"
    assert payload["sender_id"] == "conv-1"
    assert payload["version"] == RASA_COMPAT_VERSION
    assert payload["tracker"] == conversation.current_state(_all())
    assert payload["tracker"]["events"][-1]["event"] == "user"
    assert payload["domain"] == DOMAIN.as_dict()


def _all() -> Any:
    from palaver.core.tracker import EventVerbosity

    return EventVerbosity.ALL


async def test_events_and_responses_become_events(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    action_server.reply(
        "action_hello",
        events=[{"event": "slot", "name": "name", "value": "Bob", "timestamp": None}],
        responses=[
            {
                "text": None,
                "buttons": [{"title": "b", "payload": "/b"}],
                "elements": [],
                "custom": {},
                "template": "utter_hello",
                "response": "utter_hello",
                "image": None,
                "attachment": None,
                "punct": "!",
            },
            {"text": "direct", "custom": {"x": 1}},
            {"template": "utter_hello"},
            {"response": "utter_missing"},
        ],
    )
    events = await RemoteAction("action_hello").run(tracker(), DOMAIN, context(DOMAIN, client))
    bots = [e for e in events if isinstance(e, BotUttered)]
    assert [b.text for b in bots] == ["Hello Ada!", "direct", "Hello {name}{punct}"]
    assert bots[0].data["buttons"] == [
        {"title": "a", "payload": "/a"},
        {"title": "b", "payload": "/b"},
    ]
    assert bots[0].metadata == {"utter_action": "utter_hello", "punct": "!"}
    assert bots[1].data["custom"] == {"x": 1}
    # Bot messages come first, then the action's events.
    assert events[-1] == SlotSet("name", "Bob")
    assert len(events) == 4


async def test_rejection_400(action_server: FakeActionServer, client: ActionServerClient) -> None:
    action_server.on(
        "action_hello", lambda _p: (400, {"action_name": "action_hello", "error": "not now"})
    )
    with pytest.raises(ActionRejectedError) as info:
        await client.run("action_hello", tracker(), DOMAIN)
    assert info.value.action_name == "action_hello"
    assert "not now" in str(info.value)


async def test_400_without_action_name_is_a_plain_failure(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    action_server.on("action_hello", lambda _p: (400, {"error": "Invalid body request"}))
    with pytest.raises(ActionExecutionError, match="HTTP 400") as info:
        await client.run("action_hello", tracker(), DOMAIN)
    assert not isinstance(info.value, ActionRejectedError)


async def test_unknown_action_404(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    with pytest.raises(ActionNotRegisteredError, match="not found on the action server"):
        await client.run("action_unknown", tracker(), DOMAIN)


async def test_server_error_500(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    action_server.on("action_hello", lambda _p: (500, {"error": "KeyError: 'x'"}))
    with pytest.raises(ActionExecutionError, match="HTTP 500: KeyError"):
        await client.run("action_hello", tracker(), DOMAIN)


@pytest.mark.parametrize(
    "body",
    [
        {"events": [{"event": "no_such_event"}]},
        {"events": [{"event": "slot"}]},
        {"events": "nope"},
        {"responses": ["text"]},
        "not json at all",
        ["a", "list"],
    ],
)
async def test_invalid_replies(
    action_server: FakeActionServer, client: ActionServerClient, body: Any
) -> None:
    action_server.on("action_hello", lambda _p: (200, body))
    with pytest.raises(InvalidActionResponseError, match="action_hello"):
        await client.run("action_hello", tracker(), DOMAIN)


async def test_null_reply_means_no_events(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    action_server.on("action_hello", lambda _p: (200, b"null"))
    reply = await client.run("action_hello", tracker(), DOMAIN)
    assert reply.events == [] and reply.responses == []


async def test_timeout(action_server: FakeActionServer) -> None:
    async def slow(_payload: dict[str, Any]) -> tuple[int, Any]:
        await asyncio.sleep(0.5)
        return 200, {"events": []}

    action_server.on("action_hello", slow)
    client = await make_client({"url": action_server.url, "timeout": 0.1})
    try:
        with pytest.raises(ActionTimeoutError, match=r"did not answer within 0\.1s"):
            await client.run("action_hello", tracker(), DOMAIN)
    finally:
        await client.stop()
    assert len(action_server.requests) == 1  # never retried once sent


async def test_connection_refused_is_retried_a_bounded_number_of_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/webhook"
    client = await make_client({"url": url, "retries": 2})
    try:
        with (
            caplog.at_level(logging.WARNING),
            pytest.raises(
                ActionServerUnavailableError, match="cannot connect to the action server"
            ) as info,
        ):
            await client.run("action_hello", tracker(), DOMAIN)
    finally:
        await client.stop()
    assert info.value.retriable
    assert [r.getMessage().split(";")[1].strip()[:13] for r in caplog.records] == [
        "retry 1 of 2 ",
        "retry 2 of 2 ",
    ]


async def test_token_headers_and_basic_auth_are_sent(action_server: FakeActionServer) -> None:
    action_server.reply("action_hello")
    client = await make_client(
        {
            "url": action_server.url,
            "token": "t0k",
            "headers": {"X-Custom": "yes"},
            "basic_auth": {"username": "user", "password": "pw"},
        }
    )
    try:
        await client.run("action_hello", tracker(), DOMAIN)
    finally:
        await client.stop()
    assert action_server.query[0] == {"token": "t0k"}
    headers = action_server.headers[0]
    assert headers["X-Custom"] == "yes"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"user:pw").decode()
    assert "t0k" not in repr(client.settings) and "pw" not in repr(client.settings)


async def test_one_session_and_connection_reused_across_calls(
    action_server: FakeActionServer,
) -> None:
    action_server.reply("action_hello")
    async with HttpClient() as http:
        client = ActionServerClient(EndpointSettings.from_config({"url": action_server.url}), http)
        session = http.session
        for _ in range(3):
            await client.run("action_hello", tracker(), DOMAIN)
        assert http.session is session
        await client.stop()  # does not close a shared HttpClient
        assert http.session is session and not session.closed  # type: ignore[union-attr]
    assert len(set(action_server.peers)) == 1


async def test_compressed_request(action_server: FakeActionServer) -> None:
    action_server.reply("action_hello")
    client = await make_client({"url": action_server.url, "compress": True})
    try:
        await client.run("action_hello", tracker(), DOMAIN)
    finally:
        await client.stop()
    assert action_server.headers[0]["Content-Encoding"] == "deflate"
    assert action_server.requests[0]["next_action"] == "action_hello"


async def test_domain_on_demand_sends_digest_and_resends_domain_on_449(
    action_server: FakeActionServer,
) -> None:
    known: dict[str, Any] = {}

    def handler(payload: dict[str, Any]) -> tuple[int, Any]:
        if "domain" in payload:
            known["digest"] = payload["domain_digest"]
        elif payload["domain_digest"] != known.get("digest"):
            return 449, {"action_name": "action_hello", "error": "missing domain"}
        return 200, {"events": []}

    action_server.on("action_hello", handler)
    client = await make_client({"url": action_server.url, "send_domain": "on_demand"})
    try:
        for _ in range(2):
            await client.run("action_hello", tracker(), DOMAIN)
        assert ["domain" in r for r in action_server.requests] == [True, False]
        # A server that lost its cache (e.g. restarted) answers 449 once.
        known.clear()
        await client.run("action_hello", tracker(), DOMAIN)
    finally:
        await client.stop()
    assert ["domain" in r for r in action_server.requests] == [True, False, False, True]
    assert action_server.requests[0]["domain_digest"] == DOMAIN.fingerprint()


async def test_selective_domain(action_server: FakeActionServer) -> None:
    action_server.reply("action_hello")
    action_server.reply("action_needs_domain")
    client = await make_client({"url": action_server.url, "enable_selective_domain": True})
    try:
        await client.run("action_hello", tracker(), DOMAIN)
        await client.run("action_needs_domain", tracker(), DOMAIN)
    finally:
        await client.stop()
    assert ["domain" in r for r in action_server.requests] == [False, True]


async def test_remote_action_without_endpoint_fails_clearly() -> None:
    with pytest.raises(ActionExecutionError, match="no action server is configured"):
        await RemoteAction("action_hello").run(tracker(), DOMAIN, context(DOMAIN))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"url": "localhost:5055"}, "'url'"),
        ({"url": "http://x", "timeout": "soon"}, "'timeout'"),
        ({"url": "http://x", "timeout": 0}, "'timeout'"),
        ({"url": "http://x", "basic_auth": {"username": "u"}}, "basic_auth"),
        ({"url": "http://x", "send_domain": "sometimes"}, "send_domain"),
        ({"url": "http://x", "retries": -1}, "retries"),
    ],
)
def test_invalid_settings(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ActionServerClient.from_config(config)


def test_no_config_means_no_client() -> None:
    assert ActionServerClient.from_config(None) is None
    assert ActionServerClient.from_config({}) is None


async def test_bad_cafile_fails_at_start(tmp_path: Any) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    client = ActionServerClient.from_config(
        {"url": "https://127.0.0.1:1/webhook", "cafile": str(bad)}
    )
    assert client is not None
    with pytest.raises(ConfigError, match="CA file"):
        await client.start()
    await client.stop()
    await client.stop()  # safe twice


async def test_http_client_lifecycle() -> None:
    http = HttpClient()
    assert http.session is None
    async with http:
        session = http.session
        assert session is not None and not session.closed
    assert http.session is None and session.closed
    await http.stop()
