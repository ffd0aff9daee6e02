"""``palaver export`` / ``palaver import``: moving conversations between stores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from palaver.config import EndpointsConfig
from palaver.stores import create_tracker_store
from tests.integration.conftest import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "palaver", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.postgres
async def test_sqlite_to_postgres_round_trip(tmp_path: Path, postgres_db: str) -> None:
    sqlite_endpoints = tmp_path / "sqlite.yml"
    sqlite_endpoints.write_text(
        f"tracker_store:\n  type: sql\n  dialect: sqlite\n  db: {tmp_path / 'conv.db'}\n"
    )
    source = create_tracker_store(EndpointsConfig.load(sqlite_endpoints).tracker_store)
    events = {
        f"user-{i}": [
            {"event": "action", "timestamp": 1.0, "name": "action_session_start"},
            {"event": "session_started", "timestamp": 1.1},
            {"event": "user", "timestamp": 2.0 + i, "text": f"hello {i}", "parse_data": {}},
        ]
        for i in range(5)
    }
    async with source:
        for sender, evs in events.items():
            await source.append(sender, evs)

    dump = tmp_path / "dump.jsonl"
    exported = run("export", "--endpoints", str(sqlite_endpoints), "--out", str(dump))
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    assert len(lines) == 15 and {line["sender_id"] for line in lines} == set(events)

    pg_endpoints = tmp_path / "pg.yml"
    pg_endpoints.write_text(
        f"tracker_store:\n  type: sql\n  dialect: postgresql\n  url: {postgres_db}\n"
    )
    imported = run("import", "--endpoints", str(pg_endpoints), "--file", str(dump))
    assert imported.returncode == 0, imported.stderr
    target = create_tracker_store(EndpointsConfig.load(pg_endpoints).tracker_store)
    async with target:
        for sender, evs in events.items():
            stored = await target.load(sender, full=True)
            assert stored is not None and stored.events == evs
    # importing again with --replace does not duplicate
    again = run("import", "--endpoints", str(pg_endpoints), "--file", str(dump), "--replace")
    assert again.returncode == 0, again.stderr
    async with target:
        stored = await target.load("user-0", full=True)
        assert stored is not None and len(stored.events) == 3


@pytest.mark.redis
async def test_import_with_the_redis_lock_store_writes_under_locks_and_fences(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """Importing into a live deployment: each conversation is written as a server writes."""
    dump = tmp_path / "dump.jsonl"
    dump.write_text(
        "".join(
            json.dumps({"sender_id": f"u{i}", "event": {"event": "user", "text": "hi"}}) + "\n"
            for i in range(3)
        )
    )
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        f"tracker_store:\n  type: sql\n  dialect: sqlite\n  db: {tmp_path / 'conv.db'}\n"
        f'lock_store:\n  type: redis\n  url: {redis_url}\n  key_prefix: "{redis_prefix}"\n'
    )
    imported = run("import", "--endpoints", str(endpoints), "--file", str(dump))
    assert imported.returncode == 0, imported.stderr
    store = create_tracker_store(EndpointsConfig.load(endpoints).tracker_store)
    async with store:
        for i in range(3):
            version = await store.version(f"u{i}")  # type: ignore[attr-defined]
            assert version is not None and version.total_events == 1
            assert version.fence is not None  # the lock's fencing token
