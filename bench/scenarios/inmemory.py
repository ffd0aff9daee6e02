"""(a) In-memory stores, many conversations; floor: bare Sanic."""

from __future__ import annotations

from bench.procs import floor_server, palaver_server
from bench.runner import Context, Row, compare

TITLE = "(a) in-memory stores, many conversations"


def run(ctx: Context) -> list[Row]:
    endpoints = ctx.work_dir / "endpoints-a.yml"
    ctx.services.endpoints(endpoints, store="memory", lock="memory", broker=False, label="a")
    palaver = palaver_server("palaver-a", ctx.model(), ctx.port(), ctx.log_dir, endpoints=endpoints)
    floor = floor_server("floor-bare", "bare", ctx.port(), ctx.log_dir)
    with palaver, floor:
        palaver.wait_answering()
        floor.wait_answering()
        return compare(ctx, "a", "in-memory", [palaver], [floor], "bare Sanic")
