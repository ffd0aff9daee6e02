"""Lock wait of one hot conversation served by 3 replicas (for the replicas engineer).

Three ``palaver run --trace-locks`` replicas on the production stack; every
message goes to one conversation, connections split evenly over the replicas.
With ``--trace-locks`` each user event records its lock ticket, fence,
replica and ``wait_ms`` (from asking for the lock to holding it); the wait
distribution is read back from PostgreSQL for the measured window.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from dataclasses import replace
from typing import Any

from bench.load import run_load
from bench.procs import palaver_server
from bench.runner import Context, Row, measure
from bench.scenarios.hot import _pct
from palaver.stores import create_tracker_store

TITLE = "lock wait, hot conversation, 3 replicas"
REPLICAS = 3


async def _waits(config: dict[str, Any], sender: str, since: float, until: float) -> list[float]:
    store = create_tracker_store(config)
    await store.start()
    try:
        stored = await store.load(sender, full=True)
    finally:
        await store.stop()
    waits = []
    for event in stored.events if stored else []:
        if event.get("event") != "user" or not since <= event.get("timestamp", 0) <= until:
            continue
        trace = (event.get("metadata") or {}).get("palaver_lock") or {}
        if "wait_ms" in trace:
            waits.append(float(trace["wait_ms"]))
    return waits


def run(ctx: Context) -> list[Row]:
    endpoints = ctx.work_dir / "endpoints-lockwait.yml"
    config = ctx.services.endpoints(
        endpoints, store="postgres", lock="redis", broker=True, label="lockwait"
    )
    servers = [
        palaver_server(f"palaver-lw{i}", ctx.model(), ctx.port(), ctx.log_dir,
                       endpoints=endpoints, extra=["--trace-locks"])
        for i in range(REPLICAS)
    ]  # fmt: skip
    rows = []
    with contextlib.ExitStack() as stack:
        for server in servers:
            stack.enter_context(server)
        for server in servers:
            server.wait_answering()
        for connections in (REPLICAS, 32):
            runs, wait_runs = [], []
            for _ in range(ctx.settings.repeats):
                urls = [s.url for s in servers]
                # Warm up on another conversation: only the measured run's turns count.
                warm = ctx.spec(
                    urls, connections, senders="one", hot_sender=f"lw-warm-{uuid.uuid4().hex[:6]}"
                )
                if warm.warmup > 0:
                    run_load(replace(warm, duration=warm.warmup, warmup=0.0), ctx.wrk)
                hot = f"lockwait-{uuid.uuid4().hex[:6]}"
                spec = replace(
                    ctx.spec(urls, connections, senders="one", hot_sender=hot), warmup=0.0
                )
                since = time.time()
                result = measure(ctx, servers, spec)
                until = time.time()
                waits = asyncio.run(_waits(config["tracker_store"], hot, since, until))
                runs.append(result.as_dict())
                wait_runs.append(waits)
            rows.append(_row(connections, runs, wait_runs))
    return rows


def _row(connections: int, runs: list[dict[str, Any]], wait_runs: list[list[float]]) -> Row:
    def med(fn: Any) -> float:
        return round(statistics.median(fn(w) for w in wait_runs if w), 3) if any(wait_runs) else 0.0

    palaver = {
        "rps": round(statistics.median(r["rps"] for r in runs), 1),
        "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
        "cpu_us_per_msg": round(statistics.median(r["cpu_us_per_msg"] for r in runs), 1),
        "errors": sum(r["errors"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "lock_wait_p50_ms": med(lambda w: _pct(w, 50)),
        "lock_wait_p90_ms": med(lambda w: _pct(w, 90)),
        "lock_wait_p99_ms": med(lambda w: _pct(w, 99)),
        "lock_wait_mean_ms": med(statistics.fmean),
        "traced_messages": sum(len(w) for w in wait_runs),
        "runs": len(runs),
    }
    return Row("lockwait", f"hot conversation x{REPLICAS} replicas", connections, palaver,
               raw={"palaver": runs})  # fmt: skip
