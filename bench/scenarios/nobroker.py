"""(d) without an event broker: the cost of publishing every event to Kafka.

Same stack and floor as (d) (Redis lock + PostgreSQL), no ``event_broker``.
"""

from __future__ import annotations

from bench.procs import palaver_server
from bench.runner import Context, Row, compare
from bench.scenarios.production import FLOOR_NAME, stack_floor

TITLE = "(d) without a broker: Redis lock + PostgreSQL, no Kafka"


def run(ctx: Context) -> list[Row]:
    endpoints = ctx.work_dir / "endpoints-dn.yml"
    ctx.services.endpoints(endpoints, store="postgres", lock="redis", broker=False, label="dn")
    palaver = palaver_server(
        "palaver-dn", ctx.model(), ctx.port(), ctx.log_dir, endpoints=endpoints
    )
    floor = stack_floor(
        ctx, "floor-stack-dn", ctx.services.new_database("floordn"), ctx.services.new_prefix("fdn")
    )
    with palaver, floor:
        palaver.wait_answering()
        floor.wait_answering()
        return compare(ctx, "d", "no broker", [palaver], [floor], FLOOR_NAME)
