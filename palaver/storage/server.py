"""The model server: poll an HTTP endpoint for new models (Rasa's ETag contract).

``models`` in endpoints.yml::

    models:
      url: https://models.example.com/models/default.tar.gz
      token: ${MODEL_SERVER_TOKEN}      # sent as ?token= (``token_name`` to rename)
      wait_time_between_pulls: 10       # seconds; default 100; 0 or null: fetch once

Each pull is a ``GET`` with ``If-None-Match: <ETag of the current model>`` (the
current model's fingerprint before the server has sent an ETag):

- ``200`` with the archive body (and an ``ETag``): the body is streamed to a
  file in the model cache, loaded and validated in a worker thread, and only
  then swapped in; the ETag is remembered for the next pull;
- ``204`` or ``304``: the model is unchanged;
- anything else (connection refused, timeout, 4xx/5xx, a corrupt or
  incompatible archive): the current model keeps serving, one line is logged
  and the next attempt follows an exponential backoff capped at the pull
  interval. With "fetch once", attempts continue until a model was loaded.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

from palaver.actions.endpoint import EndpointSettings, HttpClient
from palaver.errors import (
    ConfigError,
    ModelError,
    ModelStorageError,
    ModelStorageUnavailableError,
    PalaverError,
)
from palaver.storage.archive import ARCHIVE_SUFFIX, read_metadata
from palaver.storage.backoff import DEFAULT_MAX_DELAY, Backoff
from palaver.storage.files import model_cache_dir, remove_file, write_stream

if TYPE_CHECKING:
    from palaver.core.model import LoadedModel
    from palaver.server.runtime import Runtime

logger = logging.getLogger(__name__)

SOURCE = "model_server"
SECTION = "models"
DEFAULT_WAIT_TIME_BETWEEN_PULLS = 100.0
"""Seconds between pulls when endpoints.yml does not say (Rasa's default)."""

CHUNK_BYTES = 256 * 1024
_OWN_KEYS = frozenset({"wait_time_between_pulls", "type"})

Sleep = Callable[[float], Awaitable[None]]


class PullResult(enum.Enum):
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class ModelTarget(Protocol):
    """What the poller needs from the runtime: the current model and a way to load one."""

    not_ready_reason: str

    @property
    def model_or_none(self) -> LoadedModel | None: ...

    async def load_model_file(
        self, path: str | Path, source: str, origin: str | None = None
    ) -> LoadedModel: ...


def _wait_time(config: Mapping[str, Any]) -> float | None:
    if "wait_time_between_pulls" not in config:
        return DEFAULT_WAIT_TIME_BETWEEN_PULLS
    value = config["wait_time_between_pulls"]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(
            f"{SECTION}: 'wait_time_between_pulls' has value {value!r}. "
            "Not a non-negative number of seconds."
        )
    return float(value) or None


@dataclass(frozen=True)
class ModelServerSettings:
    """The ``models`` section: an HTTP endpoint plus the pull interval.

    Attributes:
        endpoint: URL, token, headers, basic auth, CA file and the connect/read
            timeout (per socket operation: a large archive may take longer in total).
        wait_time_between_pulls: seconds between pulls, or None to fetch once.
    """

    endpoint: EndpointSettings
    wait_time_between_pulls: float | None = DEFAULT_WAIT_TIME_BETWEEN_PULLS

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ModelServerSettings:
        """Validate the ``models`` section; errors name the key and the value."""
        endpoint = EndpointSettings.from_config(config, SECTION)
        unknown = sorted(set(endpoint.extra) - _OWN_KEYS)
        if unknown:
            raise ConfigError(
                f"{SECTION}: unknown key(s) {unknown}. Valid keys: url, token, token_name, "
                "headers, params, basic_auth, cafile, timeout, wait_time_between_pulls."
            )
        return cls(endpoint=endpoint, wait_time_between_pulls=_wait_time(config))

    @property
    def display_url(self) -> str:
        """The URL without its query string (which may hold a token)."""
        return self.endpoint.url.split("?", 1)[0]


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ModelServerPoller:
    """Pulls the model from a model server and keeps it current.

    Args:
        settings: the validated ``models`` section.
        target: the runtime (anything with ``model_or_none`` and ``load_model_file``).
        http: the process-wide pooled HTTP client.
        cache_dir: where downloaded archives are written.
        sleep: injectable for tests.
    """

    def __init__(
        self,
        settings: ModelServerSettings,
        target: ModelTarget,
        http: HttpClient,
        cache_dir: Path,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._target = target
        self._http = http
        self._cache_dir = cache_dir
        self._sleep = sleep
        self._backoff = Backoff(cap=settings.wait_time_between_pulls or DEFAULT_MAX_DELAY)
        self._etag: str | None = None
        self._archive: Path | None = None
        self._last_pull_at: float | None = None
        self._last_update_at: float | None = None
        self._last_error: str | None = None
        self._rejected = 0

    @classmethod
    def from_runtime(
        cls, runtime: Runtime, config: Mapping[str, Any] | None = None
    ) -> ModelServerPoller:
        """A poller for ``config`` (default: the ``models`` section of endpoints.yml)."""
        section = config if config is not None else runtime.endpoints.models
        if not section:
            raise ConfigError(f"No '{SECTION}' section: there is no model server to poll.")
        return cls(
            ModelServerSettings.from_config(section),
            runtime,
            runtime.http_client,
            model_cache_dir() / "model-server",
        )

    @property
    def etag(self) -> str | None:
        """The ETag of the last model this poller fetched (None before the first)."""
        return self._etag

    # ------------------------------------------------------------- the loop
    async def run(self, first_delay: float = 0.0) -> None:
        """Pull until cancelled (or, with "fetch once", until a model is loaded).

        Args:
            first_delay: seconds to wait before the first pull (after a pull
                made by the caller, e.g. for ``PUT /model``).
        """
        if first_delay > 0:
            await self._sleep(first_delay)
        while True:
            delay = await self.attempt()
            if delay is None:
                return
            await self._sleep(delay)

    async def attempt(self) -> float | None:
        """One pull; returns the seconds to wait before the next, or None to stop."""
        try:
            await self.pull()
        except PalaverError as exc:  # ModelError, or ConfigError for an unreadable cafile
            delay = self._backoff.next_delay()
            self._last_error = str(exc)
            current = self._target.model_or_none
            if current is None:
                self._target.not_ready_reason = (
                    f"waiting for a model from the model server {self.settings.display_url} "
                    f"(last attempt: {exc})"
                )
            logger.warning(
                "model server %s: %s; %s; next attempt in %.1fs",
                self.settings.display_url,
                exc,
                f"model {current.metadata.model_id} keeps serving" if current else "no model yet",
                delay,
            )
            return delay
        self._backoff.reset()
        self._last_error = None
        return self.settings.wait_time_between_pulls

    # ------------------------------------------------------------- one pull
    async def pull(self) -> PullResult:
        """Ask the server once; load and swap in a new model if there is one.

        Raises:
            ModelStorageUnavailableError: the server could not be reached or failed (5xx).
            ModelStorageError: any other refusal, or the archive could not be stored.
            ModelError: the archive was rejected (corrupt or incompatible).
        """
        self._last_pull_at = time.time()
        sent_etag = self._etag or self._current_fingerprint()
        archive, etag = await self._download(sent_etag)
        if archive is None:
            if sent_etag is None:
                raise ModelStorageError("the server has no model to serve yet (no content)")
            return PullResult.UNCHANGED
        return await self._install(archive, etag)

    def _current_fingerprint(self) -> str | None:
        model = self._target.model_or_none
        return model.metadata.fingerprint if model is not None else None

    async def _request_options(self, etag: str | None) -> dict[str, Any]:
        endpoint = self.settings.endpoint
        headers = dict(endpoint.headers)
        if etag:
            headers["If-None-Match"] = etag
        ssl_arg: ssl.SSLContext | bool = True
        if endpoint.cafile:
            ssl_arg = await self._http.load_ca(endpoint.cafile)
        return {
            "headers": headers,
            "params": endpoint.query_params(),
            "auth": aiohttp.BasicAuth(*endpoint.basic_auth) if endpoint.basic_auth else None,
            "ssl": ssl_arg,
            # Per socket operation, not in total: a large archive may take a while.
            "timeout": aiohttp.ClientTimeout(
                total=None, sock_connect=endpoint.timeout, sock_read=endpoint.timeout
            ),
        }

    async def _session(self) -> aiohttp.ClientSession:
        session = self._http.session
        if session is None or session.closed:
            await self._http.start()
            session = self._http.session
        assert session is not None
        return session

    async def _download(self, sent_etag: str | None) -> tuple[Path | None, str | None]:
        """GET the model; (archive file, ETag), or (None, None) when unchanged."""
        session = await self._session()
        options = await self._request_options(sent_etag)
        target = self._cache_dir / f"model-{uuid.uuid4().hex}{ARCHIVE_SUFFIX}"
        try:
            async with session.get(self.settings.endpoint.url, **options) as response:
                etag = response.headers.get("ETag")
                if response.status in (204, 304) or (
                    response.status == 200 and etag is not None and etag == self._etag
                ):
                    return None, None
                self._check_status(response.status)
                await write_stream(response.content.iter_chunked(CHUNK_BYTES), target)
        except aiohttp.ClientError as exc:
            raise ModelStorageUnavailableError(f"download failed: {_describe(exc)}") from exc
        except TimeoutError as exc:
            raise ModelStorageUnavailableError("download timed out") from exc
        except OSError as exc:
            raise ModelStorageError(
                f"cannot write the archive into {self._cache_dir}: {_describe(exc)}"
            ) from exc
        return target, etag

    @staticmethod
    def _check_status(status: int) -> None:
        if status == 200:
            return
        if status >= 500 or status == 429:
            raise ModelStorageUnavailableError(f"the server answered HTTP {status}")
        raise ModelStorageError(f"the server answered HTTP {status}")

    async def _install(self, archive: Path, etag: str | None) -> PullResult:
        """Validate, load and swap in ``archive``; a rejected archive is deleted."""
        try:
            if await self._same_as_current(archive):
                await remove_file(archive)
                self._etag = etag or self._current_fingerprint()
                return PullResult.UNCHANGED
            model = await self._target.load_model_file(
                archive, source=SOURCE, origin=self.settings.display_url
            )
        except ModelError as exc:
            self._rejected += 1
            await remove_file(archive)
            raise ModelError(f"rejected the served archive (ETag {etag}): {exc}") from exc
        previous, self._archive = self._archive, archive
        await remove_file(previous)
        self._etag = etag or model.metadata.fingerprint
        self._last_update_at = time.time()
        return PullResult.UPDATED

    async def _same_as_current(self, archive: Path) -> bool:
        """Whether ``archive`` holds the model already serving (a new ETag, same model)."""
        current = self._current_fingerprint()
        if current is None:
            return False
        try:
            metadata = await asyncio.to_thread(read_metadata, archive)
        except ModelError:
            return False  # loading it reports (and counts) the failure
        return metadata.fingerprint == current

    # --------------------------------------------------------------- status
    def status(self) -> dict[str, Any]:
        """For ``/status``: where the poller pulls from and how the last pull went."""
        return {
            "url": self.settings.display_url,
            "wait_time_between_pulls": self.settings.wait_time_between_pulls,
            "etag": self._etag,
            "last_pull_at": self._last_pull_at,
            "last_update_at": self._last_update_at,
            "consecutive_failures": self._backoff.failures,
            "rejected_archives": self._rejected,
            "last_error": self._last_error,
        }
