"""Responses from an NLG server (endpoints.yml ``nlg: {type: callback, url: ...}``).

Request (POST to ``url``, Rasa 3.6's shape)::

    {"response": name, "id": null, "arguments": {...kwargs},
     "tracker": <tracker JSON, all events>, "channel": {"name": channel}}

Reply: one message object ``{text, buttons, image, elements, attachment,
custom, quick_replies}``. Any failure raises ``ActionExecutionError`` unless
``fallback_to_domain: true`` is set, in which case the domain's responses
are used (and the failure logged).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from palaver.actions.endpoint import EndpointSettings, HttpClient
from palaver.actions.errors import ActionServerUnavailableError, ActionTimeoutError
from palaver.core.tracker import EventVerbosity
from palaver.errors import ActionExecutionError, ConfigError
from palaver.nlg.base import BotMessage
from palaver.nlg.templates import TemplatedNaturalLanguageGenerator

if TYPE_CHECKING:
    from palaver.core.domain import Domain
    from palaver.core.tracker import DialogueStateTracker

logger = logging.getLogger(__name__)

_LIST_KEYS = ("buttons", "elements", "quick_replies")


def response_problem(reply: Any) -> str | None:
    """Why ``reply`` is not a valid NLG message (``None`` if it is)."""
    if not isinstance(reply, dict):
        return "the reply is not a JSON object"
    text = reply.get("text")
    if text is not None and not isinstance(text, str):
        return "'text' is not a string"
    for key in _LIST_KEYS:
        value = reply.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(item, dict) for item in value)
        ):
            return f"'{key}' is not a list of objects"
    image = reply.get("image")
    if image is not None and not isinstance(image, str):
        return "'image' is not a string"
    return None


class CallbackNaturalLanguageGenerator:
    """Asks an HTTP NLG server for every response.

    Args:
        settings: the validated ``nlg`` endpoint section.
        http: the process-wide HTTP client (a private one is made and closed
            in ``stop()`` when omitted).
        domain: the domain, used for ``fallback_to_domain``.
    """

    def __init__(
        self,
        settings: EndpointSettings,
        http: HttpClient | None = None,
        domain: Domain | None = None,
    ) -> None:
        self.settings = settings
        self.domain = domain
        self._owns_http = http is None
        self._http = http or HttpClient()
        self._fallback: TemplatedNaturalLanguageGenerator | None = None
        if settings.extra.get("fallback_to_domain", False):
            if domain is None:
                raise ActionExecutionError("nlg: 'fallback_to_domain' needs the domain.")
            self._fallback = TemplatedNaturalLanguageGenerator.from_domain(domain)

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        http: HttpClient | None = None,
        domain: Domain | None = None,
    ) -> CallbackNaturalLanguageGenerator:
        return cls(EndpointSettings.from_config(config, "nlg"), http, domain)

    async def start(self) -> None:
        """Open the HTTP session and load ``cafile`` (a bad one fails here, at startup)."""
        await self._http.start()
        if self.settings.cafile:
            await self._http.load_ca(self.settings.cafile)

    async def stop(self) -> None:
        """Close the HTTP session if this generator created it; safe to call twice."""
        if self._owns_http:
            await self._http.stop()

    async def __aenter__(self) -> CallbackNaturalLanguageGenerator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @staticmethod
    def request_body(
        response_name: str,
        tracker: DialogueStateTracker,
        channel_name: str,
        arguments: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The JSON body Rasa sends to an NLG server."""
        args = dict(arguments)
        response_id = args.pop("response_id", None)
        return {
            "response": response_name,
            "id": response_id,
            "arguments": args,
            "tracker": tracker.current_state(EventVerbosity.ALL),
            "channel": {"name": channel_name},
        }

    async def generate(
        self,
        response_name: str,
        tracker: DialogueStateTracker,
        channel_name: str,
        **kwargs: Any,
    ) -> BotMessage | None:
        """See :class:`palaver.nlg.base.NaturalLanguageGenerator`.

        Raises:
            ActionExecutionError: the NLG server failed and there is no fallback.
        """
        try:
            return await self._request(response_name, tracker, channel_name, kwargs)
        except ActionExecutionError as exc:
            if self._fallback is None:
                raise
            logger.warning(
                "NLG server failed for response '%s' (%s); using the domain's responses",
                response_name,
                exc,
            )
            return await self._fallback.generate(response_name, tracker, channel_name, **kwargs)

    async def _request(
        self,
        response_name: str,
        tracker: DialogueStateTracker,
        channel_name: str,
        arguments: Mapping[str, Any],
    ) -> BotMessage:
        body = self.request_body(response_name, tracker, channel_name, arguments)
        where = f"the NLG server at {self.settings.url}"
        try:
            payload = orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS)
            reply = await self._http.post(
                self.settings, payload, {"Content-Type": "application/json"}
            )
        except aiohttp.ClientConnectorError as exc:
            raise ActionServerUnavailableError(
                f"Cannot generate response '{response_name}': cannot connect to {where} "
                f"({exc.os_error})."
            ) from exc
        except TimeoutError as exc:
            raise ActionTimeoutError(
                f"Cannot generate response '{response_name}': {where} did not answer "
                f"within {self.settings.timeout:g}s."
            ) from exc
        except (aiohttp.ClientError, ConfigError, TypeError) as exc:
            raise ActionExecutionError(
                f"Cannot generate response '{response_name}': the request to {where} "
                f"failed: {exc!r}"
            ) from exc
        if reply.status != 200:
            raise ActionExecutionError(
                f"Cannot generate response '{response_name}': {where} answered HTTP {reply.status}."
            )
        try:
            message = orjson.loads(reply.body)
        except orjson.JSONDecodeError as exc:
            raise ActionExecutionError(
                f"Cannot generate response '{response_name}': {where} did not return JSON."
            ) from exc
        problem = response_problem(message)
        if problem is not None:
            raise ActionExecutionError(
                f"Cannot generate response '{response_name}': invalid reply from {where}: "
                f"{problem}."
            )
        assert isinstance(message, dict)
        return message
