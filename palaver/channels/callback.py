"""The callback channel: answers ``success`` and POSTs each bot message to a URL.

credentials.yml::

    callback:
      url: "http://localhost:5034/bot"
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import text as text_response

from palaver.channels.base import CollectingOutputChannel, MessageHandler
from palaver.channels.rest import parse_json_body, user_message_from_payload
from palaver.errors import ConfigError

logger = logging.getLogger(__name__)


class CallbackOutput(CollectingOutputChannel):
    """Collects like the REST channel, and POSTs each message as it is produced."""

    def __init__(self, url: str, session: aiohttp.ClientSession, timeout: float) -> None:
        super().__init__(channel_name="callback")
        self.url = url
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _post(self, message: dict[str, Any]) -> None:
        try:
            async with self._session.post(
                self.url,
                data=orjson.dumps(message),
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
            ) as resp:
                if resp.status >= 400:
                    logger.error(
                        "callback url answered %s for a message to %s",
                        resp.status,
                        message.get("recipient_id"),
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.error("callback url %s unreachable: %s", self.url, exc)

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        before = len(self.messages)
        await super().send_response(recipient_id, message)
        for produced in self.messages[before:]:
            await self._post(produced)


class CallbackInput:
    def __init__(self, url: str, session_provider: Any, timeout: float = 10.0) -> None:
        self.url = url
        self._session_provider = session_provider
        self.timeout = timeout

    @classmethod
    def name(cls) -> str:
        return "callback"

    @classmethod
    def from_credentials(
        cls, credentials: dict[str, Any] | None, session_provider: Any
    ) -> CallbackInput:
        url = (credentials or {}).get("url")
        if not isinstance(url, str) or not url:
            raise ConfigError("credentials.yml: channel 'callback' needs a 'url'.")
        return cls(url, session_provider, float((credentials or {}).get("timeout", 10.0)))

    def blueprint(self, on_new_message: MessageHandler) -> Blueprint:
        bp = Blueprint("callback_webhook", url_prefix="/webhooks/callback")

        async def health(request: Request) -> HTTPResponse:
            return HTTPResponse(orjson.dumps({"status": "ok"}), content_type="application/json")

        async def receive(request: Request) -> HTTPResponse:
            message = user_message_from_payload(parse_json_body(request), self.name())
            output = CallbackOutput(self.url, self._session_provider(), self.timeout)
            await on_new_message(message, output)
            return text_response("success")

        bp.add_route(health, "/", methods=["GET"], name="health")
        bp.add_route(receive, "/webhook", methods=["POST"], name="receive")
        return bp
