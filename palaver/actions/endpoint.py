"""HTTP endpoints (action server, NLG server) over one pooled aiohttp session.

:class:`EndpointSettings` is the validated form of an ``endpoints.yml``
section such as ``action_endpoint`` or ``nlg``. :class:`HttpClient` owns the
single ``aiohttp.ClientSession`` the process uses for them: create one at
startup, share it, and stop it at shutdown.

Retries are bounded and happen only when the connection could not be opened
(the request never reached the server), so a request is never processed twice.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp

from palaver.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
"""Seconds for one request, connect to last byte. Rasa waits 5 minutes, which
holds the conversation lock for that long; slower actions should set
``timeout`` explicitly."""

DEFAULT_RETRIES = 2
"""Extra attempts after a failed connect (never after the request was sent)."""

RETRY_DELAY = 0.2
"""Seconds before the first retry; doubles for each further one."""

_KNOWN_KEYS = frozenset(
    {
        "url",
        "type",
        "token",
        "token_name",
        "headers",
        "params",
        "basic_auth",
        "cafile",
        "timeout",
        "retries",
        "compress",
    }
)


def _mapping(config: Mapping[str, Any], key: str, what: str) -> dict[str, str]:
    value = config.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what}: '{key}' has value {value!r}. Not a valid mapping.")
    return {str(k): str(v) for k, v in value.items()}


def _basic_auth(config: Mapping[str, Any], what: str) -> tuple[str, str] | None:
    value = config.get("basic_auth")
    if value is None:
        return None
    if not isinstance(value, Mapping) or "username" not in value or "password" not in value:
        raise ConfigError(f"{what}: 'basic_auth' needs the keys 'username' and 'password'.")
    return str(value["username"]), str(value["password"])


def _positive_float(config: Mapping[str, Any], key: str, default: float, what: str) -> float:
    value = config.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: '{key}' has value {value!r}. Not a valid number.") from exc
    if number <= 0:
        raise ConfigError(f"{what}: '{key}' has value {value!r}. It must be positive.")
    return number


def _non_negative_int(config: Mapping[str, Any], key: str, default: int, what: str) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{what}: '{key}' has value {value!r}. Not a non-negative integer.")
    return value


@dataclass(frozen=True, repr=False)
class EndpointSettings:
    """One HTTP endpoint from endpoints.yml (Rasa's ``EndpointConfig`` keys).

    ``token`` is sent as the query parameter ``token_name`` (default
    ``token``), as Rasa does. Keys this class does not know stay in ``extra``
    for the component that owns the section.
    """

    url: str
    token: str | None = None
    token_name: str = "token"
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    basic_auth: tuple[str, str] | None = None
    cafile: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    compress: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], what: str = "endpoint") -> EndpointSettings:
        """Validate one endpoints.yml section; errors name the section and key.

        Args:
            config: the section's mapping (``url`` is required).
            what: section name used in error messages, e.g. ``action_endpoint``.
        """
        url = config.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"{what}: 'url' has value {url!r}. Not a valid http(s) URL.")
        token = config.get("token")
        cafile = config.get("cafile")
        return cls(
            url=url,
            token=None if token is None else str(token),
            token_name=str(config.get("token_name") or "token"),
            headers=_mapping(config, "headers", what),
            params=_mapping(config, "params", what),
            basic_auth=_basic_auth(config, what),
            cafile=None if cafile is None else str(cafile),
            timeout=_positive_float(config, "timeout", DEFAULT_TIMEOUT, what),
            retries=_non_negative_int(config, "retries", DEFAULT_RETRIES, what),
            compress=bool(config.get("compress", False)),
            extra={k: v for k, v in config.items() if k not in _KNOWN_KEYS},
        )

    def query_params(self) -> dict[str, str]:
        params = dict(self.params)
        if self.token is not None:
            params[self.token_name] = self.token
        return params

    def __repr__(self) -> str:
        auth = None if self.basic_auth is None else (self.basic_auth[0], "***")
        return (
            f"EndpointSettings(url={self.url!r}, token={'***' if self.token else None}, "
            f"headers={sorted(self.headers)}, basic_auth={auth}, cafile={self.cafile!r}, "
            f"timeout={self.timeout}, retries={self.retries})"
        )


@dataclass(frozen=True)
class HttpReply:
    """Status and raw body of one HTTP response."""

    status: int
    body: bytes


class HttpClient:
    """The process-wide pooled HTTP client (one ``aiohttp.ClientSession``).

    ``start()`` opens the session (it also opens lazily on first use);
    ``stop()`` closes it and is safe to call twice. Only the server's startup
    and shutdown listeners should call them.

    Args:
        connection_limit: maximum simultaneous connections over all hosts.
    """

    def __init__(self, connection_limit: int = 100) -> None:
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None
        self._ssl_contexts: dict[str, ssl.SSLContext] = {}

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The open session, if any (tests use it to check reuse)."""
        return self._session

    async def start(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connection_limit)
            self._session = aiohttp.ClientSession(connector=connector)

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> HttpClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __del__(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None and not session.closed:
            warnings.warn(
                f"Unclosed {type(self).__name__}: call stop() at shutdown",
                ResourceWarning,
                stacklevel=1,
            )

    async def load_ca(self, cafile: str) -> ssl.SSLContext:
        """The SSL context trusting ``cafile`` (loaded once, off the event loop).

        Call it at startup to fail early on a bad file.

        Raises:
            ConfigError: the file cannot be read or is not a CA bundle.
        """
        context = self._ssl_contexts.get(cafile)
        if context is None:
            try:
                # Reading the CA file is blocking I/O: keep it off the event loop.
                context = await asyncio.to_thread(ssl.create_default_context, cafile=cafile)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"Cannot load the CA file '{cafile}': {exc}") from exc
            self._ssl_contexts[cafile] = context
        return context

    async def post(
        self,
        settings: EndpointSettings,
        body: bytes,
        headers: Mapping[str, str],
        url: str | None = None,
    ) -> HttpReply:
        """POST ``body`` to the endpoint; returns status and body of any reply.

        Raises:
            aiohttp.ClientConnectorError: no connection after all retries.
            aiohttp.ClientError: the exchange failed after the request was sent.
            asyncio.TimeoutError: no complete reply within ``settings.timeout``.
        """
        if self._session is None or self._session.closed:
            await self.start()
        session = self._session
        assert session is not None
        request_headers = {**settings.headers, **headers}
        auth = None if settings.basic_auth is None else aiohttp.BasicAuth(*settings.basic_auth)
        ssl_arg: ssl.SSLContext | bool = True
        if settings.cafile:
            ssl_arg = await self.load_ca(settings.cafile)
        timeout = aiohttp.ClientTimeout(total=settings.timeout)
        target = url or settings.url
        attempt = 0
        while True:
            try:
                async with session.post(
                    target,
                    data=body,
                    headers=request_headers,
                    params=settings.query_params(),
                    auth=auth,
                    ssl=ssl_arg,
                    timeout=timeout,
                ) as response:
                    return HttpReply(response.status, await response.read())
            except aiohttp.ClientConnectorError as exc:
                # The connection was never opened: retrying cannot run anything twice.
                # A certificate problem will not go away, so it is not retried.
                if attempt >= settings.retries or isinstance(exc, aiohttp.ClientSSLError):
                    raise
                delay = RETRY_DELAY * (2**attempt)
                attempt += 1
                logger.warning(
                    "cannot connect to %s (%s); retry %d of %d in %.1fs",
                    target,
                    exc.os_error,
                    attempt,
                    settings.retries,
                    delay,
                )
                await asyncio.sleep(delay)
