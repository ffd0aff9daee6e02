"""Channel contracts: the incoming message and the output channel.

An input channel turns a webhook request into a ``UserMessage`` and hands it
to the message handler with an output channel that collects or sends the bot's
replies. Output channels follow Rasa's dispatch of one bot message into
text, buttons, quick replies, images, attachments, elements and custom JSON,
so REST clients get the same list of messages as from Rasa.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sanic import Blueprint

DEFAULT_CHANNEL_NAME = "rest"


@dataclass(slots=True)
class UserMessage:
    """One incoming message.

    ``parse_data`` is set when the intent is already known (``/intent{...}``
    shortcuts are parsed by the processor, ``trigger_intent`` passes it in).
    A message without ``message_id`` gets a random one (``uuid4().hex``), as
    Rasa's ``UserMessage`` does, so every stored ``user`` event has an id.
    """

    text: str | None
    sender_id: str
    input_channel: str = DEFAULT_CHANNEL_NAME
    message_id: str | None = None
    metadata: dict[str, Any] | None = None
    parse_data: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.message_id is None:
            self.message_id = new_message_id()


def new_message_id() -> str:
    """A random version-4 UUID as 32 hex digits, what ``uuid.uuid4().hex`` gives.

    Built from the bytes directly: ``uuid.UUID`` validates its input and costs
    about 2 µs more per message.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex()


@runtime_checkable
class OutputChannel(Protocol):
    def name(self) -> str: ...

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Deliver one bot message (``text`` plus BotUttered ``data`` keys)."""
        ...


MessageHandler = Callable[[UserMessage, OutputChannel], Awaitable[None]]


class BaseOutputChannel:
    """Splits one bot message into the primitive sends, as Rasa's OutputChannel does."""

    channel_name = "base"

    def name(self) -> str:
        return self.channel_name

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        text = message.get("text")
        if message.get("quick_replies"):
            await self.send_text_with_buttons(recipient_id, text or "", message["quick_replies"])
        elif message.get("buttons"):
            await self.send_text_with_buttons(recipient_id, text or "", message["buttons"])
        elif text:
            await self.send_text_message(recipient_id, text)
        if message.get("custom"):
            await self.send_custom_json(recipient_id, message["custom"])
        if message.get("image"):
            await self.send_image_url(recipient_id, message["image"])
        if message.get("attachment"):
            await self.send_attachment(recipient_id, message["attachment"])
        if message.get("elements"):
            await self.send_elements(recipient_id, message["elements"])

    async def send_text_message(self, recipient_id: str, text: str) -> None:
        raise NotImplementedError

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]]
    ) -> None:
        # Channels without buttons show them as a numbered list, like Rasa.
        await self.send_text_message(recipient_id, text)
        for idx, button in enumerate(buttons, start=1):
            title = button.get("title", "")
            await self.send_text_message(recipient_id, f"{idx}: {title} ({button.get('payload')})")

    async def send_image_url(self, recipient_id: str, image: str) -> None:
        await self.send_text_message(recipient_id, f"Image: {image}")

    async def send_attachment(self, recipient_id: str, attachment: Any) -> None:
        await self.send_text_message(recipient_id, f"Attachment: {attachment}")

    async def send_custom_json(self, recipient_id: str, custom: Any) -> None:
        await self.send_text_message(recipient_id, str(custom))

    async def send_elements(self, recipient_id: str, elements: list[dict[str, Any]]) -> None:
        for element in elements:
            line = f"{element.get('title', '')} : {element.get('subtitle', '')}"
            await self.send_text_with_buttons(recipient_id, line, element.get("buttons", []))


@dataclass
class CollectingOutputChannel(BaseOutputChannel):
    """Collects messages in Rasa's REST shape: ``{recipient_id, text|image|buttons|...}``."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    channel_name: str = "collector"

    @staticmethod
    def _message(recipient_id: str, **fields: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"recipient_id": recipient_id}
        out.update({k: v for k, v in fields.items() if v is not None})
        return out

    async def send_text_message(self, recipient_id: str, text: str) -> None:
        for part in text.strip().split("\n\n"):
            self.messages.append(self._message(recipient_id, text=part))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]]
    ) -> None:
        self.messages.append(self._message(recipient_id, text=text, buttons=buttons))

    async def send_image_url(self, recipient_id: str, image: str) -> None:
        self.messages.append(self._message(recipient_id, image=image))

    async def send_attachment(self, recipient_id: str, attachment: Any) -> None:
        self.messages.append(self._message(recipient_id, attachment=attachment))

    async def send_custom_json(self, recipient_id: str, custom: Any) -> None:
        self.messages.append(self._message(recipient_id, custom=custom))


@runtime_checkable
class InputChannel(Protocol):
    """A channel that mounts a webhook blueprint under ``/webhooks/<name>/``."""

    @classmethod
    def name(cls) -> str: ...

    def blueprint(self, on_new_message: MessageHandler) -> Blueprint: ...
