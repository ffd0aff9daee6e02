"""(d) The production stack: Redis lock + PostgreSQL tracker store + Kafka (Tansu).

Floor: Sanic + Redis lock + one indexed PostgreSQL read + one multi-row insert.
"""

from __future__ import annotations

from bench.procs import Server, floor_server, palaver_server
from bench.runner import Context, Row, compare

TITLE = "(d) production stack: Redis lock + PostgreSQL + Kafka"
FLOOR_NAME = "Sanic+Redis lock+PG read+insert"


def stack_floor(ctx: Context, name: str, dsn: str, prefix: str) -> Server:
    return floor_server(
        name,
        "stack",
        ctx.port(),
        ctx.log_dir,
        ["--redis", ctx.services.redis_url(), "--postgres", dsn, "--key-prefix", prefix],
    )


def run(ctx: Context) -> list[Row]:
    endpoints = ctx.work_dir / "endpoints-d.yml"
    ctx.services.endpoints(endpoints, store="postgres", lock="redis", broker=True, label="d")
    palaver = palaver_server("palaver-d", ctx.model(), ctx.port(), ctx.log_dir, endpoints=endpoints)
    floor = stack_floor(
        ctx, "floor-stack", ctx.services.new_database("floor"), ctx.services.new_prefix("floor")
    )
    with palaver, floor:
        palaver.wait_answering()
        floor.wait_answering()
        return compare(ctx, "d", "production", [palaver], [floor], FLOOR_NAME)
