"""Production-stack floor: the bare floor plus the minimum I/O of one Palaver turn.

Per message, on Palaver's own drivers (redis-py asyncio, asyncpg):

1. take the conversation's Redis lock: ``SET key token NX PX`` (retried after
   1 ms while another request holds it), released with ``DEL``;
2. one indexed PostgreSQL read of the conversation's latest events;
3. one multi-row ``INSERT`` of the turn's events (five rows shaped like a
   moodbot turn: user, user_featurization, action, bot, action_listen).

No NLU, no policies, no Kafka: this is what the stack costs before any work.
With ``--store redis`` steps 2 and 3 are ``LRANGE key -10 -1`` and one
``RPUSH`` of the five events (the floor of the Redis tracker store stack).

    python -m bench.floors.stack --port 5101 --redis redis://127.0.0.1:6379/0 \
        --postgres postgresql://postgres@127.0.0.1:5432/bench --key-prefix floor
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis
from sanic import HTTPResponse, Request

from bench.floors.common import REPLY_TEXT, new_app, parser, read_message, reply, serve

TABLE = "floor_events"
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id bigserial PRIMARY KEY,
    sender_id text NOT NULL,
    seq bigint NOT NULL,
    type_name text NOT NULL,
    timestamp double precision,
    data json NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_sender_seq ON {TABLE} (sender_id, seq);
"""
READ_LATEST = f"SELECT seq, data FROM {TABLE} WHERE sender_id = $1 ORDER BY seq DESC LIMIT 10"
INSERT = f"""
INSERT INTO {TABLE} (sender_id, seq, type_name, timestamp, data)
SELECT $1, $2::bigint + t.ord, t.type_name, t.ts, t.data
FROM unnest($3::text[], $4::float8[], $5::json[]) WITH ORDINALITY AS t(type_name, ts, data, ord)
"""
LOCK_TTL_MS = 60_000


def turn_events(sender: str, text: str) -> list[dict[str, Any]]:
    """Five events about the size of a moodbot turn's."""
    now = time.time()
    listen = {"event": "action", "timestamp": now, "name": "action_listen", "policy": None,
              "confidence": None, "action_text": None, "hide_rule_turn": False}  # fmt: skip
    return [
        {"event": "user", "timestamp": now, "text": text, "parse_data": {
            "intent": {"name": "greet", "confidence": 0.96}, "entities": [], "text": text,
            "message_id": None, "metadata": {}, "text_tokens": [[0, len(text)]],
            "intent_ranking": [{"name": "greet", "confidence": 0.96},
                               {"name": "goodbye", "confidence": 0.02}]},
         "input_channel": "rest", "message_id": uuid.uuid4().hex, "metadata": {}},
        {"event": "user_featurization", "timestamp": now, "use_text_for_featurization": False},
        {**listen, "name": "utter_greet", "policy": "MemoizationPolicy", "confidence": 1.0},
        {"event": "bot", "timestamp": now, "metadata": {"utter_action": "utter_greet"},
         "text": REPLY_TEXT, "data": {"elements": None, "quick_replies": None, "buttons": None,
                                      "attachment": None, "image": None, "custom": None}},
        {**listen, "policy": "MemoizationPolicy", "confidence": 1.0},
    ]  # fmt: skip


async def store_postgres(pool: asyncpg.Pool, sender: str, text: str) -> None:
    rows = await pool.fetch(READ_LATEST, sender)
    seq = rows[0][0] if rows else 0
    events = turn_events(sender, text)
    await pool.execute(
        INSERT,
        sender,
        seq,
        [e["event"] for e in events],
        [e["timestamp"] for e in events],
        [orjson.dumps(e).decode() for e in events],
    )


async def store_redis(redis: Redis, key: str, sender: str, text: str) -> None:
    await redis.lrange(key, -10, -1)
    await redis.rpush(key, *(orjson.dumps(e) for e in turn_events(sender, text)))


def build(redis_url: str, postgres_dsn: str | None, key_prefix: str, pool_size: int) -> Any:
    app = new_app("floor_stack")

    @app.before_server_start
    async def connect(app: Any) -> None:
        app.ctx.redis = Redis.from_url(redis_url)
        app.ctx.pg = None
        if postgres_dsn is not None:
            app.ctx.pg = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=pool_size)
            async with app.ctx.pg.acquire() as conn:
                await conn.execute(SCHEMA)

    @app.after_server_stop
    async def close(app: Any) -> None:
        await app.ctx.redis.aclose()
        if app.ctx.pg is not None:
            await app.ctx.pg.close()

    @app.post("/webhooks/rest/webhook")
    async def webhook(request: Request) -> HTTPResponse:
        message = read_message(request)
        if isinstance(message, HTTPResponse):
            return message
        sender, text = message
        redis: Redis = request.app.ctx.redis
        key, token = f"{key_prefix}:lock:{sender}", uuid.uuid4().hex
        # The floor's lock: SET NX PX, retried every millisecond (a busy wait is
        # the cheapest correct lock here; the floor is meant to be minimal).
        while not await redis.set(key, token, nx=True, px=LOCK_TTL_MS):  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        try:
            if request.app.ctx.pg is not None:
                await store_postgres(request.app.ctx.pg, sender, text)
            else:
                await store_redis(redis, f"{key_prefix}:events:{sender}", sender, text)
        finally:
            await redis.delete(key)
        return reply(sender)

    return app


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--redis", required=True)
    p.add_argument("--postgres", help="PostgreSQL DSN; without it events go to Redis")
    p.add_argument("--key-prefix", default="floor")
    p.add_argument("--pool-size", type=int, default=10, help="as Palaver's pool_max_size")
    args = p.parse_args()
    app = build(args.redis, args.postgres, args.key_prefix, args.pool_size)
    serve(app, args.host, args.port, args.event_loop)


if __name__ == "__main__":
    main()
