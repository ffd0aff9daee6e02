"""BackgroundBroker: queueing, outbox, retries and ordering, over a fake transport."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from palaver.brokers.base import EventBroker
from palaver.brokers.dispatcher import BackgroundBroker, DeliverySettings
from palaver.brokers.outbox import OutboxError, Record
from palaver.errors import BrokerError, BrokerUnavailableError, InvalidEventError
from tests.unit.brokers.fakes import FakeTransport

SENDERS = ("alice", "bob", "carol")


def event(i: int) -> dict[str, Any]:
    return {"event": "user", "timestamp": float(i), "text": f"message {i}", "metadata": {}}


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.fixture
def settings(tmp_path: Path) -> DeliverySettings:
    return DeliverySettings(
        name="fake",
        outbox_dir=tmp_path / "outbox",
        attempt_timeout=0.3,
        connect_timeout=0.3,
        flush_timeout=1.0,
        retry_backoff_min=0.01,
        retry_backoff_max=0.05,
        outbox_fsync=False,
    )


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
async def broker(
    transport: FakeTransport, settings: DeliverySettings
) -> AsyncIterator[BackgroundBroker]:
    async with BackgroundBroker(transport, settings) as started:
        yield started


async def publish_turns(broker: BackgroundBroker, start: int, count: int) -> None:
    for i in range(start, start + count):
        await broker.publish(SENDERS[i % len(SENDERS)], [event(i)])


def assert_exactly_once_in_order(transport: FakeTransport, expected: range) -> None:
    stamps = [int(body["timestamp"]) for body in transport.bodies()]
    assert sorted(stamps) == list(expected), "every event exactly once"
    for sender in SENDERS:
        mine = [int(b["timestamp"]) for b in transport.bodies() if b["sender_id"] == sender]
        assert mine == sorted(mine), f"order of {sender}"


def outbox_rows(broker: BackgroundBroker, table: str = "outbox") -> list[tuple[Any, ...]]:
    assert broker.outbox_path is not None
    with sqlite3.connect(broker.outbox_path) as conn:
        return conn.execute(f"SELECT * FROM {table}").fetchall()


async def test_satisfies_the_protocol(broker: BackgroundBroker) -> None:
    assert isinstance(broker, EventBroker)


async def test_delivers_rasa_body_in_order(
    broker: BackgroundBroker, transport: FakeTransport
) -> None:
    await broker.publish("alice", [event(1), event(2)])
    await wait_until(lambda: broker.stats()["pending"] == 0)
    assert [json.loads(r.body) for r in transport.delivered] == [
        {"sender_id": "alice", **event(i)} for i in (1, 2)
    ]
    stats = broker.stats()
    assert stats["published"] == stats["delivered"] == 2
    assert stats["connected"] is True
    assert {"outboxed", "failed_attempts", "dropped"} <= set(stats)


async def test_empty_publish_is_a_no_op(broker: BackgroundBroker) -> None:
    await broker.publish("alice", [])
    assert broker.stats()["published"] == 0


async def test_outage_keeps_events_in_outbox_then_delivers_in_order(
    broker: BackgroundBroker, transport: FakeTransport
) -> None:
    await publish_turns(broker, 0, 10)
    await wait_until(lambda: len(transport.delivered) == 10)
    transport.up = False
    slowest = 0.0
    for i in range(10, 130):
        started = time.perf_counter()
        await broker.publish(SENDERS[i % 3], [event(i)])
        slowest = max(slowest, time.perf_counter() - started)
        if i == 20:
            await wait_until(lambda: not broker.stats()["connected"])
    assert slowest < 0.05
    await wait_until(lambda: broker.stats()["outboxed"] == 120)
    assert len(outbox_rows(broker)) == 120
    transport.up = True
    await wait_until(lambda: broker.stats()["pending"] == 0)
    assert_exactly_once_in_order(transport, range(130))
    assert broker.stats()["outboxed"] == 0
    assert outbox_rows(broker) == []


async def test_partial_ack_retries_only_the_rest(
    broker: BackgroundBroker, transport: FakeTransport
) -> None:
    transport.gate = asyncio.Event()
    await publish_turns(broker, 0, 1)
    await wait_until(lambda: transport.attempts == 1)
    await publish_turns(broker, 1, 29)  # queued behind the gated attempt
    transport.ack_limit = 1
    transport.gate.set()
    await wait_until(lambda: broker.stats()["pending"] == 0)
    transport.gate = None
    await publish_turns(broker, 30, 1)
    await wait_until(lambda: broker.stats()["pending"] == 0)
    assert broker.stats()["failed_attempts"] >= 1
    assert_exactly_once_in_order(transport, range(31))


async def test_full_queue_spills_to_outbox_and_order_holds(
    transport: FakeTransport, settings: DeliverySettings
) -> None:
    transport.gate = asyncio.Event()
    async with BackgroundBroker(transport, replace(settings, queue_size=5)) as broker:
        await publish_turns(broker, 0, 40)
        assert broker.stats()["outboxed"] > 0
        transport.gate.set()
        await wait_until(lambda: broker.stats()["pending"] == 0)
        assert_exactly_once_in_order(transport, range(40))
        assert [int(b["timestamp"]) for b in transport.bodies()] == list(range(40))


async def test_overflow_drop_counts_and_logs_once(
    transport: FakeTransport, settings: DeliverySettings, caplog: pytest.LogCaptureFixture
) -> None:
    transport.up = False
    limited = replace(settings, max_pending=10, on_overflow="drop")
    async with BackgroundBroker(transport, limited) as broker:
        with caplog.at_level(logging.WARNING, logger="palaver.brokers.dispatcher"):
            await publish_turns(broker, 0, 25)
        stats = broker.stats()
        assert stats["pending"] == 10
        assert stats["dropped"] == 15
        assert stats["published"] == 10
        drops = [r for r in caplog.records if "dropping" in r.getMessage()]
        assert len(drops) == 1
        transport.up = True
        await wait_until(lambda: broker.stats()["pending"] == 0)
    assert_exactly_once_in_order(transport, range(10))


async def test_stop_keeps_undelivered_and_next_start_replays_them_first(
    transport: FakeTransport, settings: DeliverySettings
) -> None:
    transport.up = False
    first = BackgroundBroker(transport, settings)
    await first.start()
    await publish_turns(first, 0, 30)
    await first.stop()
    assert first.stats()["outboxed"] == 30
    assert len(outbox_rows(first)) == 30
    assert transport.delivered == []

    transport.up = True
    async with BackgroundBroker(transport, settings) as second:
        assert second.stats()["pending"] == 30
        await publish_turns(second, 30, 10)
        await wait_until(lambda: second.stats()["pending"] == 0)
    assert [int(b["timestamp"]) for b in transport.bodies()] == list(range(40))


async def test_stop_flushes_the_queue_when_connected(
    transport: FakeTransport, settings: DeliverySettings
) -> None:
    transport.gate = asyncio.Event()
    broker = BackgroundBroker(transport, settings)
    await broker.start()
    await publish_turns(broker, 0, 20)
    asyncio.get_running_loop().call_later(0.05, transport.gate.set)
    await broker.stop()
    assert_exactly_once_in_order(transport, range(20))
    assert broker.stats()["outboxed"] == 0


async def test_stop_is_bounded_when_the_broker_hangs(
    transport: FakeTransport, settings: DeliverySettings
) -> None:
    broker = BackgroundBroker(transport, replace(settings, flush_timeout=0.2))
    await broker.start()
    transport.hang = True
    await publish_turns(broker, 0, 15)
    started = time.monotonic()
    await broker.stop()
    # flush_timeout + attempt_timeout + grace, plus slack
    assert time.monotonic() - started < 0.2 + 0.3 + 1.0 + 0.5
    assert broker.stats()["outboxed"] == 15


async def test_refused_events_go_to_dead_letter_not_retried(
    broker: BackgroundBroker, transport: FakeTransport
) -> None:
    transport.reject = "poison"
    await broker.publish("alice", [event(1), {**event(2), "text": "poison"}, event(3)])
    await wait_until(lambda: broker.stats()["pending"] == 0)
    assert [int(b["timestamp"]) for b in transport.bodies()] == [1, 3]
    assert broker.stats()["rejected"] == 1
    dead = outbox_rows(broker, "dead_letter")
    assert len(dead) == 1
    assert b"poison" in dead[0][3]


async def test_one_log_line_per_failed_attempt_not_per_event(
    broker: BackgroundBroker, transport: FakeTransport, caplog: pytest.LogCaptureFixture
) -> None:
    transport.up = False
    transport.error_text = "refused by secret-host"
    with caplog.at_level(logging.WARNING, logger="palaver.brokers.dispatcher"):
        await publish_turns(broker, 0, 200)
        await wait_until(lambda: broker.stats()["failed_attempts"] >= 3)
        failures = broker.stats()["failed_attempts"]
        lines = [r for r in caplog.records if "could not" in r.getMessage()]
    assert failures <= len(lines) <= failures + 1
    assert "alice" not in caplog.text and "message 1" not in caplog.text  # no payloads


async def test_secrets_are_scrubbed_from_logged_errors(
    transport: FakeTransport, settings: DeliverySettings, caplog: pytest.LogCaptureFixture
) -> None:
    transport.up = False
    transport.error_text = "auth failed for s3cr3t-pw"
    broker = BackgroundBroker(transport, settings, secrets=["s3cr3t-pw"])
    with caplog.at_level(logging.WARNING):
        await broker.start()
        await broker.stop()
    assert "could not connect" in caplog.text
    assert "s3cr3t-pw" not in caplog.text


async def test_require_connection_makes_start_fail(
    transport: FakeTransport, settings: DeliverySettings
) -> None:
    transport.up = False
    broker = BackgroundBroker(transport, settings, require_connection=True)
    with pytest.raises(BrokerUnavailableError, match="fake broker"):
        await broker.start()
    with pytest.raises(BrokerError, match="not running"):
        await broker.publish("alice", [event(1)])


async def test_lifecycle_is_idempotent_and_publish_needs_start(
    transport: FakeTransport, settings: DeliverySettings
) -> None:
    broker = BackgroundBroker(transport, settings)
    with pytest.raises(BrokerError, match="start"):
        await broker.publish("alice", [event(1)])
    await broker.start()
    await broker.start()
    await broker.publish("alice", [event(1)])
    await broker.stop()
    await broker.stop()
    with pytest.raises(BrokerError):
        await broker.publish("alice", [event(2)])
    assert [int(b["timestamp"]) for b in transport.bodies()] == [1]


async def test_invalid_event_is_refused_before_queueing(broker: BackgroundBroker) -> None:
    with pytest.raises(InvalidEventError, match="alice"):
        await broker.publish("alice", [event(1), {"event": "user", "bad": object()}])
    assert broker.stats()["published"] == 0


async def test_two_brokers_on_one_outbox_dir_use_separate_slots(
    settings: DeliverySettings,
) -> None:
    first, second = FakeTransport(), FakeTransport()
    first.up = second.up = False
    async with BackgroundBroker(first, settings) as a, BackgroundBroker(second, settings) as b:
        assert a.outbox_path != b.outbox_path
        await publish_turns(a, 0, 5)
        await publish_turns(b, 5, 5)
    # One process comes back: it adopts the other slot too.
    survivor = FakeTransport()
    async with BackgroundBroker(survivor, settings) as c:
        await wait_until(lambda: c.stats()["pending"] == 0)
    assert sorted(int(b["timestamp"]) for b in survivor.bodies()) == list(range(10))


async def test_delivery_loop_survives_an_outbox_read_error(
    broker: BackgroundBroker, transport: FakeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport.up = False
    await publish_turns(broker, 0, 10)
    await wait_until(lambda: broker.stats()["outboxed"] == 10)
    outbox = broker._outbox
    real_read = outbox.read
    calls = 0

    async def flaky_read(after_seq: int, limit: int) -> list[Record]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OutboxError("disk hiccup")
        return await real_read(after_seq, limit)

    monkeypatch.setattr(outbox, "read", flaky_read)
    transport.up = True
    await wait_until(lambda: broker.stats()["pending"] == 0)
    assert calls >= 2
    assert_exactly_once_in_order(transport, range(10))
