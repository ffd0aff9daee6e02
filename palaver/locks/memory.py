"""In-process FIFO lock per conversation (one replica only).

The uncontended path is a dict insert and a ``LockHandle``; nothing waits,
no task or future is created. A contended ``lock()`` parks one future in the
conversation's FIFO; ``release`` hands the lock straight to the oldest live
waiter, so nobody can barge in between. A conversation's entry is removed as
soon as nobody holds or waits for it, so memory follows the number of busy
conversations, not the number ever seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from palaver.errors import ConfigError, LockTimeoutError
from palaver.locks.base import LockHandle

__all__ = ["InMemoryLockSettings", "InMemoryLockStore"]

_Waiters = deque["asyncio.Future[int]"]

# Notes left by holders (``LockHandle.note``) for conversations not held now, at most
# this many (the least recently left is dropped first: its next holder reads the store).
NOTES_MAX = 10_000


@dataclass(frozen=True, slots=True)
class InMemoryLockSettings:
    """Settings of ``InMemoryLockStore``.

    Attributes:
        lock_wait_timeout: seconds a ``lock()`` waits before ``LockTimeoutError``.
    """

    lock_wait_timeout: float = 60.0

    def __post_init__(self) -> None:
        value = self.lock_wait_timeout
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"Config 'lock_wait_timeout' has value '{value}'. Not a valid float.")
        if not math.isfinite(value) or value < 0:
            raise ConfigError(
                f"Config 'lock_wait_timeout' has value '{value}'. It must be >= 0 seconds."
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> InMemoryLockSettings:
        """Build from a ``lock_store`` endpoint mapping (without ``type``)."""
        unknown = sorted(set(config) - {"lock_wait_timeout"})
        if unknown:
            raise ConfigError(
                f"Unknown in_memory lock store option(s) {unknown}. "
                "Valid options: lock_wait_timeout."
            )
        if "lock_wait_timeout" not in config:
            return cls()
        raw = config["lock_wait_timeout"]
        try:
            value = float(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"Config 'lock_wait_timeout' has value '{raw}'. Not a valid float."
            ) from exc
        return cls(lock_wait_timeout=value)

    @classmethod
    def from_dsn(cls, dsn: str) -> InMemoryLockSettings:
        """Parse ``memory://`` (or ``in_memory://``) with options as query parameters."""
        parts = urlsplit(dsn)
        if parts.scheme not in {"memory", "in_memory", "in-memory"}:
            raise ConfigError(f"'{dsn}' is not an in-memory lock store DSN (memory://).")
        return cls.from_config(dict(parse_qsl(parts.query)))


class InMemoryLockStore:
    """FIFO per-conversation locks for a single process.

    Not reentrant: a task that locks a conversation it already holds waits
    for itself until its timeout. ``start``/``stop`` exist for the lifecycle
    contract; the store also works without them.
    """

    def __init__(self, settings: InMemoryLockSettings | None = None) -> None:
        self.settings = settings or InMemoryLockSettings()
        # conversation -> waiters; None while held with nobody waiting.
        self._locks: dict[str, _Waiters | None] = {}
        self._tickets = itertools.count(1)
        # Start at the wall clock in microseconds: after a restart, fences must
        # stay above those a persistent tracker store has already accepted.
        self._fences = itertools.count(time.time_ns() // 1000)
        self._notes: OrderedDict[str, str] = OrderedDict()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> InMemoryLockStore:
        return cls(InMemoryLockSettings.from_config(config))

    def __repr__(self) -> str:
        return f"InMemoryLockStore({self.settings!r})"

    @property
    def multi_process_safe(self) -> bool:
        return False

    @property
    def active_conversations(self) -> int:
        """Conversations currently held or waited for."""
        return len(self._locks)

    async def start(self) -> None:
        """Nothing to connect; kept for the lifecycle contract."""

    async def stop(self) -> None:
        """Nothing to close; safe to call any number of times."""

    async def __aenter__(self) -> InMemoryLockStore:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def queue_length(self, conversation_id: str) -> int:
        """Holder plus waiters of a conversation (0 when free)."""
        if conversation_id not in self._locks:
            return 0
        waiters = self._locks[conversation_id]
        return 1 + sum(1 for fut in waiters or () if not fut.done())

    def lock(self, conversation_id: str, *, wait_timeout: float | None = None) -> _MemoryLock:
        """Context manager holding the conversation's lock; see ``LockStore.lock``."""
        timeout = self.settings.lock_wait_timeout if wait_timeout is None else wait_timeout
        return _MemoryLock(self, conversation_id, timeout)

    async def _wait(self, conversation_id: str, limit: float) -> int:
        """Queue behind the holder; return the fence handed over on release."""
        waiters = self._locks[conversation_id]
        if waiters is None:
            waiters = self._locks[conversation_id] = deque()
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        waiters.append(fut)
        try:
            async with asyncio.timeout(max(limit, 0.0)):
                return await fut
        except TimeoutError as exc:
            if fut.done() and not fut.cancelled():
                return fut.result()  # handed over just as the deadline hit: keep it
            self._forget(waiters, fut)
            raise LockTimeoutError(conversation_id, limit) from exc
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._release(conversation_id)  # handed over, but we are cancelled: pass on
            else:
                self._forget(waiters, fut)
            raise

    @staticmethod
    def _forget(waiters: _Waiters, fut: asyncio.Future[int]) -> None:
        with contextlib.suppress(ValueError):
            waiters.remove(fut)

    def _release(self, conversation_id: str) -> None:
        waiters = self._locks[conversation_id]
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(next(self._fences))
                return
        del self._locks[conversation_id]


class _MemoryLock:
    """One ``async with store.lock(...)``; not reusable."""

    __slots__ = ("_conversation_id", "_handle", "_store", "_timeout")

    def __init__(self, store: InMemoryLockStore, conversation_id: str, timeout: float) -> None:
        self._store = store
        self._conversation_id = conversation_id
        self._timeout = timeout
        self._handle: LockHandle | None = None

    async def __aenter__(self) -> LockHandle:
        store = self._store
        conversation_id = self._conversation_id
        ticket = next(store._tickets)
        if conversation_id not in store._locks:
            store._locks[conversation_id] = None
            fence = next(store._fences)
        else:
            fence = await store._wait(conversation_id, self._timeout)
        # Held now: the last holder's note is ours alone.
        note = store._notes.pop(conversation_id, None)
        self._handle = LockHandle(conversation_id, ticket, fence, previous_note=note)
        return self._handle

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        store, handle = self._store, self._handle
        if handle is not None and handle.note is not None and exc_type is None:
            notes = store._notes
            notes[self._conversation_id] = handle.note
            notes.move_to_end(self._conversation_id)
            if len(notes) > NOTES_MAX:
                notes.popitem(last=False)
        store._release(self._conversation_id)
