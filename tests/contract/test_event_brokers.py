"""One contract for every event broker, checked with a real consumer.

Each backend fixture gives the broker config and a ``consume(n)`` that reads
what actually reached the broker (an aiokafka consumer, an aio-pika queue,
a SQL select, the file). Every event must arrive exactly once, in order per
sender, with the exact body Rasa publishes.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from palaver.brokers import create_event_broker
from palaver.brokers.base import EventBroker
from palaver.brokers.dispatcher import BackgroundBroker
from palaver.errors import BrokerError
from tests import services

SENDERS = ("alice", "bob", "carol", "dave")
ENVIRONMENT = "contract-env"
GRACE = 0.3  # extra wait after the last expected message, to catch duplicates


@dataclass
class Delivered:
    body: bytes
    key: str | None = None  # Kafka key / SQL sender_id column
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Backend:
    name: str
    config: dict[str, Any]
    consume: Callable[[int], Awaitable[list[Delivered]]]
    keyed: bool = False


def rasa_events(sender: str, count: int) -> list[dict[str, Any]]:
    """A realistic mix of Rasa events (unicode, nested parse data)."""
    events: list[dict[str, Any]] = []
    for i in range(count):
        stamp = 1_700_000_000.0 + i
        if i % 3 == 0:
            events.append(
                {
                    "event": "user",
                    "timestamp": stamp,
                    "metadata": {"i": i},
                    "text": f"héllo {sender} ✓ #{i}",
                    "parse_data": {
                        "intent": {"name": "greet", "confidence": 0.9},
                        "entities": [],
                        "text": f"héllo #{i}",
                    },
                    "input_channel": "rest",
                    "message_id": f"{sender}-{i}",
                }
            )
        elif i % 3 == 1:
            events.append(
                {
                    "event": "action",
                    "timestamp": stamp,
                    "metadata": {"i": i},
                    "name": "utter_greet",
                    "policy": "RulePolicy",
                    "confidence": 1.0,
                }
            )
        else:
            events.append(
                {"event": "bot", "timestamp": stamp, "metadata": {"i": i}, "text": "hi", "data": {}}
            )
    return events


def expected_body(sender: str, event: dict[str, Any]) -> list[tuple[str, Any]]:
    """What a body must decode to, key order included (``sender_id`` first)."""
    return list({"sender_id": sender, **event}.items())


def decoded(body: bytes) -> list[tuple[str, Any]]:
    return list(json.loads(body).items())


async def wait_until(condition: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# -- backends ----------------------------------------------------------------


@pytest.fixture
async def kafka_backend(tansu: services.TansuBroker, tmp_path: Path) -> Backend:
    from aiokafka import AIOKafkaConsumer

    topic = f"palaver-contract-{uuid.uuid4().hex[:10]}"

    async def consume(count: int) -> list[Delivered]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=tansu.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        got: list[Delivered] = []
        try:
            deadline = time.monotonic() + 15
            while len(got) < count and time.monotonic() < deadline:
                got += _kafka_batch(await consumer.getmany(timeout_ms=500))
            got += _kafka_batch(await consumer.getmany(timeout_ms=int(GRACE * 1000)))
        finally:
            await consumer.stop()
        return got

    config = {
        "type": "kafka",
        "url": tansu.bootstrap,
        "topic": topic,
        "partition_by_sender": True,
        "rasa_environment": ENVIRONMENT,
    }
    return Backend("kafka", {**config, **_fast(tmp_path)}, consume, keyed=True)


def _kafka_batch(batch: dict[Any, list[Any]]) -> list[Delivered]:
    return [
        Delivered(
            m.value,
            m.key.decode() if m.key is not None else None,
            {"partition": tp.partition, "headers": dict(m.headers)},
        )
        for tp, messages in batch.items()
        for m in messages
    ]


@pytest.fixture
async def pika_backend(rabbitmq_url: str, tmp_path: Path) -> AsyncIterator[Backend]:
    import aio_pika

    suffix = uuid.uuid4().hex[:10]
    queue_name, exchange_name = f"palaver-contract-{suffix}", f"palaver-contract-x-{suffix}"

    async def consume(count: int) -> list[Delivered]:
        connection = await aio_pika.connect(rabbitmq_url)
        got: list[Delivered] = []
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name, durable=True)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                message = await queue.get(no_ack=True, fail=False)
                if message is None:
                    if len(got) >= count:
                        break
                    await asyncio.sleep(0.05)
                    continue
                meta = {"delivery_mode": message.delivery_mode, "app_id": message.app_id}
                got.append(Delivered(message.body, None, meta))
            await asyncio.sleep(GRACE)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                got.append(Delivered(message.body))
        return got

    config = {
        "type": "pika",
        "url": rabbitmq_url,
        "queues": [queue_name],
        "exchange_name": exchange_name,
        "rasa_environment": ENVIRONMENT,
    }
    yield Backend("pika", {**config, **_fast(tmp_path)}, consume)
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue_name)
        await channel.exchange_delete(exchange_name)


@pytest.fixture
async def postgres_backend(postgres_db: str, tmp_path: Path) -> Backend:
    import asyncpg

    async def consume(count: int) -> list[Delivered]:
        conn = await asyncpg.connect(postgres_db)
        try:
            rows: list[Any] = []
            deadline = time.monotonic() + 15
            while len(rows) < count and time.monotonic() < deadline:
                rows = await conn.fetch("SELECT sender_id, data FROM events ORDER BY id")
                await asyncio.sleep(0.02)
        finally:
            await conn.close()
        return [Delivered(row["data"].encode(), row["sender_id"]) for row in rows]

    config = {"type": "sql", "dialect": "postgresql", "url": postgres_db}
    return Backend("sql-postgres", {**config, **_fast(tmp_path)}, consume, keyed=True)


@pytest.fixture
async def sqlite_backend(tmp_path: Path) -> Backend:
    import aiosqlite

    path = tmp_path / "events.db"

    async def consume(count: int) -> list[Delivered]:
        async with aiosqlite.connect(path) as db:
            cursor = await db.execute("SELECT sender_id, data FROM events ORDER BY id")
            rows = await cursor.fetchall()
        return [Delivered(str(data).encode(), str(sender)) for sender, data in rows]

    config = {"type": "sql", "dialect": "sqlite", "db": str(path)}
    return Backend("sql-sqlite", {**config, **_fast(tmp_path)}, consume, keyed=True)


@pytest.fixture
async def file_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "rasa_event.log"

    async def consume(count: int) -> list[Delivered]:
        data = await asyncio.to_thread(path.read_bytes)
        assert data.endswith(b"\n")
        return [Delivered(line) for line in data.split(b"\n")[:-1]]

    return Backend("file", {"type": "file", "path": str(path), **_fast(tmp_path)}, consume)


def _fast(tmp_path: Path) -> dict[str, Any]:
    return {
        "outbox_dir": str(tmp_path / "outbox"),
        "outbox_fsync": False,
        "attempt_timeout": 5,
        "retry_backoff_min": 0.05,
        "retry_backoff_max": 0.5,
    }


BACKENDS = [
    pytest.param("kafka_backend", marks=pytest.mark.kafka, id="kafka"),
    pytest.param("pika_backend", marks=pytest.mark.rabbitmq, id="pika"),
    pytest.param("postgres_backend", marks=pytest.mark.postgres, id="sql-postgres"),
    pytest.param("sqlite_backend", id="sql-sqlite"),
    pytest.param("file_backend", id="file"),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    value: Backend = request.getfixturevalue(request.param)
    return value


def build(backend: Backend) -> BackgroundBroker:
    broker = create_event_broker(backend.config)
    assert isinstance(broker, EventBroker)
    assert isinstance(broker, BackgroundBroker)
    return broker


# -- the contract --------------------------------------------------------------


async def test_every_event_arrives_once_in_order_with_rasa_body(backend: Backend) -> None:
    per_sender = {sender: rasa_events(sender, 30) for sender in SENDERS}
    broker = build(backend)
    async with broker:
        # Interleave conversations, 1-3 events per turn, like concurrent chats.
        cursor = dict.fromkeys(SENDERS, 0)
        turn = 0
        while any(cursor[s] < len(per_sender[s]) for s in SENDERS):
            for sender in SENDERS:
                size = 1 + (turn + len(sender)) % 3
                start = cursor[sender]
                await broker.publish(sender, per_sender[sender][start : start + size])
                cursor[sender] = min(start + size, len(per_sender[sender]))
            turn += 1
        await wait_until(lambda: broker.stats()["pending"] == 0)
        stats = broker.stats()
    total = sum(len(events) for events in per_sender.values())
    assert stats["published"] == stats["delivered"] == total
    assert stats["failed_attempts"] == 0

    delivered = await backend.consume(total)
    assert len(delivered) == total, "each event exactly once"
    for sender, events in per_sender.items():
        mine = [d for d in delivered if json.loads(d.body)["sender_id"] == sender]
        assert [decoded(d.body) for d in mine] == [expected_body(sender, e) for e in events]
        if backend.keyed:
            assert {d.key for d in mine} == {sender}


async def test_stats_lifecycle_and_publish_after_stop(backend: Backend) -> None:
    broker = build(backend)
    await broker.start()
    await broker.start()  # idempotent
    assert broker.stats()["connected"] is True
    await broker.publish("alice", [])
    await broker.publish("alice", rasa_events("alice", 2))
    await broker.stop()
    await broker.stop()  # idempotent
    stats = broker.stats()
    assert (stats["published"], stats["delivered"], stats["pending"]) == (2, 2, 0)
    assert stats["dropped"] == stats["outboxed"] == 0
    with pytest.raises(BrokerError):
        await broker.publish("alice", rasa_events("alice", 1))
    assert len(await backend.consume(2)) == 2


@pytest.mark.kafka
async def test_kafka_keys_partitions_and_environment_header(kafka_backend: Backend) -> None:
    broker = build(kafka_backend)
    async with broker:
        for sender in SENDERS:
            await broker.publish(sender, rasa_events(sender, 5))
        await wait_until(lambda: broker.stats()["pending"] == 0)
    from aiokafka.partitioner import DefaultPartitioner

    delivered = await kafka_backend.consume(len(SENDERS) * 5)
    topic = kafka_backend.config["topic"]
    all_partitions = sorted(await _partitions_of(kafka_backend.config["url"], topic))
    assert len(all_partitions) > 1, "the test needs a topic with several partitions"
    for sender in SENDERS:
        partitions = {d.meta["partition"] for d in delivered if d.key == sender}
        assert len(partitions) == 1, "one conversation stays on one partition"
        # ...the one AIOKafkaProducer.send picks for its key (default partitioner).
        expected = DefaultPartitioner()(sender.encode(), all_partitions, all_partitions)
        assert partitions == {expected}
    assert all(d.meta["headers"] == {"RASA_ENVIRONMENT": ENVIRONMENT.encode()} for d in delivered)


@pytest.mark.kafka
async def test_kafka_big_deliveries_split_into_batches_in_order(kafka_backend: Backend) -> None:
    broker = build(kafka_backend)
    # About 600 KB for one conversation: many record batches of one partition.
    events = [{**event, "text": "x" * 3000} for event in rasa_events("alice", 200)]
    async with broker:
        await broker.publish("alice", events)
        await wait_until(lambda: broker.stats()["pending"] == 0)
    delivered = await kafka_backend.consume(len(events))
    assert [decoded(d.body) for d in delivered] == [expected_body("alice", e) for e in events]


@pytest.mark.kafka
async def test_kafka_record_over_the_request_size_is_dropped_alone(
    kafka_backend: Backend,
) -> None:
    broker = build(kafka_backend)
    events = rasa_events("alice", 3)
    huge = {**events[1], "text": "x" * 1_100_000}
    async with broker:
        await broker.publish("alice", [events[0], huge, events[2]])
        await wait_until(lambda: broker.stats()["pending"] == 0)
        assert broker.stats()["rejected"] == 1
    delivered = await kafka_backend.consume(2)
    assert [decoded(d.body) for d in delivered] == [
        expected_body("alice", events[0]),
        expected_body("alice", events[2]),
    ]


async def _partitions_of(bootstrap: str, topic: str) -> set[int]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        partitions: set[int] = await producer.partitions_for(topic)
        return partitions
    finally:
        await producer.stop()


@pytest.mark.rabbitmq
async def test_pika_messages_are_persistent_with_app_id(pika_backend: Backend) -> None:
    broker = build(pika_backend)
    async with broker:
        await broker.publish("alice", rasa_events("alice", 3))
        await wait_until(lambda: broker.stats()["pending"] == 0)
    delivered = await pika_backend.consume(3)
    assert [d.meta for d in delivered] == [{"delivery_mode": 2, "app_id": ENVIRONMENT}] * 3
