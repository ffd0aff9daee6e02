"""Export/import of conversations as JSON lines."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from palaver.errors import InvalidEventError
from palaver.locks.memory import InMemoryLockStore
from palaver.stores.memory import InMemoryTrackerStore
from palaver.stores.migrate import TransferStats, export_events, import_events


def ev(i: int, kind: str = "user") -> dict[str, object]:
    return {"event": kind, "timestamp": float(i), "text": f"t{i} ✓"}


async def filled_store() -> InMemoryTrackerStore:
    store = InMemoryTrackerStore()
    await store.append("alice", [{"event": "session_started"}, ev(1), ev(2)])
    await store.append("alice", [{"event": "session_started"}, ev(3)])
    await store.append("bob", [ev(4)])
    return store


async def test_round_trip_through_a_file(tmp_path: Path) -> None:
    source = await filled_store()
    path = tmp_path / "export.jsonl"
    with path.open("w", encoding="utf-8") as out:
        stats = await export_events(source, out)
    assert stats == TransferStats(conversations=2, events=6)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6
    assert orjson.loads(lines[0]) == {"sender_id": "alice", "event": {"event": "session_started"}}

    target = InMemoryTrackerStore()
    with path.open(encoding="utf-8") as lines_in:
        imported = await import_events(target, lines_in)
    assert imported == stats
    for sender_id in ("alice", "bob"):
        assert await target.load(sender_id, full=True) == await source.load(sender_id, full=True)
        assert await target.load(sender_id) == await source.load(sender_id)


async def test_export_selected_conversations() -> None:
    out = io.StringIO()
    stats = await export_events(await filled_store(), out, sender_ids=["bob", "nobody"])
    assert stats == TransferStats(conversations=1, events=1)
    assert out.getvalue() == '{"sender_id":"bob","event":' + orjson.dumps(ev(4)).decode() + "}\n"


async def test_import_appends_or_replaces() -> None:
    out = io.StringIO()
    await export_events(await filled_store(), out)
    lines = out.getvalue().splitlines()

    target = await filled_store()
    await import_events(target, lines)
    doubled = await target.load("bob", full=True)
    assert doubled is not None and doubled.events == [ev(4), ev(4)]

    target = await filled_store()
    await import_events(target, lines, replace=True)
    replaced = await target.load("bob", full=True)
    assert replaced is not None and replaced.events == [ev(4)]


async def test_import_batches_and_async_sources() -> None:
    async def lines() -> AsyncIterator[bytes]:
        for i in range(7):
            yield orjson.dumps({"sender_id": "c", "event": ev(i)})
        yield b"   "

    target = InMemoryTrackerStore()
    stats = await import_events(target, lines(), batch_size=3)
    assert stats == TransferStats(conversations=1, events=7)
    loaded = await target.load("c")
    assert loaded is not None and loaded.events == [ev(i) for i in range(7)]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"event": {"event": "user"}}', "sender_id"),
        ('{"sender_id": "x", "event": {"text": "no type"}}', "string 'event' key"),
    ],
)
async def test_bad_line_reports_its_number_after_importing_what_came_before(
    line: str, problem: str
) -> None:
    good = orjson.dumps({"sender_id": "x", "event": ev(1)}).decode()
    target = InMemoryTrackerStore()
    with pytest.raises(InvalidEventError, match=f"line 2: .*{problem}"):
        await import_events(target, [good, line, good])
    loaded = await target.load("x")
    assert loaded is not None and loaded.events == [ev(1)]


async def test_import_with_a_lock_store_writes_under_each_conversations_lock() -> None:
    """A live deployment's servers see the import as another holder of the lock."""
    out = io.StringIO()
    await export_events(await filled_store(), out)
    locks = InMemoryLockStore()
    # A server left a note with the conversation (it would skip its version read).
    async with locks.lock("bob") as server_turn:
        server_turn.note = "v1:1:123"
    fences: list[int | None] = []
    target = await filled_store()
    original_append = target.append

    async def append(sender_id: str, events: list[dict[str, object]], **kw: object) -> None:
        assert await locks.queue_length(sender_id) == 1  # held while writing
        fences.append(kw.get("fence"))  # type: ignore[arg-type]
        await original_append(sender_id, events, **kw)  # type: ignore[arg-type]

    target.append = append  # type: ignore[method-assign]
    await import_events(target, out.getvalue().splitlines(), replace=True, lock_store=locks)
    assert len(fences) == 2 and all(isinstance(f, int) for f in fences)
    async with locks.lock("bob") as next_turn:
        assert next_turn.previous_note is None  # the import held the lock in between
    replaced = await target.load("bob", full=True)
    assert replaced is not None and replaced.events == [ev(4)]
