"""The ``output_channel`` parameter: a configured channel that can push, or collect."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from palaver.channels.base import CollectingOutputChannel
from palaver.channels.callback import CallbackOutput
from palaver.config import CredentialsConfig
from palaver.core.events import UserUttered
from palaver.core.tracker import DialogueStateTracker
from palaver.server.output_channels import collected_messages, output_channel_for


def runtime(channels: dict[str, dict[str, Any]]) -> Any:
    return SimpleNamespace(credentials=CredentialsConfig(channels), http=object())


def tracker(latest_channel: str | None = None) -> DialogueStateTracker:
    t = DialogueStateTracker("alice", None)
    if latest_channel is not None:
        t.update(UserUttered("hi", {"name": "greet"}, input_channel=latest_channel))
    return t


CALLBACK = {"rest": {}, "callback": {"url": "http://localhost:5034/bot"}}


def test_callback_channel_when_configured() -> None:
    output = output_channel_for(runtime(CALLBACK), "callback", tracker())
    assert isinstance(output, CallbackOutput)
    assert output.url == "http://localhost:5034/bot"


def test_latest_uses_the_channel_of_the_latest_user_message() -> None:
    latest_callback = output_channel_for(runtime(CALLBACK), "latest", tracker("callback"))
    assert isinstance(latest_callback, CallbackOutput)
    latest_rest = output_channel_for(runtime(CALLBACK), "latest", tracker("rest"))
    assert type(latest_rest) is CollectingOutputChannel
    no_messages = output_channel_for(runtime(CALLBACK), "latest", tracker())
    assert type(no_messages) is CollectingOutputChannel


def test_otherwise_messages_are_collected() -> None:
    for requested in (None, "slack", "rest", "nonsense"):
        output = output_channel_for(runtime(CALLBACK), requested, tracker())
        assert type(output) is CollectingOutputChannel
    unconfigured = output_channel_for(runtime({"rest": {}}), "callback", tracker())
    assert type(unconfigured) is CollectingOutputChannel


async def test_collected_messages() -> None:
    output = CollectingOutputChannel()
    await output.send_response("alice", {"text": "hi"})
    assert collected_messages(output) == [{"recipient_id": "alice", "text": "hi"}]
