"""Export and import conversations as JSON lines (``palaver export`` / ``palaver import``).

Format: one line per event, ``{"sender_id": "...", "event": {...}}``, with each
conversation's events together and oldest first (all sessions). One event per
line keeps lines short and lets both sides stream: an export never holds more
than one conversation, an import never more than ``batch_size`` events.
Moving conversations between any two backends is ``export_events`` from one
and ``import_events`` into the other.

Importing appends after whatever a conversation already has; importing the
same file twice duplicates events unless ``replace=True`` (each imported
conversation is deleted before its first imported event).

File I/O runs in a worker thread so the event loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import orjson

from palaver.errors import InvalidEventError
from palaver.stores.base import EventDict, TrackerStore

if TYPE_CHECKING:
    from palaver.locks.base import LockStore

logger = logging.getLogger(__name__)

_WRITE_BUFFER = 256 * 1024
_READ_CHUNK = 1000

Line = str | bytes


@dataclass(frozen=True, slots=True)
class TransferStats:
    """What an export or import moved."""

    conversations: int
    events: int


async def export_events(
    store: TrackerStore, out: IO[str], sender_ids: Iterable[str] | None = None
) -> TransferStats:
    """Write every event of the given conversations (default: all) to ``out``.

    Args:
        store: a started tracker store.
        out: a text stream; it is written and flushed, not closed.
        sender_ids: conversations to export; ``None`` streams ``store.keys()``.
            Ids without events are skipped (and logged).
    """
    buffer: list[str] = []
    buffered = 0
    conversations = events = 0
    async for sender_id in _ids(store, sender_ids):
        stored = await store.load(sender_id, full=True)
        if stored is None:
            logger.warning("Conversation %s has no events; not exported", sender_id)
            continue
        conversations += 1
        for event in stored.events:
            line = orjson.dumps({"sender_id": sender_id, "event": event}).decode() + "\n"
            buffer.append(line)
            buffered += len(line)
            events += 1
            if buffered >= _WRITE_BUFFER:
                await asyncio.to_thread(out.write, "".join(buffer))
                buffer, buffered = [], 0
    if buffer:
        await asyncio.to_thread(out.write, "".join(buffer))
    await asyncio.to_thread(out.flush)
    return TransferStats(conversations=conversations, events=events)


async def import_events(
    store: TrackerStore,
    lines: Iterable[Line] | AsyncIterable[Line],
    *,
    replace: bool = False,
    batch_size: int = 500,
    lock_store: LockStore | None = None,
) -> TransferStats:
    """Append the events of an export to ``store``.

    Consecutive events of one conversation are appended in batches of up to
    ``batch_size`` (one ``append`` each). Blank lines are ignored. With
    ``lock_store`` (the deployment's, shared with its running servers) each
    batch is written under the conversation's lock and fencing token, as a
    server writes a turn: servers see the import at their next message and
    never interleave a turn with it.

    Raises:
        InvalidEventError: a line is not ``{"sender_id": str, "event": {"event": str, ...}}``;
            the message gives its line number. Everything before it was imported.
    """
    conversations: set[str] = set()
    pending: list[EventDict] = []
    pending_sender: str | None = None
    events = 0

    async def write(sender_id: str, batch: list[EventDict], fence: int | None) -> None:
        if replace and sender_id not in conversations:
            await store.delete(sender_id)
        conversations.add(sender_id)
        await store.append(sender_id, batch, fence=fence)

    async def flush() -> None:
        nonlocal pending, events
        if pending_sender is not None and pending:
            if lock_store is None:
                await write(pending_sender, pending, None)
            else:
                async with lock_store.lock(pending_sender) as handle:
                    await write(pending_sender, pending, handle.fence)
            events += len(pending)
        pending = []

    number = 0
    async for number, raw in _numbered(lines):
        if not raw.strip():
            continue
        try:
            sender_id, event = _parse(raw)
        except InvalidEventError as exc:
            await flush()
            raise InvalidEventError(f"line {number}: {exc}") from exc
        if sender_id != pending_sender or len(pending) >= batch_size:
            await flush()
            pending_sender = sender_id
        pending.append(event)
    await flush()
    return TransferStats(conversations=len(conversations), events=events)


def _parse(raw: Line) -> tuple[str, EventDict]:
    try:
        record: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEventError(f"not JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise InvalidEventError("not a JSON object")
    sender_id, event = record.get("sender_id"), record.get("event")
    if not isinstance(sender_id, str):
        raise InvalidEventError("'sender_id' is missing or not a string")
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise InvalidEventError("'event' is not an event object with a string 'event' key")
    return sender_id, event


async def _ids(store: TrackerStore, sender_ids: Iterable[str] | None) -> AsyncIterator[str]:
    if sender_ids is None:
        async for sender_id in store.keys():
            yield sender_id
    else:
        for sender_id in sender_ids:
            yield sender_id


async def _numbered(lines: Iterable[Line] | AsyncIterable[Line]) -> AsyncIterator[tuple[int, Line]]:
    """Number lines from 1; a file-like iterable is read in a worker thread, in chunks."""
    number = 0
    if isinstance(lines, AsyncIterable):
        async for line in lines:
            number += 1
            yield number, line
        return
    if isinstance(lines, list | tuple):
        for number, line in enumerate(lines, start=1):
            yield number, line
        return
    iterator: Iterator[Line] = iter(lines)
    while chunk := await asyncio.to_thread(_take, iterator, _READ_CHUNK):
        for line in chunk:
            number += 1
            yield number, line


def _take(iterator: Iterator[Line], count: int) -> list[Line]:
    return list(itertools.islice(iterator, count))
