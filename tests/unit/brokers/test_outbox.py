"""The on-disk outbox: ordered, idempotent, group committed, slot locked."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from palaver.brokers.outbox import Outbox, OutboxError, Record


def records(start: int, count: int, sender: str = "alice") -> list[Record]:
    return [Record(seq, sender, b'{"n": %d}' % seq) for seq in range(start, start + count)]


def slot_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.sqlite3"))


async def test_append_read_remove_in_seq_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, fsync=False)
    state = await outbox.open()
    assert (state.count, state.max_seq) == (0, 0)
    batch = records(5, 3) + records(1, 2)
    await outbox.append(batch)
    assert all(r.in_outbox for r in batch)
    await outbox.append(records(1, 1))  # the same seq again is ignored
    assert [r.seq for r in await outbox.read(0, 10)] == [1, 2, 5, 6, 7]
    assert [r.seq for r in await outbox.read(2, 2)] == [5, 6]
    await outbox.remove([1, 5])
    assert [r.seq for r in await outbox.read(0, 10)] == [2, 6, 7]
    await outbox.close()

    reopened = Outbox(tmp_path, fsync=False)
    state = await reopened.open()
    assert (state.count, state.max_seq) == (3, 7)
    await reopened.close()


async def test_concurrent_appends_share_commits(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    await outbox.open()
    await asyncio.gather(*(outbox.append(records(i * 10 + 1, 10)) for i in range(50)))
    rows = await outbox.read(0, 1000)
    assert [r.seq for r in rows] == list(range(1, 501))
    await outbox.close()


async def test_dead_letter_moves_rows(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, fsync=False)
    await outbox.open()
    batch = records(1, 2)
    await outbox.append(batch)
    await outbox.dead_letter([(batch[0], "too large")])
    assert [r.seq for r in await outbox.read(0, 10)] == [2]
    await outbox.close()
    assert outbox.path is not None
    with sqlite3.connect(outbox.path) as conn:
        assert conn.execute("SELECT seq, reason FROM dead_letter").fetchall() == [(1, "too large")]


async def test_slots_and_adoption_of_orphans(tmp_path: Path) -> None:
    first, second = Outbox(tmp_path, fsync=False), Outbox(tmp_path, fsync=False)
    await first.open()
    await second.open()
    assert first.path != second.path
    await first.append(records(1, 2, "alice"))
    await second.append(records(1, 3, "bob"))
    await second.dead_letter([(Record(9, "bob", b"{}"), "refused")])
    await second.close()
    await first.close()

    survivor = Outbox(tmp_path, fsync=False)
    state = await survivor.open()
    assert state.adopted == 3
    rows = await survivor.read(0, 10)
    assert [(r.sender_id, r.seq) for r in rows] == [
        ("alice", 1),
        ("alice", 2),
        ("bob", 3),
        ("bob", 4),
        ("bob", 5),
    ]
    assert survivor.path is not None
    with sqlite3.connect(survivor.path) as conn:
        assert conn.execute("SELECT reason FROM dead_letter").fetchall() == [("refused",)]
    assert slot_files(tmp_path) == ["outbox-0.sqlite3"]
    await survivor.close()


async def test_foreign_file_is_not_adopted_or_deleted(tmp_path: Path) -> None:
    foreign = tmp_path / "outbox-3.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE other (x)")
    outbox = Outbox(tmp_path, fsync=False)
    assert (await outbox.open()).adopted == 0
    await outbox.close()
    assert foreign.exists()


async def test_unusable_directory_is_an_outbox_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutboxError, match="file"):
        await Outbox(blocker / "outbox").open()


async def test_closed_outbox_refuses_work(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, fsync=False)
    await outbox.open()
    await outbox.close()
    await outbox.close()
    with pytest.raises(OutboxError, match="closed"):
        await outbox.append(records(1, 1))
