"""A replica dies or stalls while holding a conversation's lock.

The slow bot's ``action_slow`` blocks in a test-controlled action server, so a
replica holds the conversation's Redis lock mid-turn for exactly as long as
the test wants. Killed with SIGKILL, its lock expires after ``lock_lifetime``
and the other replicas carry on, with nothing of the dead turn stored. A
message that cannot get the lock within ``--lock-wait-timeout`` gets a 503
naming the conversation, and nothing of it is stored. A client that hangs up
(Sanic cancels its request) gives up its ticket or releases the lock at once.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import aiohttp
import pytest

from palaver.locks.redis import RedisLockStore
from tests.integration.conftest import ServerProcess
from tests.integration.replica_harness import (
    Reply,
    assert_complete_turn,
    assert_turns_in_ticket_order,
    audit_conversation,
    load_stored,
    post_message,
    run_cluster,
    split_turns,
    tagged,
    write_endpoints,
)
from tests.integration.slowbot import GREETING, SLOW_REPLY, SlowActionServer

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(60)]

LOCK_LIFETIME = 2.0
CONVERSATION = "crash-victim"


class ClusterFactory(Protocol):
    def __call__(self, count: int, *args: str) -> AbstractContextManager[list[ServerProcess]]: ...


@pytest.fixture
async def action_server() -> AsyncIterator[SlowActionServer]:
    server = SlowActionServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def slow_cluster(
    tmp_path: Path,
    slowbot_model: Path,
    postgres_db: str,
    redis_url: str,
    redis_prefix: str,
    action_server: SlowActionServer,
) -> ClusterFactory:
    """``slow_cluster(count, *extra_args)``: replicas of the slow bot on shared stores."""
    endpoints = write_endpoints(
        tmp_path / "endpoints.yml",
        postgres_dsn=postgres_db,
        redis_url=redis_url,
        key_prefix=redis_prefix,
        lock_lifetime=LOCK_LIFETIME,
        action_url=action_server.url,
    )

    def start(count: int, *args: str) -> AbstractContextManager[list[ServerProcess]]:
        base = ["-m", str(slowbot_model), "--endpoints", str(endpoints), "--trace-locks"]
        return run_cluster(count, [*base, *args], tmp_path)

    return start


@pytest.fixture
async def lock_queue(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisLockStore]:
    """The replicas' lock store, seen from the test: to wait until tickets are queued."""
    store = RedisLockStore.from_config({"url": redis_url, "key_prefix": redis_prefix})
    async with store:
        yield store


async def wait_for_queue(store: RedisLockStore, length: int, within: float = 10.0) -> None:
    """Wait until the conversation's lock has ``length`` tickets (holder included)."""
    deadline = time.monotonic() + within
    while (queued := await store.queue_length(CONVERSATION)) != length:
        assert time.monotonic() < deadline, f"{queued} tickets queued, expected {length}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        yield client


class Conversation:
    """Sends tagged messages of one conversation and records the replies."""

    def __init__(self, session: aiohttp.ClientSession, servers: list[ServerProcess]) -> None:
        self.session = session
        self.servers = servers
        self.replies: list[Reply] = []

    async def say(self, replica: int, text: str, message_id: str) -> Reply:
        url = self.servers[replica].url
        try:
            status, body, seconds = await post_message(
                self.session, url, CONVERSATION, tagged(text, message_id)
            )
        except aiohttp.ClientError as exc:  # the replica died under the request
            status, body, seconds = 0, repr(exc), 0.0
        reply = Reply(message_id, replica, status, body, seconds)
        self.replies.append(reply)
        return reply


async def test_killed_holder_lock_expires_and_others_continue(
    slow_cluster: ClusterFactory,
    action_server: SlowActionServer,
    session: aiohttp.ClientSession,
    postgres_db: str,
) -> None:
    with slow_cluster(3) as servers:
        chat = Conversation(session, servers)
        assert (await chat.say(0, "hello", "k0")).bot_texts == [GREETING]
        slow = asyncio.create_task(chat.say(0, "slow", "k1"))
        killed_trace = SlowActionServer.lock_trace(await action_server.wait_for_requests(1))

        servers[0].stop(signal.SIGKILL)  # holds the lock, mid-turn
        killed = time.monotonic()
        assert (await slow).status == 0
        replies = await asyncio.gather(chat.say(1, "hello", "k2"), chat.say(2, "hello", "k3"))
        waited = time.monotonic() - killed

        assert [r.status for r in replies] == [200, 200], [r.body for r in replies]
        assert all(r.bot_texts == [GREETING] for r in replies)
        # The lock was extended at most lifetime/3 before the kill.
        assert LOCK_LIFETIME * 2 / 3 - 0.2 <= waited <= LOCK_LIFETIME + 3.0, waited
        after = await chat.say(1, "hello", "k4")
        assert after.status == 200 and after.seconds < 1.0, after

    stored = (await load_stored(postgres_db, [CONVERSATION]))[CONVERSATION]
    turns = audit_conversation(stored, chat.replies)  # k2, k3 in their ticket order
    ids = [t.message_id for t in turns]
    assert ids[0] == "k0" and sorted(ids[1:3]) == ["k2", "k3"] and ids[3] == "k4", ids
    assert not any(e.get("name") == "action_slow" for e in stored), "the dead turn was stored"
    assert turns[1].lock["fence"] > killed_trace["fence"] > turns[0].lock["fence"]
    by_id = {t.message_id: t for t in turns}
    assert str(by_id["k2"].lock["replica"]).endswith(f":{servers[1].port}")
    assert str(by_id["k3"].lock["replica"]).endswith(f":{servers[2].port}")


async def test_lock_wait_timeout_answers_503_and_stores_nothing(
    slow_cluster: ClusterFactory,
    action_server: SlowActionServer,
    session: aiohttp.ClientSession,
    postgres_db: str,
) -> None:
    with slow_cluster(2, "--lock-wait-timeout", "1") as servers:
        chat = Conversation(session, servers)
        assert (await chat.say(0, "hello", "t0")).status == 200
        slow = asyncio.create_task(chat.say(0, "slow", "t1"))
        await action_server.wait_for_requests(1)

        # One waiter on another replica, one on the holder's own replica.
        timed_out = await asyncio.gather(chat.say(1, "hello", "t2"), chat.say(0, "hello", "t3"))
        for reply in timed_out:
            assert reply.status == 503, reply.body
            assert reply.body["reason"] == "LockTimeout"
            assert reply.body["details"]["conversation_id"] == CONVERSATION
            assert CONVERSATION in reply.body["message"]
            assert 0.9 <= reply.seconds < 3.0, reply.seconds

        action_server.release.set()
        done = await slow
        assert done.status == 200 and done.bot_texts == [SLOW_REPLY], done.body
        # The given-up tickets do not hold up the next message.
        after = await chat.say(1, "hello", "t4")
        assert after.status == 200 and after.seconds < 1.0, after

    stored = (await load_stored(postgres_db, [CONVERSATION]))[CONVERSATION]
    turns = audit_conversation(stored, chat.replies)
    assert [t.message_id for t in turns] == ["t0", "t1", "t4"]


async def test_client_disconnect_releases_the_lock_at_once(
    slow_cluster: ClusterFactory,
    action_server: SlowActionServer,
    lock_queue: RedisLockStore,
    session: aiohttp.ClientSession,
    postgres_db: str,
) -> None:
    """Sanic cancels the request of a client that went away: holder and waiter let go."""
    with slow_cluster(2) as servers:
        chat = Conversation(session, servers)
        assert (await chat.say(0, "hello", "d0")).status == 200
        holder = asyncio.create_task(chat.say(0, "slow", "d1"))
        await action_server.wait_for_requests(1)
        waiter = asyncio.create_task(chat.say(0, "hello", "d2"))  # queued on the holder's replica
        await wait_for_queue(lock_queue, 2)
        queued = asyncio.create_task(chat.say(1, "hello", "d3"))  # queued on the other one
        await wait_for_queue(lock_queue, 3)
        waiter.cancel()  # closes the client connection: the server cancels the request...
        await wait_for_queue(lock_queue, 2)  # ...which gives up its ticket
        holder.cancel()
        hung_up = time.monotonic()
        reply = await queued
        assert reply.status == 200 and reply.bot_texts == [GREETING], reply.body
        # Well within the lock lifetime: released, not expired.
        assert time.monotonic() - hung_up < LOCK_LIFETIME / 2
        assert (await chat.say(1, "hello", "d4")).status == 200

    stored = (await load_stored(postgres_db, [CONVERSATION]))[CONVERSATION]
    _, turns = split_turns(stored)
    for turn in turns:
        assert_complete_turn(turn)
    assert_turns_in_ticket_order(turns)
    # The cancelled turn was dropped whole; the cancelled waiter never ran.
    assert [t.message_id for t in turns] == ["d0", "d3", "d4"]
