"""Redis ticket lock: FIFO per conversation across replicas.

``lock()`` takes a ticket (one Lua script: ``INCR`` + queue + claim when the
queue was empty, so the uncontended case costs one round trip to acquire and
one to release). A waiter sleeps until its replica is told over pub/sub that
its ticket reached the head, with a poll every ``lock_poll_interval`` as a
safety net; each poll is also the waiter's heartbeat. Dead heads (a crashed
holder whose key expired, a waiter whose heartbeat lapsed) are skipped by
the next script that touches the queue. See ``palaver.locks.scripts`` for the
key layout.

While a lock is held, one background task per store extends every held lock
each ``lock_lifetime / 3`` seconds (pipelined); a frozen or killed process
stops extending, and the lock expires after ``lock_lifetime``.

The ticket scripts of all turns share one connection (``palaver.redis_mux``):
what the turns of one event-loop round ask for goes out in one write.

Commands are not retried by the client: replaying a ticket script whose reply
was lost would queue a second ticket behind the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import uuid
import warnings
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from palaver.errors import ConfigError, LockError, LockLostError, LockTimeoutError
from palaver.locks import scripts
from palaver.locks.base import LockHandle
from palaver.redis_mux import RedisMultiplexer, address_of, hiredis_available

__all__ = ["RedisLockSettings", "RedisLockStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_CONNECT_ATTEMPTS = 3
_CONNECT_BACKOFF = 0.25  # seconds, doubled after each failed attempt
_EARLY_WAKEUPS_MAX = 4096
_REDIS_FAILURES = (RedisError, OSError)

# LEAVE / POLL / REFRESH results (see palaver.locks.scripts).
_GONE, _HELD, _QUEUED = 0, 1, 2
_SKIPPED = -1


def _coerce(key: str, raw: Any, kind: type) -> Any:
    """Cast one config value; errors name the key and the value."""
    if raw is None and kind is not bool:
        return None
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if kind is int and isinstance(raw, float) and not raw.is_integer():
            raise ValueError(raw)
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Config '{key}' has value '{raw}'. Not a valid {kind.__name__}."
        ) from exc


@dataclass(frozen=True, slots=True, repr=False)
class RedisLockSettings:
    """Settings of ``RedisLockStore``; config keys follow Rasa's ``lock_store``.

    Attributes:
        host: Redis host (config key ``url``; a ``redis://`` URL is parsed too).
        port, db, username, password: connection.
        use_ssl, ssl_certfile, ssl_keyfile, ssl_ca_certs: TLS.
        socket_timeout: seconds for connecting and for each command.
        key_prefix: namespace; keys are ``<key_prefix>:lock:<conversation>:...``.
        lock_lifetime: seconds a lock lives without being extended (a crashed
            holder blocks its conversation at most this long).
        lock_wait_timeout: default seconds ``lock()`` waits.
        lock_poll_interval: seconds between a waiter's safety-net polls.
    """

    host: str = "localhost"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    use_ssl: bool = False
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_ca_certs: str | None = None
    socket_timeout: float = 10.0
    key_prefix: str = "palaver"
    lock_lifetime: float = 60.0
    lock_wait_timeout: float = 60.0
    lock_poll_interval: float = 0.2

    def __post_init__(self) -> None:
        for name in ("socket_timeout", "lock_lifetime", "lock_poll_interval"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"Config '{name}' has value '{value}'. It must be > 0 seconds.")
        if not math.isfinite(self.lock_wait_timeout) or self.lock_wait_timeout < 0:
            raise ConfigError(
                f"Config 'lock_wait_timeout' has value '{self.lock_wait_timeout}'. "
                "It must be >= 0 seconds."
            )
        if self.lock_poll_interval * 3 > self.lock_lifetime:
            raise ConfigError(
                f"Config 'lock_poll_interval' has value '{self.lock_poll_interval}'. "
                f"It must be at most a third of lock_lifetime ({self.lock_lifetime})."
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"Config 'port' has value '{self.port}'. Not a valid TCP port.")
        if self.db < 0:
            raise ConfigError(f"Config 'db' has value '{self.db}'. It must be >= 0.")
        if not self.host:
            raise ConfigError("Config 'url' is empty. Give the Redis host or a redis:// URL.")

    def __repr__(self) -> str:
        shown = []
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "password" and value is not None:
                value = "***"
            shown.append(f"{field.name}={value!r}")
        return f"RedisLockSettings({', '.join(shown)})"

    @classmethod
    def option_names(cls) -> list[str]:
        """Config keys ``from_config`` accepts."""
        return sorted([*(f.name for f in fields(cls) if f.name != "host"), "url", "host"])

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RedisLockSettings:
        """Build from a ``lock_store`` endpoint mapping (without ``type``).

        ``url`` is the host as in Rasa, or a full ``redis://``/``rediss://``
        URL whose parts explicit keys override.
        """
        valid = set(cls.option_names())
        unknown = sorted(set(config) - valid)
        if unknown:
            raise ConfigError(
                f"Unknown redis lock store option(s) {unknown}. "
                f"Valid options: {', '.join(sorted(valid))}."
            )
        if "url" in config and "host" in config:
            raise ConfigError("Give the Redis lock store either 'url' or 'host', not both.")
        values = dict(config)
        url = values.pop("url", None) or values.pop("host", None)
        base = cls()
        if isinstance(url, str) and "://" in url:
            base = cls.from_dsn(url)
        elif url is not None:
            values["host"] = str(url)
        return replace(base, **_typed(values))

    @classmethod
    def from_dsn(cls, dsn: str) -> RedisLockSettings:
        """Parse ``redis[s]://[user[:password]@]host[:port][/db][?option=value...]``."""
        parts = urlsplit(dsn)
        if parts.scheme not in {"redis", "rediss"}:
            raise ConfigError(
                f"Lock store URL '{_mask_dsn(dsn)}' must start with redis:// or rediss://."
            )
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"Lock store URL '{_mask_dsn(dsn)}' has an invalid port.") from exc
        values: dict[str, Any] = {"use_ssl": parts.scheme == "rediss"}
        if parts.hostname:
            values["host"] = parts.hostname
        if port is not None:
            values["port"] = port
        if parts.username:
            values["username"] = unquote(parts.username)
        if parts.password:
            values["password"] = unquote(parts.password)
        if parts.path.strip("/"):
            values["db"] = parts.path.strip("/")
        query = dict(parse_qsl(parts.query))
        unknown = sorted(set(query) - (set(_KINDS) - {"host"}))
        if unknown:
            raise ConfigError(f"Unknown redis lock store option(s) {unknown} in the URL query.")
        values.update(query)
        return cls(**_typed(values))

    @property
    def address(self) -> str:
        """``host:port/db`` for messages (no credentials)."""
        return f"{self.host}:{self.port}/{self.db}"

    @property
    def namespace(self) -> str:
        return f"{self.key_prefix.rstrip(':')}:lock:"

    @property
    def waiter_ttl(self) -> float:
        """Seconds a waiting ticket survives without a heartbeat (poll)."""
        return max(3 * self.lock_poll_interval, min(self.lock_lifetime, 5.0))


_KINDS: dict[str, type] = {
    "host": str,
    "port": int,
    "db": int,
    "username": str,
    "password": str,
    "use_ssl": bool,
    "ssl_certfile": str,
    "ssl_keyfile": str,
    "ssl_ca_certs": str,
    "socket_timeout": float,
    "key_prefix": str,
    "lock_lifetime": float,
    "lock_wait_timeout": float,
    "lock_poll_interval": float,
}


def _typed(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _coerce(key, raw, _KINDS[key]) for key, raw in values.items()}


def _note(reply: Sequence[Any]) -> str | None:
    """The previous holder's note in an ENQUEUE/POLL reply that claimed the lock."""
    if len(reply) < 3 or reply[2] is None:
        return None
    raw = reply[2]
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)


def _mask_dsn(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    return dsn.replace(f":{parts.password}@", ":***@", 1)


@dataclass(slots=True)
class _Held:
    conversation_id: str
    ticket: int
    fence: int
    lost: bool = False


class RedisLockStore:
    """FIFO ticket locks in Redis, safe across processes and replicas.

    Args:
        settings: connection and timing settings.

    Not reentrant. Use ``async with store:`` or ``start()``/``stop()``.
    """

    def __init__(self, settings: RedisLockSettings | None = None) -> None:
        self.settings = settings or RedisLockSettings()
        ns = self.settings.namespace
        self._seq_key = f"{ns}seq"
        self._channel = f"{ns}notify:{uuid.uuid4().hex}"
        self._timing = (
            round(self.settings.lock_lifetime * 1000),
            round(self.settings.waiter_ttl * 1000),
            round((self.settings.lock_lifetime + self.settings.waiter_ttl) * 2000),
        )
        self._client: Redis | None = None
        self._mux: RedisMultiplexer | None = None
        self._stopping = False
        self._pubsub: PubSub | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._held: dict[int, _Held] = {}
        self._wakeups: dict[int, asyncio.Future[None]] = {}
        self._early_wakeups: dict[int, None] = {}
        self._enqueue_turns: dict[str, asyncio.Future[None]] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RedisLockStore:
        return cls(RedisLockSettings.from_config(config))

    def __repr__(self) -> str:
        return f"RedisLockStore({self.settings!r})"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if getattr(self, "_client", None) is not None:
            _warn(f"Unclosed {self!r}; call stop()", ResourceWarning, source=self, stacklevel=1)

    @property
    def multi_process_safe(self) -> bool:
        return True

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Connect (bounded retries), subscribe to wake-ups, start extending locks."""
        if self._client is not None:
            return
        client = self._new_client()
        try:
            await self._ping(client)
            await self._load_scripts(client)
            pubsub = client.pubsub()
            await pubsub.subscribe(self._channel)
        except _REDIS_FAILURES as exc:
            await client.aclose()
            raise LockError(
                f"Redis lock store at {self.settings.address} failed to start: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        except BaseException:
            await client.aclose()
            raise
        self._client, self._pubsub = client, pubsub
        if hiredis_available():
            self._mux = RedisMultiplexer(address_of(self.settings), self.settings.socket_timeout)
        self._tasks = [
            asyncio.create_task(self._listen(pubsub), name="palaver-lock-wakeups"),
            asyncio.create_task(self._extend_forever(), name="palaver-lock-extender"),
        ]
        logger.info("lock_store.started redis %s", self.settings.address)

    async def stop(self) -> None:
        """Stop extending, give up waiting tickets, close. Held locks then expire."""
        client, pubsub = self._client, self._pubsub
        if client is None or self._stopping:
            return
        self._stopping = True
        try:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for fut in self._wakeups.values():
                if not fut.done():
                    fut.set_result(None)
            await asyncio.sleep(0)  # let woken waiters schedule their give-ups
            if self._background:
                await asyncio.wait(set(self._background), timeout=self.settings.socket_timeout)
            if self._held:
                logger.warning(
                    "lock_store.stopped_while_holding %d lock(s); they expire within %.1fs",
                    len(self._held),
                    self.settings.lock_lifetime,
                )
            if pubsub is not None:
                with contextlib.suppress(*_REDIS_FAILURES):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            if self._mux is not None:
                await self._mux.close()
            await client.aclose()
        finally:
            self._client = self._pubsub = None
            self._mux = None
            self._tasks = []
            self._stopping = False
        logger.info("lock_store.stopped redis %s", self.settings.address)

    async def __aenter__(self) -> RedisLockStore:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _new_client(self) -> Redis:
        s = self.settings
        ssl: dict[str, Any] = {}
        if s.use_ssl:
            ssl = {
                "ssl": True,
                "ssl_certfile": s.ssl_certfile,
                "ssl_keyfile": s.ssl_keyfile,
                "ssl_ca_certs": s.ssl_ca_certs,
            }
        return Redis(
            host=s.host,
            port=s.port,
            db=s.db,
            username=s.username,
            password=s.password,
            socket_timeout=s.socket_timeout,
            socket_connect_timeout=s.socket_timeout,
            retry=Retry(NoBackoff(), 0),
            **ssl,
        )

    async def _load_scripts(self, client: Redis) -> None:
        """Register and load the scripts up front, so no request pays a NOSCRIPT."""
        self._scripts = {
            name: client.register_script(getattr(scripts, name))
            for name in ("ENQUEUE", "POLL", "LEAVE", "REFRESH")
        }
        async with client.pipeline(transaction=False) as pipe:
            for script in self._scripts.values():
                pipe.script_load(script.script)
            await pipe.execute()

    async def _ping(self, client: Redis) -> None:
        delay = _CONNECT_BACKOFF
        for attempt in range(1, _CONNECT_ATTEMPTS + 1):
            try:
                await client.ping()
                return
            except _REDIS_FAILURES as exc:
                if attempt == _CONNECT_ATTEMPTS:
                    raise LockError(
                        f"Cannot reach the Redis lock store at {self.settings.address} after "
                        f"{attempt} attempts: {type(exc).__name__}: {exc}"
                    ) from exc
                logger.warning(
                    "lock_store.connect_failed attempt %d/%d at %s: %s; retrying in %.2fs",
                    attempt,
                    _CONNECT_ATTEMPTS,
                    self.settings.address,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay *= 2

    # -- public API ------------------------------------------------------------

    def lock(self, conversation_id: str, *, wait_timeout: float | None = None) -> _RedisLock:
        """Context manager holding the conversation's lock; see ``LockStore.lock``.

        On leaving, raises ``LockLostError`` if the lock expired and another
        holder may have run meanwhile (unless the body already raised: then
        the loss is logged and the body's exception propagates). A release
        that fails because Redis is unreachable is logged, not raised: the
        turn is done and the lock expires after ``lock_lifetime``.
        """
        timeout = self.settings.lock_wait_timeout if wait_timeout is None else wait_timeout
        return _RedisLock(self, conversation_id, max(timeout, 0.0))

    async def queue_length(self, conversation_id: str) -> int:
        """Tickets queued for a conversation, the holder included (0 when free)."""
        client = self._require_client(conversation_id)
        try:
            return int(await client.zcard(self._keys(conversation_id)[0]))
        except _REDIS_FAILURES as exc:
            raise self._error(exc, "inspecting", conversation_id) from exc

    # -- acquire -----------------------------------------------------------------

    async def _acquire(self, conversation_id: str, limit: float) -> LockHandle:
        loop = asyncio.get_running_loop()
        started = loop.time()
        keys = self._keys(conversation_id)
        ticket, fence, note = await self._take_ticket(conversation_id, keys)
        try:
            while not fence:
                fence, note = await self._wait_turn(conversation_id, keys, ticket, started + limit)
                if fence == _SKIPPED:
                    logger.warning(
                        "lock_store.ticket_skipped conversation=%s ticket=%d: its heartbeat "
                        "lapsed (event loop blocked?); queueing again",
                        conversation_id,
                        ticket,
                    )
                    ticket, fence, note = await self._take_ticket(conversation_id, keys)
        except TimeoutError as exc:
            self._give_up_later(conversation_id, ticket)
            raise LockTimeoutError(conversation_id, loop.time() - started) from exc
        except BaseException:
            self._give_up_later(conversation_id, ticket)
            raise
        self._held[ticket] = _Held(conversation_id, ticket, fence)
        return LockHandle(conversation_id, ticket, fence, previous_note=note)

    async def _take_ticket(
        self, conversation_id: str, keys: list[str]
    ) -> tuple[int, int, str | None]:
        """Run ENQUEUE, in ``lock()`` call order for this replica's callers.

        Returns the ticket, the fence (0 while waiting) and, when claimed, the
        previous holder's note.
        """
        previous = self._enqueue_turns.get(conversation_id)
        turn = asyncio.get_running_loop().create_future()
        self._enqueue_turns[conversation_id] = turn
        try:
            if previous is not None:
                await asyncio.shield(previous)
            args: list[str | int] = [*self._timing, self._channel]
            task = asyncio.create_task(
                self._run("ENQUEUE", "queueing for", conversation_id, keys, args)
            )
            try:
                reply = await asyncio.shield(task)
            except asyncio.CancelledError:
                # The script may still take a ticket: give it up once we know it.
                task.add_done_callback(functools.partial(self._give_up_orphan, conversation_id))
                raise
            return int(reply[0]), int(reply[1]), _note(reply)
        finally:
            turn.set_result(None)
            if self._enqueue_turns.get(conversation_id) is turn:
                del self._enqueue_turns[conversation_id]

    async def _wait_turn(
        self, conversation_id: str, keys: list[str], ticket: int, deadline: float
    ) -> tuple[int, str | None]:
        """Sleep until woken or the next poll; return the fence (or ``_SKIPPED``) and note."""
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            await self._sleep_until_woken(ticket, min(self.settings.lock_poll_interval, remaining))
            if self._stopping or self._client is None:
                raise LockError(
                    f"The Redis lock store stopped while conversation '{conversation_id}' "
                    "waited for its lock."
                )
            args = [*self._timing, ticket]
            reply = await self._run("POLL", "waiting for", conversation_id, keys, args)
            status = reply[0]
            if status == _HELD:
                return int(reply[1]), _note(reply)
            if status == _SKIPPED:
                return _SKIPPED, None

    async def _sleep_until_woken(self, ticket: int, limit: float) -> None:
        if ticket in self._early_wakeups:
            del self._early_wakeups[ticket]
            return
        fut = asyncio.get_running_loop().create_future()
        self._wakeups[ticket] = fut
        try:
            async with asyncio.timeout(limit):
                await fut
        except TimeoutError:
            pass
        finally:
            del self._wakeups[ticket]

    def _wake(self, ticket: int) -> None:
        fut = self._wakeups.get(ticket)
        if fut is not None and not fut.done():
            fut.set_result(None)
            return
        # Woken before the waiter knew its ticket (or between two sleeps).
        self._early_wakeups[ticket] = None
        if len(self._early_wakeups) > _EARLY_WAKEUPS_MAX:
            del self._early_wakeups[next(iter(self._early_wakeups))]

    # -- release / give up ---------------------------------------------------------

    async def _release(self, handle: LockHandle, body_failed: bool) -> None:
        self._held.pop(handle.ticket, None)
        keys = self._keys(handle.conversation_id)
        # A body that failed leaves no note: the next holder reads the store.
        note = "" if body_failed or handle.note is None else handle.note
        args: list[str | int] = [*self._timing, handle.ticket, note]
        try:
            status = await self._in_background(
                self._run("LEAVE", "releasing", handle.conversation_id, keys, args)
            )
        except LockError as exc:
            logger.error(
                "lock_store.release_failed conversation=%s fence=%d: %s; "
                "the lock expires within %.1fs",
                handle.conversation_id,
                handle.fence,
                exc,
                self.settings.lock_lifetime,
            )
            return
        if status == _HELD:
            return
        if status == _QUEUED:
            logger.warning(
                "lock_store.expired_without_takeover conversation=%s fence=%d: the lock "
                "expired while held, but no other holder ran",
                handle.conversation_id,
                handle.fence,
            )
            return
        error = LockLostError(
            f"The lock of conversation '{handle.conversation_id}' (fence {handle.fence}) "
            f"expired while held (not extended within {self.settings.lock_lifetime}s) and "
            "another holder may have processed the conversation meanwhile."
        )
        if body_failed:
            logger.error("lock_store.lock_lost %s", error)
            return
        raise error

    def _give_up_later(self, conversation_id: str, ticket: int) -> None:
        """Drop a ticket we stopped waiting for, without delaying the caller."""
        if self._client is None:
            return
        keys = self._keys(conversation_id)
        args = [*self._timing, ticket]
        task = asyncio.create_task(self._run("LEAVE", "giving up", conversation_id, keys, args))
        self._track(task)

    def _give_up_orphan(self, conversation_id: str, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        self._give_up_later(conversation_id, int(task.result()[0]))

    async def _in_background(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` in its own task so that cancelling the caller cannot cut it."""
        task = asyncio.create_task(coro)
        self._track(task)
        return await asyncio.shield(task)

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("lock_store.background_failed: %s", task.exception())

    # -- background tasks ----------------------------------------------------------

    async def _listen(self, pubsub: PubSub) -> None:
        """Dispatch wake-ups; on connection loss keep retrying (polls cover the gap)."""
        failures = 0
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except _REDIS_FAILURES as exc:
                failures += 1
                if failures == 1:
                    logger.warning(
                        "lock_store.wakeups_interrupted at %s: %s; waiters poll every %.2fs",
                        self.settings.address,
                        exc,
                        self.settings.lock_poll_interval,
                    )
                await asyncio.sleep(min(0.5 * failures, 5.0))
                continue
            if failures:
                logger.info("lock_store.wakeups_restored at %s", self.settings.address)
                failures = 0
            if message is not None and message.get("type") == "message":
                self._wake(int(message["data"]))

    async def _extend_forever(self) -> None:
        period = self.settings.lock_lifetime / 3
        while True:
            await asyncio.sleep(period)
            if self._held:
                await self._extend_held()

    async def _extend_held(self) -> None:
        """Extend every held lock in one pipeline; mark the ones found lost."""
        client = self._client
        held = list(self._held.values())
        if client is None or not held:
            return
        try:
            async with client.pipeline(transaction=False) as pipe:
                for item in held:
                    keys = self._keys(item.conversation_id)
                    args = [*self._timing, item.ticket, item.fence]
                    await self._scripts["REFRESH"](keys=keys, args=args, client=pipe)
                results = await pipe.execute(raise_on_error=False)
        except _REDIS_FAILURES as exc:
            logger.warning(
                "lock_store.extend_failed %d lock(s) at %s: %s",
                len(held),
                self.settings.address,
                exc,
            )
            return
        for item, result in zip(held, results, strict=True):
            if self._held.get(item.ticket) is item:  # not released meanwhile
                self._extended(item, result)

    def _extended(self, item: _Held, result: object) -> None:
        if isinstance(result, Exception):
            logger.warning(
                "lock_store.extend_failed conversation=%s: %s", item.conversation_id, result
            )
        elif result == _QUEUED:
            logger.warning(
                "lock_store.expired_without_takeover conversation=%s fence=%d: restored",
                item.conversation_id,
                item.fence,
            )
        elif result == _GONE and not item.lost:
            item.lost = True
            logger.error(
                "lock_store.lock_lost conversation=%s fence=%d: it expired and may have "
                "been taken over",
                item.conversation_id,
                item.fence,
            )

    # -- plumbing ----------------------------------------------------------------

    def _keys(self, conversation_id: str) -> list[str]:
        base = f"{self.settings.namespace}{conversation_id}"
        return [f"{base}:q", f"{base}:w", f"{base}:h", self._seq_key, f"{base}:n"]

    def _require_client(self, conversation_id: str) -> Redis:
        """The client, for new work: refused while stopping or stopped."""
        if self._client is None or self._stopping:
            raise LockError(
                f"The Redis lock store is not running (conversation '{conversation_id}'); "
                "call start() first."
            )
        return self._client

    async def _run(
        self,
        script: str,
        doing: str,
        conversation_id: str,
        keys: Sequence[str],
        args: Sequence[str | int],
    ) -> Any:
        client = self._client
        if client is None:
            raise LockError(f"The Redis lock store is stopped (conversation '{conversation_id}').")
        lua = self._scripts[script]
        try:
            if self._mux is not None:  # loads the script again when Redis lost it
                return await self._mux.run_script(lua.sha, getattr(scripts, script), keys, args)
            # EVALSHA straight away: ``AsyncScript.__call__`` first checks whether the
            # client is a pipeline (an ``isinstance`` through typing's Protocol
            # machinery), measurable on every lock and release.
            try:
                return await client.evalsha(lua.sha, len(keys), *keys, *args)
            except NoScriptError:
                # A Redis restarted (or flushed) since start(): load the script again.
                lua.sha = await client.script_load(lua.script)
                return await client.evalsha(lua.sha, len(keys), *keys, *args)
        except _REDIS_FAILURES as exc:
            raise self._error(exc, doing, conversation_id) from exc

    def _error(self, exc: BaseException, doing: str, conversation_id: str) -> LockError:
        return LockError(
            f"Redis lock store at {self.settings.address} failed while {doing} the lock "
            f"of conversation '{conversation_id}': {type(exc).__name__}: {exc}"
        )


class _RedisLock:
    """One ``async with store.lock(...)``; not reusable."""

    __slots__ = ("_conversation_id", "_handle", "_store", "_timeout")

    def __init__(self, store: RedisLockStore, conversation_id: str, timeout: float) -> None:
        self._store = store
        self._conversation_id = conversation_id
        self._timeout = timeout
        self._handle: LockHandle | None = None

    async def __aenter__(self) -> LockHandle:
        self._store._require_client(self._conversation_id)
        self._handle = await self._store._acquire(self._conversation_id, self._timeout)
        return self._handle

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            await self._store._release(handle, body_failed=exc_type is not None)
