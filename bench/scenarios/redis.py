"""(c) Redis lock + Redis tracker store; floor: Sanic + Redis lock + LRANGE + RPUSH."""

from __future__ import annotations

from bench.procs import floor_server, palaver_server
from bench.runner import Context, Row, compare

TITLE = "(c) Redis lock + Redis tracker store"


def run(ctx: Context) -> list[Row]:
    endpoints = ctx.work_dir / "endpoints-c.yml"
    ctx.services.endpoints(endpoints, store="redis", lock="redis", broker=False, label="c")
    palaver = palaver_server("palaver-c", ctx.model(), ctx.port(), ctx.log_dir, endpoints=endpoints)
    floor = floor_server(
        "floor-redis",
        "stack",
        ctx.port(),
        ctx.log_dir,
        ["--redis", ctx.services.redis_url(), "--key-prefix", ctx.services.new_prefix("floor")],
    )
    with palaver, floor:
        palaver.wait_answering()
        floor.wait_answering()
        return compare(ctx, "c", "redis", [palaver], [floor], "Sanic+Redis lock+Redis r/w")
