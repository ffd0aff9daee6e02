"""The REST channel: ``POST /webhooks/rest/webhook`` answers with the bot's messages.

Request: ``{"sender": "...", "message": "...", "metadata": {...}}``.
Response: a JSON list of ``{recipient_id, text, image, buttons, custom, attachment}``
objects, the shape Rasa's REST channel returns.
"""

from __future__ import annotations

from typing import Any

import orjson
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import json as json_response

from palaver.channels.base import CollectingOutputChannel, MessageHandler, UserMessage
from palaver.server.errors import ErrorResponse

# A message longer than this is refused with 413: it is almost certainly not
# something a person typed, and NLU cost grows with its length.
DEFAULT_MAX_MESSAGE_CHARS = 20_000


def parse_json_body(request: Request) -> Any:
    """The request body as JSON, or a 400 naming the problem."""
    body = request.body
    if not body:
        raise ErrorResponse(400, "BadRequest", "The request body is empty; expected a JSON object.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ErrorResponse(
            400, "BadRequest", f"The request body is not valid JSON: {exc}"
        ) from exc


def user_message_from_payload(
    payload: Any, channel: str, max_chars: int = DEFAULT_MAX_MESSAGE_CHARS
) -> UserMessage:
    """Validate a REST payload; every error names the offending field."""
    if not isinstance(payload, dict):
        raise ErrorResponse(400, "BadRequest", "The request body must be a JSON object.")
    sender = payload.get("sender")
    if sender is None:
        raise ErrorResponse(400, "BadRequest", "Missing required field 'sender'.")
    if isinstance(sender, bool) or not isinstance(sender, str | int):
        raise ErrorResponse(400, "BadRequest", "Field 'sender' must be a string.")
    sender = str(sender)
    if not sender.strip():
        raise ErrorResponse(400, "BadRequest", "Field 'sender' must not be empty.")
    text = payload.get("message")
    if text is None:
        raise ErrorResponse(400, "BadRequest", "Missing required field 'message'.")
    if not isinstance(text, str):
        raise ErrorResponse(
            400, "BadRequest", f"Field 'message' must be a string, got {type(text).__name__}."
        )
    if len(text) > max_chars:
        raise ErrorResponse(
            413,
            "PayloadTooLarge",
            f"Field 'message' has {len(text)} characters; at most {max_chars} are accepted.",
        )
    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ErrorResponse(400, "BadRequest", "Field 'metadata' must be a JSON object.")
    input_channel = payload.get("input_channel") or channel
    if not isinstance(input_channel, str):
        raise ErrorResponse(400, "BadRequest", "Field 'input_channel' must be a string.")
    message_id = payload.get("message_id")
    if message_id is not None and not isinstance(message_id, str):
        raise ErrorResponse(400, "BadRequest", "Field 'message_id' must be a string.")
    return UserMessage(
        text=text,
        sender_id=sender,
        input_channel=input_channel,
        message_id=message_id,
        metadata=metadata,
    )


class RestInput:
    """Synchronous REST channel: the reply lists every message of the bot's turn."""

    def __init__(self, max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS) -> None:
        self.max_message_chars = max_message_chars

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> RestInput:
        creds = credentials or {}
        return cls(int(creds.get("max_message_chars", DEFAULT_MAX_MESSAGE_CHARS)))

    def blueprint(self, on_new_message: MessageHandler) -> Blueprint:
        bp = Blueprint(f"{self.name()}_webhook", url_prefix=f"/webhooks/{self.name()}")

        async def health(request: Request) -> HTTPResponse:
            return json_response({"status": "ok"})

        async def receive(request: Request) -> HTTPResponse:
            message = user_message_from_payload(
                parse_json_body(request), self.name(), self.max_message_chars
            )
            collector = CollectingOutputChannel()
            await on_new_message(message, collector)
            return HTTPResponse(orjson.dumps(collector.messages), content_type="application/json")

        bp.add_route(health, "/", methods=["GET"], name="health")
        bp.add_route(receive, "/webhook", methods=["POST"], name="receive")
        return bp
