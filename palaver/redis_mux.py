"""One shared Redis connection for hot-path commands, pipelined automatically.

redis-py's async client takes a pooled connection for every command, checks it
for stray data (a ``recv`` system call), writes the command, waits for its own
reply in its own task and hands the connection back. With dozens of turns in
flight that is a write, a read and a wake-up per command on both sides.

``RedisMultiplexer`` shares one connection between all callers instead: the
commands issued while the event loop runs one round are written together when
the round ends (one ``send``), Redis answers them in order, and one reader
task parses whatever has arrived (hiredis) and resolves the callers' futures.
One connection, in order, is also all that a command like ``EVALSHA`` of the
lock scripts needs: each runs atomically on the server anyway.

Failure model: a command is never resent. When the connection breaks or a
reply is overdue (``timeout`` seconds after the command was written), every
command without a reply fails with ``redis.exceptions.ConnectionError`` or
``TimeoutError`` (their effect on the server is unknown), the connection is
closed, and the next command opens a new one. A caller cancelled while
waiting does not disturb the others: its reply is read and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl as ssl_lib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis._parsers.base import BaseParser
from redis.exceptions import AuthenticationError, NoScriptError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["RedisAddress", "RedisMultiplexer", "address_of", "hiredis_available"]

try:  # the ``redis`` extra installs it; without it callers keep redis-py's client
    import hiredis
except ImportError:  # pragma: no cover - exercised only without the extra
    hiredis = None  # type: ignore[assignment]

_READ_SIZE = 1 << 16


def hiredis_available() -> bool:
    """True when the C reply parser the multiplexer needs is installed."""
    return hiredis is not None


@dataclass(frozen=True, slots=True, repr=False)
class RedisAddress:
    """Where and as whom to connect; ``password`` is never shown."""

    host: str
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: ssl_lib.SSLContext | None = None

    def __repr__(self) -> str:
        return f"RedisAddress({self.host}:{self.port}/{self.db})"


class RedisConnectionSettings(Protocol):
    """The connection part of the Redis lock and tracker store settings (read-only)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def db(self) -> int: ...

    @property
    def username(self) -> str | None: ...

    @property
    def password(self) -> str | None: ...

    @property
    def use_ssl(self) -> bool: ...

    @property
    def ssl_certfile(self) -> str | None: ...

    @property
    def ssl_keyfile(self) -> str | None: ...

    @property
    def ssl_ca_certs(self) -> str | None: ...


def address_of(settings: RedisConnectionSettings) -> RedisAddress:
    """Where a store's settings point, with TLS as redis-py sets it up by default
    (server certificate and host name checked)."""
    s = settings
    tls = None
    if s.use_ssl:
        tls = ssl_lib.create_default_context(cafile=s.ssl_ca_certs)
        if s.ssl_certfile:
            tls.load_cert_chain(s.ssl_certfile, s.ssl_keyfile)
    return RedisAddress(s.host, s.port, s.db, s.username, s.password, tls)


def pack_command(args: Sequence[str | bytes | int | float]) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode("utf-8")
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        elif isinstance(arg, float):
            data = repr(arg).encode()  # as redis-py's encoder
        else:
            raise TypeError(f"Redis command argument {arg!r} is not a str, bytes, int or float.")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a shared future's exception as seen: every waiter may have been cancelled."""
    if not future.cancelled():
        future.exception()


def _reply_error(message: str) -> RedisError:
    """The exception redis-py raises for this error reply (NOSCRIPT, NOPERM, ...)."""
    error: RedisError = BaseParser.parse_error(message)  # type: ignore[no-untyped-call]
    return error


class _Connection:
    """One open connection: the futures of written commands, oldest first."""

    __slots__ = ("pending", "reader", "reader_task", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        # (future, monotonic time written) per command awaiting its reply.
        self.pending: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.reader_task: asyncio.Task[None] | None = None


class RedisMultiplexer:
    """Commands from every caller over one connection, written once per loop round.

    Args:
        address: server and credentials.
        timeout: seconds for connecting and for each reply.

    Use ``await mux.execute("EVALSHA", sha, 2, key1, key2, arg)``; call
    ``close()`` when done. Requires hiredis (``hiredis_available()``).
    """

    def __init__(self, address: RedisAddress, timeout: float) -> None:
        if hiredis is None:
            raise RuntimeError("RedisMultiplexer needs hiredis (pip install 'palaver[redis]').")
        self.address = address
        self.timeout = timeout
        self._conn: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._outbox: list[bytes] = []
        self._outbox_futures: list[asyncio.Future[Any]] = []
        self._flush_scheduled = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._closed = False
        self._loading: dict[str, asyncio.Future[Any]] = {}

    def __repr__(self) -> str:
        return f"RedisMultiplexer({self.address!r})"

    @property
    def in_flight(self) -> int:
        """Commands written or queued that have no reply yet."""
        conn = self._conn
        return len(self._outbox_futures) + (len(conn.pending) if conn is not None else 0)

    async def execute(self, *args: str | bytes | int | float) -> Any:
        """Send one command; its reply (bytes, int, list or None).

        Raises:
            ResponseError: Redis answered with an error, as the subclass redis-py
                raises for it (``NoScriptError`` for NOSCRIPT, ...).
            ConnectionError, TimeoutError: no reply; the command may have run.
        """
        if self._closed:
            raise RedisConnectionError(f"{self!r} is closed.")
        packed = pack_command(args)
        if self._conn is None:
            await self._connected()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._outbox.append(packed)
        self._outbox_futures.append(future)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    async def run_script(
        self, sha: str, script: str, keys: Sequence[str], args: Sequence[str | bytes | int | float]
    ) -> Any:
        """``EVALSHA``; a server that does not know the script (restarted, flushed) gets it.

        Concurrent callers that all meet ``NOSCRIPT`` share one ``SCRIPT LOAD``.
        """
        try:
            return await self.execute("EVALSHA", sha, len(keys), *keys, *args)
        except NoScriptError:
            await self._load_script(sha, script)
            return await self.execute("EVALSHA", sha, len(keys), *keys, *args)

    async def _load_script(self, sha: str, script: str) -> None:
        loading = self._loading.get(sha)
        if loading is None:
            loading = asyncio.ensure_future(self.execute("SCRIPT", "LOAD", script))
            self._loading[sha] = loading
            loading.add_done_callback(functools.partial(self._script_loaded, sha))
        loaded = await asyncio.shield(loading)
        if loaded != sha.encode():
            raise RedisError(f"SCRIPT LOAD returned {loaded!r}, expected the script's SHA {sha}.")

    def _script_loaded(self, sha: str, loading: asyncio.Future[Any]) -> None:
        self._loading.pop(sha, None)
        _retrieve(loading)

    async def close(self) -> None:
        """Fail what has no reply yet and close the connection; safe to call twice."""
        self._closed = True
        conn = self._conn
        self._abort(RedisConnectionError(f"{self!r} was closed."))
        if conn is not None and conn.reader_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await conn.reader_task
        if self._connecting is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._connecting

    # -- connecting ------------------------------------------------------------

    async def _connected(self) -> _Connection:
        """The open connection, opened by the first caller that needs one."""
        if self._conn is not None:
            return self._conn
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
            self._connecting.add_done_callback(_retrieve)
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open(self) -> _Connection:
        a = self.address
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(a.host, a.port, ssl=a.ssl)
                try:
                    await self._handshake(reader, writer)
                except BaseException:
                    writer.close()
                    raise
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(
                f"Cannot connect to Redis at {a.host}:{a.port}: {type(exc).__name__}: {exc}"
            ) from exc
        if self._closed:
            writer.close()
            raise RedisConnectionError(f"{self!r} was closed.")
        conn = _Connection(reader, writer)
        conn.reader_task = asyncio.create_task(self._read_replies(conn), name="palaver-redis-mux")
        self._conn = conn
        return conn

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """AUTH and SELECT, before anyone else may use the connection."""
        a = self.address
        commands: list[list[str | int]] = []
        if a.password is not None:
            commands.append(
                ["AUTH", a.username, a.password] if a.username else ["AUTH", a.password]
            )
        if a.db:
            commands.append(["SELECT", a.db])
        if not commands:
            return
        writer.write(b"".join(pack_command(c) for c in commands))
        parser = hiredis.Reader()
        for command in commands:
            reply = parser.gets()
            while reply is False:
                data = await reader.read(_READ_SIZE)
                if not data:
                    raise RedisConnectionError("Redis closed the connection during the handshake.")
                parser.feed(data)
                reply = parser.gets()
            if isinstance(reply, hiredis.ReplyError):
                if command[0] == "AUTH":
                    raise AuthenticationError(f"Redis refused AUTH: {reply}")
                raise _reply_error(str(reply))

    # -- writing and reading ---------------------------------------------------

    def _flush(self) -> None:
        self._flush_scheduled = False
        futures, self._outbox_futures = self._outbox_futures, []
        data, self._outbox = self._outbox, []
        conn = self._conn
        if conn is None:
            error = RedisConnectionError(f"The connection of {self!r} broke before sending.")
            for future in futures:
                if not future.done():
                    future.set_exception(error)
            return
        now = asyncio.get_running_loop().time()
        conn.pending.extend((future, now) for future in futures)
        try:
            conn.writer.write(b"".join(data))
        except (OSError, RuntimeError) as exc:  # a transport closing under us
            self._abort(RedisConnectionError(f"Writing to Redis failed: {exc}"))
            return
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(
                self.timeout, self._check_overdue
            )

    async def _read_replies(self, conn: _Connection) -> None:
        parser = hiredis.Reader()
        pending = conn.pending
        try:
            while True:
                data = await conn.reader.read(_READ_SIZE)
                if not data:
                    raise RedisConnectionError("Redis closed the connection.")
                parser.feed(data)
                reply = parser.gets()
                while reply is not False:
                    if not pending:
                        raise RedisConnectionError("Redis sent a reply nobody asked for.")
                    future, _ = pending.popleft()
                    if not future.done():
                        if isinstance(reply, hiredis.ReplyError):
                            future.set_exception(_reply_error(str(reply)))
                        else:
                            future.set_result(reply)
                    reply = parser.gets()
        except asyncio.CancelledError:
            raise
        except hiredis.ProtocolError as exc:
            self._abort(RedisConnectionError(f"Redis sent an unreadable reply: {exc}"), conn)
        except RedisConnectionError as exc:
            self._abort(exc, conn)
        except Exception as exc:  # OSError and whatever else ends the reader
            self._abort(RedisConnectionError(f"Reading from Redis failed: {exc!r}"), conn)

    def _check_overdue(self) -> None:
        self._watchdog = None
        conn = self._conn
        if conn is None or not conn.pending:
            return
        loop = asyncio.get_running_loop()
        overdue_at = conn.pending[0][1] + self.timeout
        if loop.time() >= overdue_at:
            self._abort(
                RedisTimeoutError(f"Redis at {self.address.host}:{self.address.port} did not "
                             f"answer within {self.timeout}s."),
                conn,
            )  # fmt: skip
            return
        self._watchdog = loop.call_at(overdue_at, self._check_overdue)

    def _abort(self, error: Exception, conn: _Connection | None = None) -> None:
        """Fail every command without a reply and drop the connection (``conn`` if given)."""
        current = self._conn
        if conn is not None and conn is not current:
            return  # an older connection, already dropped
        self._conn = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        failed: list[asyncio.Future[Any]] = []
        if current is not None:
            failed.extend(future for future, _ in current.pending)
            current.pending.clear()
            current.writer.close()
            task = current.reader_task
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        failed.extend(self._outbox_futures)
        self._outbox_futures, self._outbox = [], []
        for future in failed:
            if not future.done():
                future.set_exception(error)
