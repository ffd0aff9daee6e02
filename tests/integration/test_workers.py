"""``palaver run --workers N``: N Sanic worker processes on one port.

With the Redis lock store and the PostgreSQL tracker store both workers serve
messages (``--trace-locks`` records each worker's pid in the replica id) and
the stored conversations are intact. With a store that only one process can
see, ``--workers 2`` is refused before anything starts, naming the store.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.integration.conftest import ROOT, ServerProcess
from tests.integration.replica_harness import (
    Reply,
    audit_conversation,
    load_stored,
    post_message,
    run_cluster,
    split_turns,
    tagged,
    write_endpoints,
)

# Spawned workers each import and load the model: allow for a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

WORKERS = 2
CONVERSATIONS = 20
PER_CONVERSATION = 4
TEXTS = ("hello", "I am sad", "yes", "are you a bot?")


def palaver_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "palaver", "run", "-i", "127.0.0.1", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )


async def send(
    url: str, sender: str, message_id: str, text: str, connector: aiohttp.BaseConnector
) -> Reply:
    async with aiohttp.ClientSession(
        connector=connector, connector_owner=False, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        status, body, seconds = await post_message(session, url, sender, tagged(text, message_id))
    assert status == 200, body
    return Reply(message_id, 0, status, body, seconds)


async def conversation(
    url: str, sender: str, replies: dict[str, list[Reply]], connector: aiohttp.BaseConnector
) -> None:
    """One conversation's messages in order, each on a new connection."""
    replies[sender] = []
    for k in range(PER_CONVERSATION):
        reply = await send(url, sender, f"{sender}-{k}", TEXTS[k % len(TEXTS)], connector)
        replies[sender].append(reply)


@pytest.mark.redis
@pytest.mark.postgres
async def test_two_workers_share_the_port_and_the_stores(
    tmp_path: Path,
    moodbot_model: Path,
    postgres_db: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    endpoints = write_endpoints(
        tmp_path / "endpoints.yml",
        postgres_dsn=postgres_db,
        redis_url=redis_url,
        key_prefix=redis_prefix,
    )
    args = ["-m", str(moodbot_model), "--endpoints", str(endpoints), "--trace-locks"]
    replies: dict[str, list[Reply]] = {}
    with run_cluster(1, [*args, "--workers", str(WORKERS)], tmp_path) as servers:
        server: ServerProcess = servers[0]
        # A new connection per request: the kernel spreads them over the workers.
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        try:
            # /ready answers as soon as one worker is up: probe until both served.
            await probe_until_workers(server.url, postgres_db, replies, connector)
            await asyncio.gather(
                *(
                    conversation(server.url, f"w-{c}", replies, connector)
                    for c in range(CONVERSATIONS)
                )
            )
        finally:
            await connector.close()

    stored = await load_stored(postgres_db, sorted(replies))
    replicas: set[str] = set()
    for sender, events in stored.items():
        turns = audit_conversation(events, replies[sender])
        assert len(turns) == len(replies[sender])
        replicas.update(str(t.lock["replica"]) for t in turns)
    assert len({replica.split(":")[1] for replica in replicas}) == WORKERS, replicas
    assert all(replica.endswith(f":{server.port}") for replica in replicas)
    # Each worker configured logging like the main process (INFO lines are kept).
    assert server.log.read_text().count("lock_store.started") == WORKERS


async def probe_until_workers(
    url: str,
    postgres_dsn: str,
    replies: dict[str, list[Reply]],
    connector: aiohttp.BaseConnector,
    within: float = 40.0,
) -> None:
    """Send one-message conversations until every worker's pid is in the store."""
    pids: set[str] = set()
    deadline = time.monotonic() + within
    probe = 0
    while len(pids) < WORKERS:
        assert time.monotonic() < deadline, f"only workers {pids} answered within {within}s"
        sender = f"probe-{probe}"
        probe += 1
        replies[sender] = [await send(url, sender, f"{sender}-0", "hello", connector)]
        stored = await load_stored(postgres_dsn, [sender])
        _, turns = split_turns(stored[sender])
        pids.add(str(turns[0].lock["replica"]).split(":")[1])


def test_two_workers_refused_with_the_in_memory_lock_store(moodbot_model: Path) -> None:
    result = palaver_run("-m", str(moodbot_model), "--workers", "2", "-p", "1")
    assert result.returncode != 0
    assert "lock store" in result.stderr, result.stderr
    assert "--workers 2" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.redis
def test_two_workers_refused_with_the_in_memory_tracker_store(
    tmp_path: Path, moodbot_model: Path, redis_url: str
) -> None:
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        f"tracker_store:\n  type: in_memory\nlock_store:\n  type: redis\n  url: {redis_url}\n",
        encoding="utf-8",
    )
    result = palaver_run(
        "-m", str(moodbot_model), "--endpoints", str(endpoints), "--workers", "2", "-p", "1"
    )
    assert result.returncode != 0
    assert "tracker store" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
