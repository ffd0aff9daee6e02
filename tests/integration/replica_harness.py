"""Helpers for the multi-replica tests: endpoints, a cluster of servers, store audits.

Several ``palaver run`` processes share one Redis lock store and one
PostgreSQL tracker store, like replicas behind a load balancer. Every test
message carries a unique id in its text; the audit functions read the stored
events back and check the invariants the lock must guarantee: each message
stored exactly once, each user event followed by its own complete bot turn
(ending with ``action_listen``), and per-conversation order equal to lock
ticket order (``--trace-locks`` records ticket, fence and replica in the
user event's metadata).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from palaver.stores import create_tracker_store
from tests import services
from tests.integration.conftest import ServerProcess

WEBHOOK = "/webhooks/rest/webhook"
MESSAGE_ID = re.compile(r"\[(?P<id>[a-z0-9-]+)\]")
READY_TIMEOUT = 45.0


def tracker_store_config(postgres_dsn: str) -> dict[str, Any]:
    """``tracker_store`` for the test's fresh PostgreSQL database."""
    return {
        "type": "sql",
        "dialect": "postgresql",
        "url": postgres_dsn,
        "db": postgres_dsn.rsplit("/", 1)[1],
    }


def write_endpoints(
    path: Path,
    *,
    postgres_dsn: str,
    redis_url: str,
    key_prefix: str,
    lock_lifetime: float | None = None,
    action_url: str | None = None,
) -> Path:
    """Write an endpoints.yml with the shared stores; returns its path."""
    lock_store: dict[str, Any] = {"type": "redis", "url": redis_url, "key_prefix": key_prefix}
    if lock_lifetime is not None:
        lock_store["lock_lifetime"] = lock_lifetime
        lock_store["lock_poll_interval"] = min(0.2, lock_lifetime / 4)
    endpoints: dict[str, Any] = {
        "tracker_store": tracker_store_config(postgres_dsn),
        "lock_store": lock_store,
    }
    if action_url is not None:
        endpoints["action_endpoint"] = {"url": action_url, "timeout": 120}
    path.write_text(yaml.safe_dump(endpoints), encoding="utf-8")
    return path


@contextlib.contextmanager
def run_cluster(
    count: int, args: Sequence[str], log_dir: Path, env: Mapping[str, str] | None = None
) -> Iterator[list[ServerProcess]]:
    """Start ``count`` servers at once (separate processes and ports); stop them after."""
    full_env = {**os.environ, **(env or {})}
    servers: list[ServerProcess] = []
    try:
        for index in range(count):
            port = services.free_port()
            log = log_dir / f"replica-{index}-{port}.log"
            servers.append(ServerProcess(list(args), port, log, full_env))
        for server in servers:
            server.wait_ready(timeout=READY_TIMEOUT, path="/ready")
        yield servers
    finally:
        stop_all(servers)


def stop_all(servers: Sequence[ServerProcess], grace: float = 15.0) -> None:
    """SIGTERM every server at once, then wait; SIGKILL only after ``grace`` seconds.

    One signal each: a second SIGTERM during a graceful shutdown would cut
    the server's own cleanup short (closing its pools).
    """
    for server in servers:
        if server.proc.poll() is None:
            server.proc.terminate()
    deadline = time.monotonic() + grace
    for server in servers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        server.stop()  # kills a server still running; closes the log


def tagged(text: str, message_id: str) -> str:
    """A message text carrying a unique id (``hello [m-17]``)."""
    return f"{text} [{message_id}]"


def message_id_of(event: Mapping[str, Any]) -> str:
    match = MESSAGE_ID.search(str(event.get("text") or ""))
    if match is None:
        raise AssertionError(f"stored user event without a test id: {event.get('text')!r}")
    return match.group("id")


@dataclass
class Reply:
    """One HTTP exchange: what was sent where, and what came back."""

    message_id: str
    replica: int
    status: int
    body: Any
    seconds: float

    @property
    def bot_texts(self) -> list[str]:
        """Texts of the bot's messages (a channel sends an image as its own message)."""
        assert isinstance(self.body, list), self.body
        return [m["text"] for m in self.body if m.get("text") is not None]


async def post_message(
    session: aiohttp.ClientSession,
    url: str,
    sender: str,
    text: str,
    metadata: Mapping[str, Any] | None = None,
) -> tuple[int, Any, float]:
    """POST to the REST channel; returns status, decoded body and seconds taken."""
    payload: dict[str, Any] = {"sender": sender, "message": text}
    if metadata is not None:
        payload["metadata"] = dict(metadata)
    started = time.perf_counter()
    async with session.post(url + WEBHOOK, json=payload) as resp:
        body = await resp.json(content_type=None)
        return resp.status, body, time.perf_counter() - started


async def load_stored(postgres_dsn: str, sender_ids: Sequence[str]) -> dict[str, list[Any]]:
    """Every stored event (all sessions) of each conversation, read from the store."""
    store = create_tracker_store(tracker_store_config(postgres_dsn))
    await store.start()
    try:
        result: dict[str, list[Any]] = {}
        for sender_id in sender_ids:
            stored = await store.load(sender_id, full=True)
            result[sender_id] = [] if stored is None else list(stored.events)
        return result
    finally:
        await store.stop()


@dataclass
class Turn:
    """A stored user event and the events after it, up to the next user event."""

    user: dict[str, Any]
    after: list[dict[str, Any]] = field(default_factory=list)

    @property
    def message_id(self) -> str:
        return message_id_of(self.user)

    @property
    def lock(self) -> dict[str, Any]:
        trace = (self.user.get("metadata") or {}).get("palaver_lock")
        assert isinstance(trace, dict), f"user event without palaver_lock: {self.user}"
        return trace

    @property
    def bot_texts(self) -> list[str]:
        return [e["text"] for e in self.after if e["event"] == "bot" and e.get("text") is not None]


def split_turns(events: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Turn]]:
    """The events before the first user event, and one ``Turn`` per user event."""
    prefix: list[dict[str, Any]] = []
    turns: list[Turn] = []
    for event in events:
        if event["event"] == "user":
            turns.append(Turn(event))
        elif turns:
            turns[-1].after.append(event)
        else:
            prefix.append(event)
    return prefix, turns


def _action(event: Mapping[str, Any]) -> str | None:
    return str(event["name"]) if event["event"] == "action" else None


def assert_session_start(prefix: Sequence[dict[str, Any]]) -> None:
    """A new conversation's stored events begin with exactly one session start.

    ``action_session_start`` may set slots (``session_started_metadata``).
    """
    shape = [_action(e) or e["event"] for e in prefix if e["event"] != "slot"]
    assert shape == ["action_session_start", "session_started", "action_listen"], prefix


def assert_complete_turn(turn: Turn) -> None:
    """The turn holds only its own bot turn: actions and their events, then listen."""
    actions = [_action(e) for e in turn.after if _action(e) is not None]
    assert actions, f"user event {turn.message_id} has no bot turn"
    assert actions[-1] == "action_listen", f"turn of {turn.message_id} does not end listening"
    assert "action_listen" not in actions[:-1], f"turn of {turn.message_id} is interleaved"
    assert _action(turn.after[-1]) == "action_listen", f"turn of {turn.message_id} is cut"
    assert not any(e["event"] in ("session_started", "user") for e in turn.after), turn


def assert_turns_in_ticket_order(turns: Sequence[Turn]) -> None:
    """Tickets and fences strictly increase in stored order."""
    tickets = [int(t.lock["ticket"]) for t in turns]
    fences = [int(t.lock["fence"]) for t in turns]
    assert all(a < b for a, b in itertools.pairwise(tickets)), tickets
    assert all(a < b for a, b in itertools.pairwise(fences)), fences


def audit_conversation(
    events: Sequence[dict[str, Any]],
    sent: Sequence[Reply],
) -> list[Turn]:
    """Check one conversation's stored events against the messages sent to it.

    Every successful message is stored exactly once, as a complete turn whose
    bot messages are the ones its HTTP reply carried; turns are stored in lock
    ticket order. Returns the turns in stored order.
    """
    prefix, turns = split_turns(events)
    assert_session_start(prefix)
    stored_ids = [t.message_id for t in turns]
    expected = sorted(r.message_id for r in sent if r.status == 200)
    assert sorted(stored_ids) == expected, "each message stored exactly once"
    by_id = {r.message_id: r for r in sent}
    for turn in turns:
        assert_complete_turn(turn)
        reply = by_id[turn.message_id]
        assert turn.bot_texts == reply.bot_texts, (turn.message_id, turn.after, reply.body)
    assert_turns_in_ticket_order(turns)
    return turns
