"""(b) One hot conversation: per-turn latency at ~10 and at 10,000 prior events.

A conversation is pre-loaded with 10,000 events through the HTTP API
(``POST /conversations/<id>/tracker/events``, batches of 2,000): copies of
the events of a real six-message moodbot conversation, timestamped within the
last ten minutes, all in one session, so a store that loads the whole session
per turn pays for all of them.

Then, with one connection and strictly alternating, single turns are timed on
a fresh conversation that has ~10 prior events (two earlier turns) and on the
pre-loaded one. The target is p50(10,000) <= 1.2 x p50(10). Finally wrk (or the
Python generator) drives a hot conversation at 1 and 32 connections (every
message to that one conversation, so its turns are serialised by the lock);
each measured run gets its own freshly pre-loaded conversation, so every run
starts at 10,000 prior events. The floor's lock is a naive ``SET NX`` retry
loop, so at 32 connections on one key its number says little.

Run on the in-memory stack and on the production stack (Redis lock,
PostgreSQL, Kafka).
"""

from __future__ import annotations

import copy
import http.client
import itertools
import statistics
import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from bench.load import MESSAGES, LoadSpec
from bench.procs import WEBHOOK, Server, floor_server, palaver_server
from bench.runner import Context, Row, compare
from bench.scenarios.production import FLOOR_NAME, stack_floor

TITLE = "(b) one hot conversation, 10 vs 10,000 prior events"
PRIOR_EVENTS = 10_000
BATCH = 2_000


class Client:
    """One keep-alive HTTP connection, used sequentially."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        self.conn.request(
            method, path, body=orjson.dumps(body), headers={"Content-Type": "application/json"}
        )
        response = self.conn.getresponse()
        return response.status, response.read()

    def turn(self, sender: str, text: str) -> float:
        """Milliseconds for one message; raises on a non-200 answer."""
        start = time.perf_counter()
        status, body = self.call("POST", WEBHOOK, {"sender": sender, "message": text})
        elapsed = (time.perf_counter() - start) * 1000
        if status != 200 or not body.startswith(b"[{"):
            raise RuntimeError(f"turn for {sender} failed: {status} {body[:200]!r}")
        return elapsed

    def close(self) -> None:
        self.conn.close()


def template_turns(client: Client, run: str) -> list[dict[str, Any]]:
    """The events of a real six-message conversation, without its session start."""
    sender = f"template-{run}"
    for text in MESSAGES:
        client.turn(sender, text)
    status, body = client.call("GET", f"/conversations/{sender}/tracker?include_events=ALL", None)
    if status != 200:
        raise RuntimeError(f"could not read the template conversation: {status} {body[:200]!r}")
    events: list[dict[str, Any]] = orjson.loads(body)["events"]
    return events[2:]  # session_started, action_listen


def preload(client: Client, sender: str, turns: list[dict[str, Any]], count: int) -> int:
    """Append about ``count`` events (whole turns) in one session; returns how many."""
    events: list[dict[str, Any]] = []
    while len(events) < count:
        events.extend(copy.deepcopy(turns))
    last_listen = max(
        i for i, e in enumerate(events[: count - 2]) if e.get("name") == "action_listen"
    )
    now = time.time()
    start = now - 600.0
    step = 600.0 / count
    head = [
        {"event": "session_started", "timestamp": start},
        {"event": "action", "name": "action_listen", "timestamp": start},
    ]
    events = head + events[: last_listen + 1]
    for i, event in enumerate(events):
        event["timestamp"] = start + i * step
    path = f"/conversations/{sender}/tracker/events?include_events=NONE"
    for offset in range(0, len(events), BATCH):
        status, body = client.call("POST", path, events[offset : offset + BATCH])
        if status != 200:
            raise RuntimeError(f"preload failed: {status} {body[:300]!r}")
    return len(events)


def per_turn(client: Client, hot: str, run: str, turns: int) -> dict[str, Any]:
    """Alternate single timed turns: fresh conversation (~10 prior events) vs hot one."""
    for i in range(20):  # the first turn after the preload reloads the conversation
        client.turn(hot, MESSAGES[i % len(MESSAGES)])
    fresh_ms, hot_ms = [], []
    for k in range(turns):
        sender = f"fresh-{run}-{k}"
        client.turn(sender, MESSAGES[0])
        client.turn(sender, MESSAGES[1])
        text = MESSAGES[(k + 2) % len(MESSAGES)]
        fresh_ms.append(client.turn(sender, text))
        hot_ms.append(client.turn(hot, text))
    fresh_p50, hot_p50 = statistics.median(fresh_ms), statistics.median(hot_ms)
    return {
        "turns": turns,
        "fresh_p50_ms": round(fresh_p50, 3),
        "fresh_p90_ms": round(_pct(fresh_ms, 90), 3),
        "hot_p50_ms": round(hot_p50, 3),
        "hot_p90_ms": round(_pct(hot_ms, 90), 3),
        "ratio_p50": round(hot_p50 / fresh_p50, 3),
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _variant(ctx: Context, label: str, stack: str) -> list[Row]:
    run = uuid.uuid4().hex[:6]
    endpoints = ctx.work_dir / f"endpoints-b-{label}.yml"
    if stack == "memory":
        ctx.services.endpoints(endpoints, store="memory", lock="memory", broker=False, label="b")
        floor: Server = floor_server(f"floor-bare-b{label}", "bare", ctx.port(), ctx.log_dir)
        floor_name = "bare Sanic"
    else:
        ctx.services.endpoints(endpoints, store="postgres", lock="redis", broker=True, label="b")
        floor = stack_floor(
            ctx, f"floor-stack-b{label}", ctx.services.new_database("floor"),
            ctx.services.new_prefix("floor"),
        )  # fmt: skip
        floor_name = FLOOR_NAME
    palaver = palaver_server(
        f"palaver-b-{label}", ctx.model(), ctx.port(), ctx.log_dir,
        endpoints=endpoints, extra=["--enable-api"],
    )  # fmt: skip
    hot = f"hot-{run}"
    with palaver, floor:
        palaver.wait_answering()
        floor.wait_answering()
        client = Client(palaver.port)
        try:
            started = time.perf_counter()
            turns = template_turns(client, run)
            loaded = preload(client, hot, turns, PRIOR_EVENTS)
            preload_s = time.perf_counter() - started
            latency = per_turn(client, hot, run, 60 if ctx.settings.quick else 300)
            runs = itertools.count()

            def spec_for(urls: Sequence[str], connections: int) -> LoadSpec:
                # A freshly pre-loaded conversation for every measured run, so each
                # starts at 10,000 prior events instead of at what earlier runs left.
                sender = f"{hot}-run{next(runs)}"
                if list(urls) == [palaver.url]:
                    preload(client, sender, turns, PRIOR_EVENTS)
                return ctx.spec(urls, connections, senders="one", hot_sender=sender)

            rows = compare(ctx, "b", f"hot conversation, {label}", [palaver], [floor],
                           floor_name, spec_for=spec_for)  # fmt: skip
        finally:
            client.close()
    for row in rows:
        row.extra = {"preloaded_events": loaded, "preload_s": round(preload_s, 2), **latency}
    return rows


def run(ctx: Context) -> list[Row]:
    rows = _variant(ctx, "in-memory", "memory")
    rows += _variant(ctx, "production", "production")
    return rows
