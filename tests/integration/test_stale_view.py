"""A turn computed on a stale view of its conversation is redone, never stored.

The window: holder A's lock expires while A still works (slow action, GC
pause); B takes the lock (fence f+1) and loads the conversation; A stores its
turn under fence f (accepted: the store has not seen f+1 yet); B's turn, built
without A's events, must not be stored after them. The processor passes the
event count it loaded as ``expected_total``; the store refuses the append
(nothing stored, nothing sent yet), and B reloads and runs its turn again.

In-process tests pin the processor's behaviour (a redo, then a 409 when the
conversation keeps changing); the replica test reproduces the window with
``palaver run`` processes on the shared Redis lock store and PostgreSQL
tracker store, freezing A with SIGSTOP (a pause as long as a lock lifetime).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from palaver.channels.base import CollectingOutputChannel, UserMessage
from palaver.errors import ConversationChangedError
from palaver.locks.memory import InMemoryLockStore
from palaver.server.app import _error_for
from palaver.server.runtime import Runtime
from palaver.server.settings import ServerSettings
from palaver.stores.base import StoredConversation
from palaver.stores.memory import InMemoryTrackerStore
from tests.integration.conftest import ServerProcess
from tests.integration.replica_harness import (
    MESSAGE_ID,
    Reply,
    audit_conversation,
    load_stored,
    post_message,
    run_cluster,
    tagged,
    write_endpoints,
)
from tests.integration.slowbot import SLOW_REPLY, SlowActionServer

# -- in process: two replicas whose locks do not exclude each other -----------------


class InterleavingStore(InMemoryTrackerStore):
    """Runs ``after_load`` (another replica's whole turn) right after a load returns.

    Calls made by the hook itself do not run it again.
    """

    def __init__(self) -> None:
        super().__init__()
        self.after_load: Callable[[], Awaitable[None]] | None = None
        self.loads_interleaved = 0
        self._in_hook = False

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        loaded = await super().load(sender_id, full=full)
        if self.after_load is not None and not self._in_hook:
            self._in_hook = True
            try:
                await self.after_load()
            finally:
                self._in_hook = False
            self.loads_interleaved += 1
        return loaded


@pytest.fixture
async def replicas(
    moodbot_model: Path,
) -> AsyncIterator[tuple[Runtime, Runtime, InterleavingStore]]:
    """Two runtimes on one store, each with its own lock store: as if A's lock had expired."""
    shared = InterleavingStore()
    runtimes = []
    for _ in range(2):
        runtime = Runtime(ServerSettings(model=str(moodbot_model)))
        runtime.tracker_store = shared
        runtime.lock_store = InMemoryLockStore()
        await runtime.start()
        runtimes.append(runtime)
    yield runtimes[0], runtimes[1], shared
    for runtime in runtimes:
        await runtime.stop()


async def say(runtime: Runtime, sender: str, text: str) -> list[str]:
    output = CollectingOutputChannel()
    assert runtime.processor is not None
    await runtime.processor.handle_message(UserMessage(text=text, sender_id=sender), output)
    return [m.get("text", "") for m in output.messages]


def shape(events: list[dict[str, Any]]) -> list[str]:
    return [f"{e['event']}:{e.get('name') or e.get('text') or ''}" for e in events]


async def test_turn_on_a_stale_view_is_run_again_after_the_other_write(
    replicas: tuple[Runtime, Runtime, InterleavingStore], caplog: pytest.LogCaptureFixture
) -> None:
    a, b, store = replicas
    caplog.set_level(logging.WARNING, logger="palaver.core.processor")

    async def a_turn() -> None:
        assert await say(a, "x", "hello") == ["Hey! How are you?"]
        store.after_load = None

    # B loads the new conversation (nothing stored), then A stores a whole turn.
    store.after_load = a_turn
    replies = await say(b, "x", "I am sad")

    assert store.loads_interleaved == 1
    stored = await store.load("x", full=True)
    assert stored is not None
    users = [e["text"] for e in stored.events if e["event"] == "user"]
    assert users == ["hello", "I am sad"]
    # B's redo saw A's session: one session start, not a second one for B's stale view.
    assert [e["event"] for e in stored.events].count("session_started") == 1
    after_b = stored.events[[e.get("text") for e in stored.events].index("I am sad") + 1 :]
    bot_texts = [e["text"] for e in after_b if e["event"] == "bot" and e.get("text")]
    assert bot_texts == [text for text in replies if text]  # what B sent: its redo
    assert after_b[-1]["event"] == "action" and after_b[-1]["name"] == "action_listen"
    assert "session_started" not in shape(after_b)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "conversation x changed while a turn ran" in warnings[0]
    assert "loaded with 0 stored events, now 8" in warnings[0]  # A's first turn
    assert a.counters.message_errors == 0 and b.counters.message_errors == 0
    # B's cache now holds the stored state: its next turn needs no reload.
    assert await say(b, "x", "yes") == ["Great, carry on!"]
    assert b.processor is not None and b.processor._trackers.hits == 1


async def test_api_operation_on_a_stale_view_is_refused_with_nothing_stored(
    replicas: tuple[Runtime, Runtime, InterleavingStore],
) -> None:
    """``processor.conversation()`` (HTTP API routes, fired reminders) checks the count too."""
    from palaver.core.events import SlotSet

    a, b, store = replicas
    await say(a, "z", "hello")

    async def a_turn() -> None:
        await say(a, "z", "I am sad")

    store.after_load = a_turn
    assert b.processor is not None
    with pytest.raises(ConversationChangedError) as refused:
        async with b.processor.conversation("z", session="keep") as turn:
            turn.tracker.update(SlotSet("from_api", "stale"))
    store.after_load = None

    stored = await store.load("z", full=True)
    assert stored is not None
    assert not any(e["event"] == "slot" and e.get("name") == "from_api" for e in stored.events)
    assert [e["text"] for e in stored.events if e["event"] == "user"] == ["hello", "I am sad"]
    assert _error_for(refused.value).status == 409


async def test_conversation_changing_under_every_attempt_is_a_409_with_nothing_stored(
    replicas: tuple[Runtime, Runtime, InterleavingStore], caplog: pytest.LogCaptureFixture
) -> None:
    from palaver.core.processor import TURN_ATTEMPTS

    a, b, store = replicas
    caplog.set_level(logging.WARNING, logger="palaver.core.processor")
    await say(a, "y", "hello")
    a_texts = iter(["I am great", "I am sad", "no", "bye"])

    async def a_turn() -> None:
        await say(a, "y", next(a_texts))

    store.after_load = a_turn
    with pytest.raises(ConversationChangedError) as refused:
        await say(b, "y", "hi [b]")
    store.after_load = None

    assert store.loads_interleaved == TURN_ATTEMPTS
    stored = await store.load("y", full=True)
    assert stored is not None
    users = [e["text"] for e in stored.events if e["event"] == "user"]
    assert users == ["hello", "I am great", "I am sad"][: TURN_ATTEMPTS + 1]
    assert refused.value.actual == stored.total_events
    response = _error_for(refused.value)
    assert response.status == 409
    body = orjson.loads(response.body or b"{}")
    assert body["reason"] == "ConversationConflict" and "'y'" in body["message"]
    assert b.counters.message_errors == 1
    redo_lines = [r for r in caplog.records if "changed while a turn ran" in r.getMessage()]
    assert len(redo_lines) == TURN_ATTEMPTS - 1


# -- replicas: a frozen holder whose lock expired --------------------------------------

LOCK_LIFETIME = 2.0
CONVERSATION = "stale-view"


class GatedActionServer(SlowActionServer):
    """``action_slow`` requests wait for their own gate; replies name the messages seen.

    The reply text lists the test ids of the user messages in the tracker the
    action was sent, so the stored bot event shows which view its turn ran on.
    """

    def __init__(self) -> None:
        super().__init__()
        self._gates: dict[int, asyncio.Event] = {}

    def gate(self, index: int) -> asyncio.Event:
        """The gate of the ``index``-th request (0-based)."""
        return self._gates.setdefault(index, asyncio.Event())

    @staticmethod
    def seen(request: dict[str, Any]) -> list[str]:
        """Test ids of the user messages in the request's tracker."""
        texts = [str(e.get("text")) for e in request["tracker"]["events"] if e["event"] == "user"]
        return [match.group("id") for text in texts if (match := MESSAGE_ID.search(text))]

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        index = len(self.requests)
        self.requests.append(body)
        if body.get("next_action") != "action_slow":
            return web.json_response({"action_name": body.get("next_action")}, status=404)
        waits = [asyncio.ensure_future(e.wait()) for e in (self.gate(index), self.release)]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits:
            waiting.cancel()
        text = f"{SLOW_REPLY} saw {','.join(self.seen(body))}"
        return web.json_response({"events": [], "responses": [{"text": text}]})


@pytest.fixture
async def action_server() -> AsyncIterator[GatedActionServer]:
    server = GatedActionServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def replica_pair(
    tmp_path: Path,
    slowbot_model: Path,
    postgres_db: str,
    redis_url: str,
    redis_prefix: str,
    action_server: GatedActionServer,
) -> Iterator[list[ServerProcess]]:
    endpoints = write_endpoints(
        tmp_path / "endpoints.yml",
        postgres_dsn=postgres_db,
        redis_url=redis_url,
        key_prefix=redis_prefix,
        lock_lifetime=LOCK_LIFETIME,
        action_url=action_server.url,
    )
    args = ["-m", str(slowbot_model), "--endpoints", str(endpoints), "--trace-locks"]
    with run_cluster(2, args, tmp_path) as servers:
        try:
            yield servers
        finally:
            for server in servers:  # a stopped process would not see SIGTERM
                if server.proc.poll() is None:
                    server.proc.send_signal(signal.SIGCONT)


async def send(
    session: aiohttp.ClientSession, server: ServerProcess, message_id: str, text: str
) -> Reply:
    status, body, seconds = await post_message(
        session, server.url, CONVERSATION, tagged(text, message_id)
    )
    return Reply(message_id, 0, status, body, seconds)


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.timeout(90)
async def test_holder_frozen_past_its_lock_lifetime_does_not_make_the_next_turn_stale(
    replica_pair: list[ServerProcess], action_server: GatedActionServer, postgres_db: str
) -> None:
    a, b = replica_pair
    timeout = aiohttp.ClientTimeout(total=45)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        first = await send(session, a, "s0", "hello")
        assert first.status == 200, first.body

        # A holds the lock, mid-turn in its slow action, and freezes there.
        a_reply = asyncio.create_task(send(session, a, "s1", "slow"))
        a_request = await action_server.wait_for_requests(1)
        a.proc.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            # B gets the lock once A's expires, loads (without A's turn), calls the action.
            b_reply = asyncio.create_task(send(session, b, "s2", "slow"))
            b_request = await action_server.wait_for_requests(2, within=LOCK_LIFETIME + 15)
            assert time.monotonic() - frozen >= LOCK_LIFETIME * 2 / 3 - 0.2
        finally:
            a.proc.send_signal(signal.SIGCONT)
        a_fence = SlowActionServer.lock_trace(a_request)["fence"]
        assert SlowActionServer.lock_trace(b_request)["fence"] > a_fence
        assert GatedActionServer.seen(b_request) == ["s0", "s2"]  # B's view lacks s1

        # A finishes and stores its turn under its old fence: the store has not
        # seen B's fence yet, so it is accepted; A answers although its lock is gone.
        action_server.gate(0).set()
        a_done = await a_reply
        assert a_done.status == 200, a_done.body
        assert a_done.bot_texts == [f"{SLOW_REPLY} saw s0,s1"]

        # B's turn, computed without s1, is refused by the store and run again.
        action_server.release.set()
        b_done = await b_reply
        assert b_done.status == 200, b_done.body
        assert b_done.bot_texts == [f"{SLOW_REPLY} saw s0,s1,s2"]

    assert len(action_server.requests) == 3  # s1 once; s2 twice (stale view, redo)
    assert GatedActionServer.seen(action_server.requests[2]) == ["s0", "s1", "s2"]
    stored = (await load_stored(postgres_db, [CONVERSATION]))[CONVERSATION]
    turns = audit_conversation(stored, [first, a_done, b_done])
    assert [t.message_id for t in turns] == ["s0", "s1", "s2"]
    assert turns[2].bot_texts == [f"{SLOW_REPLY} saw s0,s1,s2"]
    assert sum(1 for e in stored if e.get("name") == "action_slow") == 2
    b_log = b.log.read_text(errors="replace")
    assert f"conversation {CONVERSATION} changed while a turn ran" in b_log
