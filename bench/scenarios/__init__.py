"""The benchmark scenarios; each module has ``TITLE`` and ``run(ctx) -> list[Row]``.

a  in-memory stores, many conversations (floor: bare Sanic)
b  one hot conversation: per-turn latency at 10 and at 10,000 prior events
c  Redis lock + Redis tracker store (floor: Sanic + Redis lock, LRANGE, RPUSH)
d  Redis lock + PostgreSQL tracker store + Kafka (Tansu): the production stack
   (floor: Sanic + Redis lock, indexed PostgreSQL read, multi-row insert)
dn (d) without the Kafka broker (what publishing every event costs)
e  (d) with 3 replicas behind a round-robin client (floor: 3 stack floors)
startup   process start to first answered message, idle RSS
train     ``palaver train`` of the example bots
lockwait  lock wait of one hot conversation served by 3 replicas
"""

from __future__ import annotations

from types import ModuleType

from bench.scenarios import (
    hot,
    inmemory,
    lockwait,
    nobroker,
    production,
    redis,
    replicas,
    startup,
    train,
)

SCENARIOS: dict[str, ModuleType] = {
    "a": inmemory,
    "b": hot,
    "c": redis,
    "d": production,
    "dn": nobroker,
    "e": replicas,
    "startup": startup,
    "train": train,
    "lockwait": lockwait,
}
