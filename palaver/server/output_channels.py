"""The ``output_channel`` query parameter of conversation routes.

Bot messages produced through the HTTP API go to the named channel when it
is configured in credentials.yml and can send on its own (``callback``);
``latest`` means the channel of the conversation's latest user message.
Otherwise they are collected and returned in the response body, as Rasa does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from palaver.channels.base import CollectingOutputChannel, OutputChannel
from palaver.channels.callback import CallbackInput, CallbackOutput

if TYPE_CHECKING:
    from palaver.core.tracker import DialogueStateTracker
    from palaver.server.runtime import Runtime

USE_LATEST_INPUT_CHANNEL = "latest"

OutputFactory = Callable[["Runtime"], OutputChannel]


def _callback_output(runtime: Runtime) -> OutputChannel:
    channel = CallbackInput.from_credentials(
        runtime.credentials.channels.get("callback"), lambda: runtime.http
    )
    return CallbackOutput(channel.url, runtime.http, channel.timeout)


# Channels that can push messages without an incoming request.
OUTPUT_CHANNELS: dict[str, OutputFactory] = {"callback": _callback_output}


def output_channel_for(
    runtime: Runtime, requested: str | None, tracker: DialogueStateTracker
) -> OutputChannel:
    """The output channel for a request's ``output_channel`` value."""
    name = requested
    if name == USE_LATEST_INPUT_CHANNEL:
        name = tracker.get_latest_input_channel()
    factory = OUTPUT_CHANNELS.get(name or "")
    if name is None or factory is None or name not in runtime.credentials.channels:
        return CollectingOutputChannel()
    return factory(runtime)


def collected_messages(output: OutputChannel) -> list[dict[str, object]] | None:
    """Messages to return in the response body (None if the channel sent them itself)."""
    if isinstance(output, CollectingOutputChannel):
        return list(output.messages)
    return None
