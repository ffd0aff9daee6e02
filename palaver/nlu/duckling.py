"""DucklingEntityExtractor: dates, amounts, numbers... from a Duckling server.

Rasa's component, on Duckling's HTTP API: ``POST <url>/parse`` with the form
fields ``text``, ``locale``, ``tz``, ``dims`` (a JSON list) and ``reftime``
(milliseconds since the epoch); the answer is a JSON list of matches
(``dim``, ``body``, ``start``, ``end``, ``value``). Each match becomes an
entity named after its dimension, with Duckling's ``value`` as
``additional_info``; an interval's value is ``{"from": ..., "to": ...}``.

Parsing calls the server, so a pipeline with this component parses in a
worker thread (``palaver.core.model.SLOW_COMPONENTS``), each thread on its own
kept-alive connection. A server that is down, slow (``timeout``, default 3 s)
or answers an error costs the message its Duckling entities, never the turn:
the failure is logged, as Rasa does. ``RASA_DUCKLING_HTTP_URL`` overrides
``url``.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from palaver.config import duckling_url
from palaver.errors import ConfigError
from palaver.nlu.component import settings_from_config
from palaver.nlu.message import Message, TrainingBatch

logger = logging.getLogger(__name__)

NAME = "DucklingEntityExtractor"


@dataclass(frozen=True, slots=True)
class DucklingSettings:
    url: str | None = None
    dimensions: tuple[str, ...] | None = None
    locale: str | None = None
    timezone: str | None = None
    timeout: float = 3.0


class DucklingEntityExtractor:
    """Adds the entities a Duckling server finds in the message text."""

    name: ClassVar[str] = NAME

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(DucklingSettings, self.name, config)
        if self.settings.url is not None:
            _split_url(self.settings.url)  # a malformed url fails training, not parsing
        self._client: DucklingClient | None = None

    @property
    def entity_types(self) -> list[str]:
        return list(self.settings.dimensions or [])

    def train(self, batch: TrainingBatch) -> None:
        """Nothing to learn: Duckling's rules are its own."""

    def process(self, message: Message) -> None:
        client = self._client_or_none()
        if client is None or not message.text:
            return
        matches = client.parse(message.text, _payload(self.settings, message.text))
        wanted = set(self.settings.dimensions or ())
        for match in matches:
            entity = _entity(match)
            if entity is not None and (not wanted or entity["entity"] in wanted):
                message.entities.append(entity)

    def _client_or_none(self) -> DucklingClient | None:
        client = self._client
        if client is None:
            url = duckling_url(self.settings.url)
            if url is None:
                logger.warning(
                    "%s is in the pipeline but has no 'url' (nor RASA_DUCKLING_HTTP_URL): "
                    "no Duckling entities are extracted",
                    NAME,
                )
                return None
            # Concurrent first calls may each build one; they are equivalent.
            client = self._client = DucklingClient(url, self.settings.timeout)
        return client

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.settings = state["settings"]
        self._client = None


class DucklingClient:
    """``POST /parse`` over one kept-alive HTTP connection per thread."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self._scheme, self._host, self._port, self._path = _split_url(self.url)
        self._timeout = timeout
        self._local = threading.local()

    def parse(self, text: str, fields: dict[str, str]) -> list[dict[str, Any]]:
        """Duckling's matches for ``text``; an empty list (logged) when the call fails."""
        body = urllib.parse.urlencode(fields).encode()
        try:
            status, payload = self._post(body)
        except (OSError, http.client.HTTPException) as exc:
            logger.error(
                "Duckling at %s failed for a message of %d characters: %s: %s; "
                "the message gets no Duckling entities",
                self.url,
                len(text),
                type(exc).__name__,
                exc,
            )
            return []
        if status != 200:
            logger.error(
                "Duckling at %s answered %d: %s",
                self.url,
                status,
                payload[:200].decode(errors="replace"),
            )
            return []
        try:
            matches = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            logger.error("Duckling at %s answered invalid JSON: %s", self.url, exc)
            return []
        if not isinstance(matches, list):
            logger.error("Duckling at %s answered %s, not a list", self.url, type(matches).__name__)
            return []
        return [m for m in matches if isinstance(m, dict)]

    def _post(self, body: bytes) -> tuple[int, bytes]:
        try:
            return self._request(body)
        except (ConnectionError, http.client.BadStatusLine):
            # A kept-alive connection the server closed meanwhile: one fresh try.
            return self._request(body)

    def _request(self, body: bytes) -> tuple[int, bytes]:
        """One POST on this thread's connection; the connection is dropped on any failure."""
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
        connection = self._connection()
        try:
            connection.request("POST", f"{self._path}/parse", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        except BaseException:
            self._drop_connection()
            raise

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            cls = (
                http.client.HTTPSConnection
                if self._scheme == "https"
                else http.client.HTTPConnection
            )
            connection = cls(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()


def _payload(settings: DucklingSettings, text: str) -> dict[str, str]:
    fields = {
        "text": text,
        "dims": orjson.dumps(settings.dimensions or []).decode(),
        "reftime": str(int(time.time() * 1000)),
    }
    if settings.locale:
        fields["locale"] = settings.locale
    if settings.timezone:
        fields["tz"] = settings.timezone
    return fields


def _entity(match: dict[str, Any]) -> dict[str, Any] | None:
    value = match.get("value")
    dim = match.get("dim")
    start, end = match.get("start"), match.get("end")
    if not isinstance(value, dict) or not isinstance(dim, str):
        return None
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    if value.get("type") == "interval":
        extracted: Any = {
            "to": (value.get("to") or {}).get("value"),
            "from": (value.get("from") or {}).get("value"),
        }
    else:
        extracted = value.get("value")
    return {
        "entity": dim,
        "start": start,
        "end": end,
        "text": match.get("body", match.get("text")),
        "value": extracted,
        "confidence": 1.0,
        "additional_info": value,
        "extractor": NAME,
    }


def _split_url(url: str) -> tuple[str, str, int | None, str]:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            f"Component '{NAME}': 'url' must be an http(s) URL such as "
            f"http://localhost:8000, got {url!r}."
        )
    return parsed.scheme, parsed.hostname, parsed.port, parsed.path.rstrip("/")
