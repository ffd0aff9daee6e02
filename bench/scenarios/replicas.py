"""(e) The production stack with 3 replicas behind a round-robin client.

The generator splits its connections evenly over the replicas (one generator
process per replica, results merged). Floor: 3 stack floors sharing one
database and Redis, the same way.
"""

from __future__ import annotations

import contextlib

from bench.procs import palaver_server
from bench.runner import Context, Row, compare
from bench.scenarios.production import FLOOR_NAME, stack_floor

TITLE = "(e) production stack, 3 replicas"
REPLICAS = 3


def run(ctx: Context) -> list[Row]:
    endpoints = ctx.work_dir / "endpoints-e.yml"
    ctx.services.endpoints(endpoints, store="postgres", lock="redis", broker=True, label="e")
    dsn, prefix = ctx.services.new_database("floor"), ctx.services.new_prefix("floor")
    palaver = [
        palaver_server(f"palaver-e{i}", ctx.model(), ctx.port(), ctx.log_dir, endpoints=endpoints)
        for i in range(REPLICAS)
    ]
    floors = [stack_floor(ctx, f"floor-stack-e{i}", dsn, prefix) for i in range(REPLICAS)]
    with contextlib.ExitStack() as stack:
        for server in palaver:
            stack.enter_context(server)
        for server in floors:  # one at a time: each creates the floor's table if missing
            stack.enter_context(server)
            server.wait_answering()
        for server in palaver:
            server.wait_answering()
        return compare(ctx, "e", f"production x{REPLICAS}", palaver, floors, f"{FLOOR_NAME} x3")
