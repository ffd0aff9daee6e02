"""The action server client: runs custom actions over rasa-sdk's HTTP protocol.

Request (POST to ``action_endpoint.url``)::

    {"next_action": name, "sender_id": id, "tracker": <tracker JSON, all events>,
     "domain": <domain JSON>, "version": RASA_COMPAT_VERSION}

Reply: ``{"events": [...], "responses": [...]}`` on 200; ``{"action_name",
"error"}`` with 400 when the action rejects execution; 404 for an unknown
action; 449 when the server wants the domain (``send_domain: on_demand``).

``action_endpoint`` keys: ``url`` (required), ``token``, ``token_name``,
``headers``, ``params``, ``basic_auth: {username, password}``, ``cafile``,
``timeout`` (seconds, default 30; Rasa's is 300), ``retries`` (connect
failures only, default 2), ``compress`` (deflate the request body), and
``enable_selective_domain`` (Rasa's: send the domain only to actions
declared with ``send_domain: true`` and to ``validate_*`` actions), and
``send_domain``: ``always`` (default, Rasa 3.6) or ``on_demand`` (send a
``domain_digest`` and the domain only when this server has not seen it yet,
resending on HTTP 449; needs a rasa-sdk that knows ``domain_digest``).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from palaver import RASA_COMPAT_VERSION
from palaver.actions.endpoint import EndpointSettings, HttpClient, HttpReply
from palaver.actions.errors import (
    ActionNotRegisteredError,
    ActionServerUnavailableError,
    ActionTimeoutError,
    InvalidActionResponseError,
)
from palaver.core.events import Event, events_from_dicts
from palaver.core.tracker import EventVerbosity
from palaver.errors import ActionExecutionError, ActionRejectedError, ConfigError, PalaverError

if TYPE_CHECKING:
    from palaver.core.domain import Domain
    from palaver.core.tracker import DialogueStateTracker

logger = logging.getLogger(__name__)

SEND_DOMAIN_MODES = ("always", "on_demand")
_STATUS_DOMAIN_MISSING = 449


@dataclass(frozen=True)
class ActionServerReply:
    """What the action server returned for one action.

    ``responses`` are raw message dicts (see :mod:`palaver.actions.remote` for
    how they become ``BotUttered`` events).
    """

    events: list[Event] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_NOT_JSON = object()


def _load_json(body: bytes) -> Any:
    """The decoded body; ``None`` for an empty one, ``_NOT_JSON`` if it is not JSON."""
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return _NOT_JSON


class ActionServerClient:
    """Calls the action server; one per process, sharing the pooled :class:`HttpClient`.

    Args:
        settings: the validated ``action_endpoint`` section.
        http: the process-wide HTTP client. Without one the client makes its
            own and closes it in ``stop()``.
    """

    def __init__(self, settings: EndpointSettings, http: HttpClient | None = None) -> None:
        mode = settings.extra.get("send_domain", "always")
        if mode not in SEND_DOMAIN_MODES:
            raise ConfigError(
                f"action_endpoint: 'send_domain' has value {mode!r}. "
                f"Valid values: {', '.join(SEND_DOMAIN_MODES)}."
            )
        self.settings = settings
        self._send_domain_on_demand = mode == "on_demand"
        # Rasa's option: send the domain only to actions marked ``send_domain: true``.
        self._selective_domain = bool(settings.extra.get("enable_selective_domain", False))
        self._domain_json: tuple[str, orjson.Fragment] | None = None
        self._owns_http = http is None
        self._http = http or HttpClient()
        # Digest of the domain the server confirmed (on_demand mode only).
        self._digest_known_to_server: str | None = None

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any] | None, http: HttpClient | None = None
    ) -> ActionServerClient | None:
        """Build from endpoints.yml's ``action_endpoint`` (``None`` if absent)."""
        if not config:
            return None
        return cls(EndpointSettings.from_config(config, "action_endpoint"), http)

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def http(self) -> HttpClient:
        return self._http

    async def start(self) -> None:
        """Open the HTTP session and load ``cafile`` (a bad one fails here, at startup)."""
        await self._http.start()
        if self.settings.cafile:
            await self._http.load_ca(self.settings.cafile)

    async def stop(self) -> None:
        """Close the HTTP session if this client created it; safe to call twice."""
        if self._owns_http:
            await self._http.stop()

    async def __aenter__(self) -> ActionServerClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def payload(
        self, action_name: str, tracker: DialogueStateTracker, domain: Domain, with_domain: bool
    ) -> dict[str, Any]:
        """The JSON request body for ``action_name`` (rasa-sdk's ``action_call``).

        The domain is included as a pre-serialised ``orjson.Fragment`` (cached
        per domain fingerprint), so serialise the result with ``orjson``.
        """
        body: dict[str, Any] = {
            "next_action": action_name,
            "sender_id": tracker.sender_id,
            "tracker": tracker.current_state(EventVerbosity.ALL),
            "version": RASA_COMPAT_VERSION,
        }
        if with_domain:
            body["domain"] = self._domain_fragment(domain)
        if self._send_domain_on_demand:
            body["domain_digest"] = domain.fingerprint()
        return body

    def _domain_fragment(self, domain: Domain) -> orjson.Fragment:
        digest = domain.fingerprint()
        if self._domain_json is None or self._domain_json[0] != digest:
            self._domain_json = (digest, orjson.Fragment(orjson.dumps(domain.as_dict())))
        return self._domain_json[1]

    def _should_send_domain(self, action_name: str, domain: Domain, digest: str | None) -> bool:
        if digest is not None:
            return digest != self._digest_known_to_server
        if self._selective_domain:
            return domain.does_custom_action_explicitly_need_domain(action_name)
        return True

    async def run(
        self, action_name: str, tracker: DialogueStateTracker, domain: Domain
    ) -> ActionServerReply:
        """Run ``action_name`` on the action server.

        Raises:
            ActionRejectedError: the action rejected execution (HTTP 400).
            ActionNotRegisteredError: the server has no such action (HTTP 404).
            ActionServerUnavailableError: no connection to the server.
            ActionTimeoutError: no reply within the endpoint's ``timeout``.
            InvalidActionResponseError: the reply does not follow the protocol.
            ActionExecutionError: any other failure (5xx, broken connection, ...).
        """
        digest = domain.fingerprint() if self._send_domain_on_demand else None
        with_domain = self._should_send_domain(action_name, domain, digest)
        logger.debug(
            "calling action server for action '%s' (conversation %s)",
            action_name,
            tracker.sender_id,
        )
        payload = self.payload(action_name, tracker, domain, with_domain)
        reply = await self._post(action_name, payload)
        if reply.status == _STATUS_DOMAIN_MISSING and not with_domain:
            logger.debug("action server asked for the domain; sending it")
            with_domain = True
            reply = await self._post(action_name, self.payload(action_name, tracker, domain, True))
        result = self._handle_reply(action_name, reply)
        if digest is not None and with_domain:
            self._digest_known_to_server = digest
        return result

    async def _post(self, action_name: str, payload: dict[str, Any]) -> HttpReply:
        try:
            body = orjson.dumps(payload, default=_json_default, option=orjson.OPT_NON_STR_KEYS)
        except TypeError as exc:
            raise ActionExecutionError(
                f"Cannot serialise the request for custom action '{action_name}': {exc}"
            ) from exc
        headers = {"Content-Type": "application/json"}
        if self.settings.compress:
            body = zlib.compress(body)
            headers["Content-Encoding"] = "deflate"
        try:
            return await self._http.post(self.settings, body, headers)
        except aiohttp.ClientConnectorError as exc:
            raise ActionServerUnavailableError(
                f"Failed to run custom action '{action_name}': cannot connect to the "
                f"action server at {self.url} ({exc.os_error}). Is it running?"
            ) from exc
        except TimeoutError as exc:
            raise ActionTimeoutError(
                f"Failed to run custom action '{action_name}': the action server at "
                f"{self.url} did not answer within {self.settings.timeout:g}s "
                f"(set action_endpoint.timeout to wait longer)."
            ) from exc
        except (aiohttp.ClientError, ConfigError) as exc:
            raise ActionExecutionError(
                f"Failed to run custom action '{action_name}': the request to the "
                f"action server at {self.url} failed: {exc!r}"
            ) from exc

    def _handle_reply(self, action_name: str, reply: HttpReply) -> ActionServerReply:
        data = _load_json(reply.body)
        if reply.status == 200:
            return self._parse_result(action_name, data)
        error = data.get("error") if isinstance(data, dict) else None
        if reply.status == 400 and isinstance(data, dict) and data.get("action_name"):
            rejected = str(data["action_name"])
            logger.info("custom action '%s' rejected execution: %s", rejected, error)
            raise ActionRejectedError(rejected, str(error) if error else None)
        if reply.status == 404:
            raise ActionNotRegisteredError(action_name, self.url, str(error) if error else None)
        detail = f": {error}" if error else ""
        raise ActionExecutionError(
            f"Failed to run custom action '{action_name}': the action server at "
            f"{self.url} answered HTTP {reply.status}{detail}"
        )

    def _parse_result(self, action_name: str, data: Any) -> ActionServerReply:
        if data is None:
            return ActionServerReply()
        if data is _NOT_JSON:
            raise InvalidActionResponseError(
                f"The action server's reply for custom action '{action_name}' is not JSON."
            )
        if not isinstance(data, dict):
            raise InvalidActionResponseError(
                f"The action server's reply for custom action '{action_name}' is not a "
                f"JSON object with 'events' and 'responses'."
            )
        events_json = data.get("events") or []
        responses = data.get("responses") or []
        if not isinstance(events_json, list) or not all(isinstance(e, dict) for e in events_json):
            raise InvalidActionResponseError(
                f"The action server's reply for custom action '{action_name}' has "
                f"'events' that is not a list of event objects."
            )
        if not isinstance(responses, list) or not all(isinstance(r, dict) for r in responses):
            raise InvalidActionResponseError(
                f"The action server's reply for custom action '{action_name}' has "
                f"'responses' that is not a list of message objects."
            )
        try:
            events = events_from_dicts(events_json)
        except (PalaverError, KeyError, TypeError, ValueError) as exc:
            raise InvalidActionResponseError(
                f"Custom action '{action_name}' returned an invalid event: {exc}"
            ) from exc
        return ActionServerReply(events=list(events), responses=list(responses))


__all__ = ["ActionServerClient", "ActionServerReply"]
