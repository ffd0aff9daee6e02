"""Start-up time (process start to the first answered message) and idle RSS.

``palaver run`` is started with the moodbot model and polled with a real
message every 10 ms; the time until the first 200 answer is the start-up
time. One second later the resident set (``VmRSS``) is the idle RSS. Both on
the in-memory stack and on the production stack.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.procs import palaver_server
from bench.runner import Context, Row

TITLE = "start-up time and idle RSS"
IDLE_SETTLE_S = 1.0


def _once(ctx: Context, label: str, endpoints: Any) -> dict[str, float]:
    server = palaver_server(
        f"palaver-startup-{label}", ctx.model(), ctx.port(), ctx.log_dir, endpoints=endpoints
    )
    with server:
        startup = server.wait_answering(timeout=120)
        time.sleep(IDLE_SETTLE_S)
        return {"startup_s": startup, "idle_rss_mb": server.rss_mb()}


def run(ctx: Context) -> list[Row]:
    ctx.model()  # trained before timing
    rows = []
    for label, stack in (("in-memory", ("memory", "memory", False)),
                         ("production", ("postgres", "redis", True))):  # fmt: skip
        endpoints = ctx.work_dir / f"endpoints-startup-{label}.yml"
        store, lock, broker = stack
        ctx.services.endpoints(endpoints, store=store, lock=lock, broker=broker, label="startup")
        runs = [_once(ctx, label, endpoints) for _ in range(max(3, ctx.settings.repeats))]
        rows.append(
            Row(
                scenario="startup",
                variant=label,
                connections=None,
                palaver={
                    "startup_s": round(statistics.median(r["startup_s"] for r in runs), 3),
                    "idle_rss_mb": round(statistics.median(r["idle_rss_mb"] for r in runs), 1),
                    "errors": 0,
                    "runs": len(runs),
                },
                raw={"palaver": runs},
            )
        )
    return rows
