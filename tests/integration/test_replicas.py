"""Three replicas, one Redis lock store, one PostgreSQL tracker store, one hot conversation.

200 messages of one conversation go round robin to three ``palaver run``
processes with 50 in flight, next to 200 messages over 50 other
conversations. The stored trackers must show every message exactly once, each
followed by its own complete bot turn, in lock ticket order.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import ServerProcess
from tests.integration.replica_harness import (
    Reply,
    audit_conversation,
    load_stored,
    post_message,
    run_cluster,
    tagged,
    write_endpoints,
)

# About 30 s on an idle 2-core machine; the guard allows for a busy one (and for
# training the moodbot fixture, when this test is the first to need it).
pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(120)]

REPLICAS = 3
HOT = "hot-conversation"
HOT_LANES = 50  # messages of the hot conversation in flight at once
HOT_PER_LANE = 4  # 200 hot messages
COLD_CONVERSATIONS = 50
COLD_LANES_EACH = 2  # concurrent senders per cold conversation
COLD_PER_LANE = 2  # 200 cold messages
TEXTS = ("hello", "I am great", "I am sad", "yes", "no", "are you a bot?", "bye")


@pytest.fixture
def cluster(
    tmp_path: Path,
    moodbot_model: Path,
    postgres_db: str,
    redis_url: str,
    redis_prefix: str,
) -> Iterator[list[ServerProcess]]:
    endpoints = write_endpoints(
        tmp_path / "endpoints.yml",
        postgres_dsn=postgres_db,
        redis_url=redis_url,
        key_prefix=redis_prefix,
    )
    args = ["-m", str(moodbot_model), "--endpoints", str(endpoints), "--trace-locks"]
    with run_cluster(REPLICAS, args, tmp_path) as servers:
        yield servers


class Sender:
    """Posts messages round robin over the replicas and records every reply."""

    def __init__(self, session: aiohttp.ClientSession, servers: list[ServerProcess]) -> None:
        self.session = session
        self.urls = [s.url for s in servers]
        self.turn = itertools.count()
        self.replies: dict[str, list[Reply]] = {}

    async def lane(self, sender: str, lane: str, count: int) -> list[str]:
        """Send ``count`` messages one after another; returns their ids in send order."""
        ids = []
        for k in range(count):
            message_id = f"{lane}-{k}"
            turn = next(self.turn)
            replica = turn % len(self.urls)
            text = tagged(TEXTS[turn % len(TEXTS)], message_id)
            status, body, seconds = await post_message(
                self.session, self.urls[replica], sender, text
            )
            reply = Reply(message_id, replica, status, body, seconds)
            self.replies.setdefault(sender, []).append(reply)
            assert status == 200, (message_id, body)
            ids.append(message_id)
        return ids


async def test_one_hot_conversation_across_three_replicas(
    cluster: list[ServerProcess], postgres_db: str
) -> None:
    timeout = aiohttp.ClientTimeout(total=50)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        sender = Sender(session, cluster)
        hot = [sender.lane(HOT, f"h{lane}", HOT_PER_LANE) for lane in range(HOT_LANES)]
        cold = [
            sender.lane(f"cold-{c}", f"c{c}x{lane}", COLD_PER_LANE)
            for c in range(COLD_CONVERSATIONS)
            for lane in range(COLD_LANES_EACH)
        ]
        lanes = await asyncio.gather(*hot, *cold)

    assert sum(len(r) for r in sender.replies.values()) == 400
    stored = await load_stored(postgres_db, sorted(sender.replies))
    positions: dict[str, int] = {}
    replicas_seen: set[str] = set()
    for conversation, events in stored.items():
        turns = audit_conversation(events, sender.replies[conversation])
        positions.update((t.message_id, i) for i, t in enumerate(turns))
        if conversation == HOT:
            assert len(turns) == HOT_LANES * HOT_PER_LANE
            replicas_seen = {str(t.lock["replica"]) for t in turns}
    # A lane sends its next message only after the previous reply: causal order kept.
    for ids in lanes:
        assert [positions[i] for i in ids] == sorted(positions[i] for i in ids), ids
    assert len(replicas_seen) == REPLICAS, replicas_seen
    _report(sender.replies)


def _report(replies: dict[str, list[Reply]]) -> None:
    """Print latencies (``pytest -s``): the hot conversation queues on its lock."""
    hot = sorted(r.seconds for r in replies[HOT])
    cold = sorted(r.seconds for k, v in replies.items() if k != HOT for r in v)

    def summary(values: list[Any]) -> str:
        p95 = values[int(len(values) * 0.95)]
        return f"median {statistics.median(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"

    print(f"\nhot conversation: {summary(hot)}; other conversations: {summary(cold)}")
