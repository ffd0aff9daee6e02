"""The durable outbox: undelivered events on disk, in publish order.

One SQLite file (stdlib ``sqlite3``, WAL) per broker *slot*. All SQLite work
runs on one private thread, never on the event loop. Appends are group
committed: every ``append`` call waiting at the same time shares one
transaction (and one fsync), so a burst of publishes during an outage costs
one disk flush, not one per event.

Slots let several processes (server workers) share one ``outbox_dir``: each
process locks the first free ``outbox-<n>.lock`` (``flock``) and owns
``outbox-<n>.sqlite3``. On open, a process also adopts the files of slots that
nobody holds any more (a worker that is gone), so their events are replayed
too, after the slot's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from palaver.errors import BrokerError

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per outbox_dir
    fcntl = None

logger = logging.getLogger(__name__)

MAX_SLOTS = 64
_T = TypeVar("_T")
_Row = tuple[int, str, bytes]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS outbox ("
    " seq INTEGER PRIMARY KEY, sender_id TEXT NOT NULL, body BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS dead_letter ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL,"
    " sender_id TEXT NOT NULL, body BLOB NOT NULL, reason TEXT NOT NULL,"
    " failed_at REAL NOT NULL)",
)


class OutboxError(BrokerError):
    """The outbox file cannot be opened, read or written."""


@dataclass(slots=True)
class Record:
    """One serialized event on its way to the broker.

    Attributes:
        seq: position in the publish order (per broker process); the outbox
            and the in-memory queue are both ordered by it.
        sender_id: conversation id (Kafka message key when partitioning).
        body: the exact bytes to publish (Rasa's JSON with ``sender_id``).
        in_outbox: whether a copy is stored in the outbox file.
    """

    seq: int
    sender_id: str
    body: bytes
    in_outbox: bool = False


@dataclass(frozen=True, slots=True)
class OutboxState:
    """What ``Outbox.open`` found on disk."""

    count: int
    max_seq: int
    adopted: int


class Outbox:
    """A seq-ordered, durable queue of ``Record`` s in one SQLite file.

    Args:
        directory: where the slot files live (created if missing).
        fsync: ``synchronous=FULL`` (survives power loss) instead of
            ``NORMAL`` (survives a process crash only).
    """

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = directory
        self.path: Path | None = None
        self._fsync = fsync
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._queued: list[tuple[list[Record], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def open(self) -> OutboxState:
        """Lock a slot, create the schema, adopt orphaned slots."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="palaver-outbox")
        try:
            return await self._call(self._open_sync)
        except OutboxError:
            await self.close()
            raise

    async def append(self, records: Sequence[Record]) -> None:
        """Store ``records`` durably (idempotent per ``seq``); group committed."""
        if not records:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._queued.append((list(records), future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        # Shielded: a cancelled publisher must not cancel the shared commit.
        await asyncio.shield(future)

    async def read(self, after_seq: int, limit: int) -> list[Record]:
        """Up to ``limit`` records with ``seq > after_seq``, oldest first."""
        rows = await self._call(self._read_sync, after_seq, limit)
        return [Record(seq, sender, bytes(body), in_outbox=True) for seq, sender, body in rows]

    async def remove(self, seqs: Sequence[int]) -> None:
        """Forget delivered records."""
        if seqs:
            await self._call(self._remove_sync, list(seqs))

    async def dead_letter(self, rejected: Sequence[tuple[Record, str]]) -> None:
        """Move records the broker refused for good to the ``dead_letter`` table."""
        if rejected:
            await self._call(self._dead_letter_sync, list(rejected))

    async def close(self) -> None:
        """Finish queued writes, close the file and release the slot."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
            self._writer = None
        executor, self._executor = self._executor, None
        if executor is None:
            return
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            await loop.run_in_executor(executor, self._close_sync)
        executor.shutdown(wait=False)

    # -- loop side -------------------------------------------------------

    async def _call(self, fn: Callable[..., _T], *args: object) -> _T:
        if self._executor is None:
            raise OutboxError(f"The outbox in '{self.directory}' is closed.")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, partial(fn, *args))
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"Outbox '{self.path or self.directory}' failed: {exc}") from exc

    async def _write_queued(self) -> None:
        while self._queued:
            jobs, self._queued = self._queued, []
            rows = [(r.seq, r.sender_id, r.body) for records, _ in jobs for r in records]
            try:
                await self._call(self._insert_sync, rows)
            except OutboxError as exc:
                for _, future in jobs:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for records, future in jobs:
                for record in records:
                    record.in_outbox = True
                if not future.done():
                    future.set_result(None)

    # -- outbox thread ---------------------------------------------------

    def _open_sync(self) -> OutboxState:
        self.directory.mkdir(parents=True, exist_ok=True)
        slot, self._lock_fd = _lock_free_slot(self.directory)
        self.path = self.directory / f"outbox-{slot}.sqlite3"
        self._conn = _connect(self.path, self._fsync)
        adopted = self._adopt_orphans(slot)
        count, max_seq = self._conn.execute(
            "SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM outbox"
        ).fetchone()
        return OutboxState(int(count), int(max_seq), adopted)

    def _adopt_orphans(self, own_slot: int) -> int:
        adopted = 0
        for path in sorted(self.directory.glob("outbox-*.sqlite3")):
            slot = _slot_of(path)
            if slot is None or slot == own_slot:
                continue
            fd = _try_lock(self.directory / f"outbox-{slot}.lock")
            if fd is None:
                continue  # a live process owns it
            try:
                adopted += self._adopt(path)
            finally:
                _unlock(fd)
        return adopted

    def _adopt(self, orphan: Path) -> int:
        source = sqlite3.connect(orphan)
        try:
            rows = source.execute("SELECT sender_id, body FROM outbox ORDER BY seq").fetchall()
            dead = source.execute(
                "SELECT seq, sender_id, body, reason, failed_at FROM dead_letter ORDER BY id"
            ).fetchall()
        except sqlite3.Error as exc:  # not an outbox of ours: leave it alone
            logger.warning("Not adopting outbox file %s: %s", orphan, exc)
            return 0
        finally:
            source.close()
        conn = self._connection()
        with _transaction(conn):
            (top,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()
            conn.executemany(
                "INSERT INTO outbox (seq, sender_id, body) VALUES (?, ?, ?)",
                [(top + i, sender, body) for i, (sender, body) in enumerate(rows, start=1)],
            )
            conn.executemany(
                "INSERT INTO dead_letter (seq, sender_id, body, reason, failed_at)"
                " VALUES (?, ?, ?, ?, ?)",
                dead,
            )
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{orphan}{suffix}")
        if rows:
            logger.warning("Adopted %d undelivered events from outbox %s", len(rows), orphan)
        return len(rows)

    def _insert_sync(self, rows: list[_Row]) -> None:
        conn = self._connection()
        with _transaction(conn):
            conn.executemany(
                "INSERT OR IGNORE INTO outbox (seq, sender_id, body) VALUES (?, ?, ?)", rows
            )

    def _read_sync(self, after_seq: int, limit: int) -> list[_Row]:
        cursor = self._connection().execute(
            "SELECT seq, sender_id, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [(int(seq), str(sender), bytes(body)) for seq, sender, body in cursor]

    def _remove_sync(self, seqs: list[int]) -> None:
        conn = self._connection()
        with _transaction(conn):
            conn.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def _dead_letter_sync(self, rejected: list[tuple[Record, str]]) -> None:
        conn = self._connection()
        now = time.time()
        with _transaction(conn):
            conn.executemany(
                "INSERT INTO dead_letter (seq, sender_id, body, reason, failed_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(r.seq, r.sender_id, r.body, reason, now) for r, reason in rejected],
            )
            conn.executemany("DELETE FROM outbox WHERE seq = ?", [(r.seq,) for r, _ in rejected])

    def _close_sync(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            _unlock(fd)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.ProgrammingError("outbox is not open")
        return self._conn


def _retrieve(future: asyncio.Future[None]) -> None:
    # Mark the exception as seen: the publisher may have been cancelled.
    if not future.cancelled():
        future.exception()


def _connect(path: Path, fsync: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
    for statement in _SCHEMA:
        conn.execute(statement)
    return conn


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _slot_of(path: Path) -> int | None:
    suffix = path.name.removeprefix("outbox-").removesuffix(".sqlite3")
    return int(suffix) if suffix.isdigit() else None


def _lock_free_slot(directory: Path) -> tuple[int, int | None]:
    if fcntl is None:  # pragma: no cover - no flock: single process per directory
        return 0, None
    for slot in range(MAX_SLOTS):
        fd = _try_lock(directory / f"outbox-{slot}.lock")
        if fd is not None:
            return slot, fd
    raise OutboxError(
        f"All {MAX_SLOTS} outbox slots in '{directory}' are in use by other processes."
    )


def _try_lock(path: Path) -> int | None:
    if fcntl is None:  # pragma: no cover
        return None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
