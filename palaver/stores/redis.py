"""Redis tracker store (redis.asyncio; loads and appends over one pipelined connection).

Keys, under ``key_prefix`` (default ``palaver:``):

* ``events:<sender_id>``: a list of JSON events, appended with ``RPUSH``;
* ``meta:<sender_id>``: a hash with ``start`` (list index of the latest
  ``session_started`` event) and ``fence`` (highest fence accepted);
* ``senders``: a set of sender ids, scanned by ``keys()``.

An append is one Lua script (fence check, event count check, ``RPUSH``,
session pointer, TTL refresh), so it is atomic and a stale writer cannot slip
in between check and write. A load is one script too: ``LRANGE events
start -1``, reading only the latest session (Redis walks a long list from
its nearer end, so the cost is that of the tail, not of the whole
conversation). With ``record_exp`` both keys expire that many seconds after
the last append; expired ids are pruned from ``senders`` by ``keys()``.

Loads and appends, the commands of every turn, go over one shared connection
(``palaver.redis_mux``: the commands of one event-loop round in one write);
everything else uses redis-py's pool.

Not for Redis Cluster: the scripts touch several keys without hash tags.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import unquote, urlsplit

import redis.exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from palaver.errors import (
    ConfigError,
    ConversationChangedError,
    StoreError,
    StoreUnavailableError,
)
from palaver.redis_mux import RedisMultiplexer, address_of, hiredis_available
from palaver.stores.base import ConversationVersion, EventDict, StoredConversation
from palaver.stores.memory import (
    ConfigReader,
    decode_event,
    encode_events,
    mask,
    retry_unavailable,
    session_start_offset,
    stale_write,
)

logger = logging.getLogger(__name__)

SECTION = "tracker_store"
_CONFIG_KEYS = (
    "url", "host", "port", "db", "username", "password", "use_ssl", "ssl_keyfile",
    "ssl_certfile", "ssl_ca_certs", "key_prefix", "record_exp", "socket_timeout",
    "max_connections", "connect_retries", "retry_delay",
)  # fmt: skip
_SCAN_BATCH = 500

# KEYS: events, meta, senders. ARGV: sender_id, fence or "", ttl, session offset
# or "", expected total or "", events... Returns {1, events before} when
# written, {0, stored fence} for a stale fence, {-1, events now} for a count
# that is not the expected one.
_APPEND_LUA = """
local fence = ARGV[2]
if fence ~= '' then
  local stored = redis.call('HGET', KEYS[2], 'fence')
  if stored and tonumber(stored) > tonumber(fence) then
    return {0, stored}
  end
end
local before = redis.call('LLEN', KEYS[1])
if ARGV[5] ~= '' and before ~= tonumber(ARGV[5]) then
  return {-1, before}
end
for i = 6, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], 'start', before + tonumber(ARGV[4]))
end
if fence ~= '' then
  redis.call('HSET', KEYS[2], 'fence', fence)
end
redis.call('SADD', KEYS[3], ARGV[1])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return {1, before}
"""

# KEYS: events, meta. ARGV: "1" for the full conversation. Returns {total, {events...}}.
_LOAD_LUA = """
local total = redis.call('LLEN', KEYS[1])
if total == 0 then
  return {0, {}}
end
local start = 0
if ARGV[1] ~= '1' then
  start = tonumber(redis.call('HGET', KEYS[2], 'start') or '0')
end
return {total, redis.call('LRANGE', KEYS[1], start, -1)}
"""

# KEYS: events, meta. Returns {event count, fence or false}: the version, atomically.
_VERSION_LUA = """
return {redis.call('LLEN', KEYS[1]), redis.call('HGET', KEYS[2], 'fence')}
"""

# KEYS: senders. ARGV: events key prefix, sender ids... Returns the ids whose
# events still exist and removes the others (expired through record_exp).
_PRUNE_LUA = """
local live = {}
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 1 then
    live[#live + 1] = ARGV[i]
  else
    redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return live
"""

# Failures of the connection itself; an auth failure is a ConnectionError
# subclass in redis-py but a misconfiguration here, so it is excluded below.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,  # failover in progress
    OSError,
    TimeoutError,
)
_MISCONFIGURED: tuple[type[BaseException], ...] = (
    redis_errors.AuthenticationError,
    redis_errors.AuthorizationError,
)


@dataclass(frozen=True, slots=True)
class RedisStoreSettings:
    """``endpoints.yml`` keys as Rasa's Redis tracker store; ``url`` is a host or a DSN."""

    host: str = "localhost"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    use_ssl: bool = False
    ssl_keyfile: str | None = None
    ssl_certfile: str | None = None
    ssl_ca_certs: str | None = None
    key_prefix: str = "palaver:"
    record_exp: int | None = None
    socket_timeout: float = 5.0
    max_connections: int = 50
    connect_retries: int = 5
    retry_delay: float = 1.0

    def __repr__(self) -> str:
        return (
            f"RedisStoreSettings(host={self.host!r}, port={self.port}, db={self.db}, "
            f"username={self.username!r}, password={mask(self.password)!r}, "
            f"use_ssl={self.use_ssl}, key_prefix={self.key_prefix!r}, "
            f"record_exp={self.record_exp})"
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}/{self.db}"

    @classmethod
    def from_dsn(cls, dsn: str) -> Self:
        """Parse ``redis://[user:password@]host[:port][/db]`` (``rediss://`` for TLS)."""
        parts = urlsplit(dsn)
        if parts.scheme not in {"redis", "rediss"}:
            raise ConfigError(
                f"Config '{SECTION}.url' has value '{parts.scheme}://...'. "
                "Not a valid Redis DSN (redis:// or rediss://)."
            )
        db_text = parts.path.strip("/") or "0"
        try:
            port = parts.port or 6379
            db = int(db_text)
        except ValueError as exc:
            raise ConfigError(
                f"Config '{SECTION}.url' has an invalid port or db '{db_text}'."
            ) from exc
        return cls(
            host=unquote(parts.hostname or "localhost"),
            port=port,
            db=db,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            use_ssl=parts.scheme == "rediss",
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        reader = ConfigReader(SECTION, config, _CONFIG_KEYS)
        url = reader.get_str("url", None) or reader.get_str("host", None)
        base = cls.from_dsn(url) if url and "://" in url else cls(host=url or "localhost")
        prefix = reader.get_str("key_prefix", base.key_prefix)
        if prefix and not prefix.endswith(":"):
            prefix += ":"
        record_exp = reader.get_int("record_exp", None, minimum=0)
        return cls(
            host=base.host,
            port=reader.get_int("port", base.port, minimum=1),
            db=reader.get_int("db", base.db, minimum=0),
            username=reader.get_str("username", base.username),
            password=reader.get_str("password", base.password),
            use_ssl=reader.get_bool("use_ssl", base.use_ssl),
            ssl_keyfile=reader.get_str("ssl_keyfile", None),
            ssl_certfile=reader.get_str("ssl_certfile", None),
            ssl_ca_certs=reader.get_str("ssl_ca_certs", None),
            key_prefix=prefix,
            record_exp=record_exp or None,
            socket_timeout=reader.get_float("socket_timeout", 5.0, minimum=0.1),
            max_connections=reader.get_int("max_connections", 50, minimum=1),
            connect_retries=reader.get_int("connect_retries", 5, minimum=1),
            retry_delay=reader.get_float("retry_delay", 1.0, minimum=0.0),
        )


class RedisTrackerStore:
    """Conversation events in Redis lists; see the module docstring for the layout."""

    def __init__(self, settings: RedisStoreSettings) -> None:
        self.settings = settings
        self._client: Redis | None = None
        self._mux: RedisMultiplexer | None = None  # loads and appends, see palaver.redis_mux
        self._start_lock = asyncio.Lock()
        self._senders_key = f"{settings.key_prefix}senders"
        self._append_script: Any = None  # AsyncScript objects, registered by start()
        self._load_script: Any = None
        self._prune_script: Any = None
        self._version_script: Any = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        return cls(RedisStoreSettings.from_config(config))

    def __repr__(self) -> str:
        return f"RedisTrackerStore({self.settings!r})"

    def __del__(self) -> None:
        if getattr(self, "_client", None) is not None:
            warnings.warn(f"{self!r} was never stopped", ResourceWarning, stacklevel=1)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and PING, with bounded retries while the server is unreachable."""
        async with self._start_lock:
            if self._client is not None:
                return
            client = self._new_client()
            try:
                await self._ping_with_retries(client)
            except BaseException:
                await client.aclose()
                raise
            self._client = client
            self._append_script = client.register_script(_APPEND_LUA)
            self._load_script = client.register_script(_LOAD_LUA)
            self._prune_script = client.register_script(_PRUNE_LUA)
            self._version_script = client.register_script(_VERSION_LUA)
            if hiredis_available():
                self._mux = RedisMultiplexer(
                    address_of(self.settings), self.settings.socket_timeout
                )

    async def stop(self) -> None:
        client, self._client = self._client, None
        mux, self._mux = self._mux, None
        if mux is not None:
            await mux.close()
        if client is not None:
            with contextlib.suppress(*_UNAVAILABLE):
                await client.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _new_client(self) -> Redis:
        s = self.settings
        return Redis(
            host=s.host,
            port=s.port,
            db=s.db,
            username=s.username,
            password=s.password,
            ssl=s.use_ssl,
            ssl_keyfile=s.ssl_keyfile,
            ssl_certfile=s.ssl_certfile,
            ssl_ca_certs=s.ssl_ca_certs,
            socket_timeout=s.socket_timeout,
            socket_connect_timeout=s.socket_timeout,
            max_connections=s.max_connections,
            # No transparent retries: an append whose reply was lost must not be
            # sent twice. Stale pooled connections are replaced by the pool itself.
            retry=Retry(NoBackoff(), 0),
        )

    async def _eval(self, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a registered script: over the multiplexed connection when there is one."""
        mux = self._mux
        if mux is None:
            return await script(keys=keys, args=args)
        return await mux.run_script(script.sha, script.script, keys, args)

    async def _ping_with_retries(self, client: Redis) -> None:
        async def ping() -> None:
            with self._errors("connect", None):
                await client.ping()

        await retry_unavailable(
            f"Redis tracker store at {self.settings.address}",
            ping,
            attempts=self.settings.connect_retries,
            delay=self.settings.retry_delay,
            log=logger,
        )

    # -- contract --------------------------------------------------------------------

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        self._require_client()
        with self._errors("load", sender_id):
            total, raw_events = await self._eval(
                self._load_script,
                [self._events_key(sender_id), self._meta_key(sender_id)],
                ["1" if full else "0"],
            )
        if not total:
            return None
        return StoredConversation(
            events=[decode_event(raw) for raw in raw_events], total_events=int(total)
        )

    async def version(self, sender_id: str) -> ConversationVersion | None:
        """Event count and fence of a conversation: ``LLEN`` + ``HGET`` in one script."""
        self._require_client()
        with self._errors("version", sender_id):
            total, fence = await self._eval(
                self._version_script,
                [self._events_key(sender_id), self._meta_key(sender_id)],
                [],
            )
        if not total:
            return None
        return ConversationVersion(int(total), None if fence is None else int(fence))

    async def append(
        self,
        sender_id: str,
        events: Sequence[EventDict],
        *,
        fence: int | None = None,
        expected_total: int | None = None,
    ) -> None:
        encoded = encode_events(sender_id, events, columns=False)
        if not encoded:
            return
        self._require_client()
        offset = session_start_offset(encoded)
        args: list[bytes | str | int] = [
            sender_id,
            "" if fence is None else fence,
            self.settings.record_exp or 0,
            "" if offset is None else offset,
            "" if expected_total is None else expected_total,
        ]
        args.extend(event.data for event in encoded)
        with self._errors("append", sender_id):
            accepted, detail = await self._eval(
                self._append_script,
                [self._events_key(sender_id), self._meta_key(sender_id), self._senders_key],
                args,
            )
        if accepted == 1:
            return
        if accepted == 0:
            raise stale_write(sender_id, int(detail), fence)
        raise ConversationChangedError(sender_id, int(expected_total or 0), int(detail))

    async def keys(self) -> AsyncIterator[str]:
        client = self._require_client()
        seen: set[str] = set()  # SSCAN may return an id twice
        cursor = 0
        while True:
            with self._errors("keys", None):
                cursor, members = await client.sscan(
                    self._senders_key, cursor=cursor, count=_SCAN_BATCH
                )
                live = await self._prune(members)
            for raw in live:
                sender_id = raw.decode()
                if sender_id not in seen:
                    seen.add(sender_id)
                    yield sender_id
            if cursor == 0:
                return

    async def _prune(self, members: Sequence[bytes | str]) -> list[bytes]:
        if not members:
            return []
        live: list[bytes] = await self._prune_script(
            keys=[self._senders_key], args=[self._events_key(""), *members]
        )
        return live

    async def delete(self, sender_id: str) -> None:
        client = self._require_client()
        with self._errors("delete", sender_id):
            async with client.pipeline(transaction=True) as pipe:
                pipe.delete(self._events_key(sender_id), self._meta_key(sender_id))
                pipe.srem(self._senders_key, sender_id)
                await pipe.execute()

    # -- helpers -------------------------------------------------------------------

    def _events_key(self, sender_id: str) -> str:
        return f"{self.settings.key_prefix}events:{sender_id}"

    def _meta_key(self, sender_id: str) -> str:
        return f"{self.settings.key_prefix}meta:{sender_id}"

    def _require_client(self) -> Redis:
        if self._client is None:
            raise StoreError("Redis tracker store is not started; call start() first.")
        return self._client

    @contextlib.contextmanager
    def _errors(self, operation: str, sender_id: str | None) -> Iterator[None]:
        where = f" for conversation '{sender_id}'" if sender_id is not None else ""
        try:
            yield
        except StoreError:
            raise
        except _MISCONFIGURED as exc:
            raise StoreError(
                f"Redis tracker store at {self.settings.address} refused {operation}: "
                f"{type(exc).__name__}: {exc} (check username/password/ACL)"
            ) from exc
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(
                f"Redis tracker store at {self.settings.address} unavailable during "
                f"{operation}{where}: {type(exc).__name__}: {exc}"
            ) from exc
        except redis_errors.RedisError as exc:
            raise StoreError(
                f"Redis tracker store {operation}{where} failed: {type(exc).__name__}: {exc}"
            ) from exc
