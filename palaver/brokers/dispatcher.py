"""Background delivery shared by every event broker backend.

``BackgroundBroker`` implements the ``EventBroker`` contract on top of a small
``Transport`` (connect / deliver a batch / close) that each backend provides.

How an event travels:

1. ``publish`` serializes each event (Rasa's JSON with ``sender_id``) into a
   ``Record`` with a process-wide sequence number and returns. While the
   broker is connected, records wait in a bounded in-memory queue. While it is
   not, when the queue is full, or while an earlier spill is still being
   written, they go to the on-disk outbox (``publish`` then awaits one group
   commit, never the broker).
2. One background task takes batches in sequence order from the outbox and
   the queue merged (outbox first when older), hands them to the transport
   with a bounded per-attempt timeout, and forgets only what the broker
   acknowledged. Per-conversation order therefore follows global order.
3. When an attempt fails, the unacknowledged records and the whole queue are
   written to the outbox, the transport is closed, and connecting is retried
   with jittered exponential backoff: one log line per failed attempt.
4. ``stop`` flushes for at most ``flush_timeout`` seconds, then writes what is
   left to the outbox; ``start`` replays it before anything newer.

Delivery is at least once: a record is removed from the outbox only after the
broker acknowledged it, so a crash between acknowledgement and removal (or an
acknowledgement lost with the connection) can repeat a record, never lose it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import warnings
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import orjson

from palaver.brokers.base import EventDict
from palaver.brokers.outbox import Outbox, OutboxError, Record
from palaver.errors import BrokerError, BrokerUnavailableError, ConfigError, InvalidEventError

logger = logging.getLogger(__name__)

MASK = "***"
# Extra time granted to a transport beyond its own per-attempt timeout before
# the attempt is abandoned from outside.
_GRACE = 1.0
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class ConfigReader:
    """Reads one backend's endpoint config; every error names the key and value.

    Args:
        backend: the config ``type`` (used in messages).
        config: the endpoint mapping without ``type``.
        secrets: keys whose values are never echoed.
    """

    def __init__(
        self, backend: str, config: Mapping[str, Any], secrets: Collection[str] = ()
    ) -> None:
        self.backend = backend
        self._config = dict(config)
        self._secrets = frozenset(secrets)
        self._known: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self._known.add(key)
        value = self._config.get(key)
        return default if value is None else value

    def error(self, key: str, value: Any, reason: str) -> ConfigError:
        shown = MASK if key in self._secrets else value
        return ConfigError(
            f"Event broker '{self.backend}': config '{key}' has value '{shown}'. {reason}"
        )

    def text(self, key: str, default: str) -> str:
        return self.optional_text(key) or default

    def optional_text(self, key: str) -> str | None:
        value = self.get(key)
        if value is None:
            return None
        if isinstance(value, os.PathLike):
            return os.fspath(value)  # type: ignore[no-any-return]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(key, value, "Expected a string.")
        return str(value)

    def integer(self, key: str, default: int, minimum: int = 1) -> int:
        value = self.optional_integer(key, minimum)
        return default if value is None else value

    def optional_integer(self, key: str, minimum: int = 1) -> int | None:
        value = self.get(key)
        if value is None:
            return None
        try:
            number = int(str(value).strip())
        except ValueError as exc:
            raise self.error(key, value, "Not a valid int.") from exc
        if isinstance(value, bool) or number < minimum:
            raise self.error(key, value, f"Expected an integer >= {minimum}.")
        return number

    def number(self, key: str, default: float, minimum: float = 0.0) -> float:
        value = self.get(key)
        if value is None:
            return default
        try:
            number = float(str(value).strip())
        except ValueError as exc:
            raise self.error(key, value, "Not a valid float.") from exc
        if isinstance(value, bool) or not number >= minimum:
            raise self.error(key, value, f"Expected a number >= {minimum}.")
        return number

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key)
        if value is None or isinstance(value, bool):
            return default if value is None else value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise self.error(key, value, "Expected true or false.")

    def choice(self, key: str, default: str, choices: Sequence[str], *, upper: bool) -> str:
        value = self.get(key, default)
        text = str(value).strip()
        text = text.upper() if upper else text.lower()
        if text not in choices:
            raise self.error(key, value, f"Valid values: {', '.join(choices)}.")
        return text

    def text_list(self, key: str, default: Sequence[str]) -> tuple[str, ...]:
        value = self.get(key)
        if value is None:
            return tuple(default)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not items:
            raise self.error(key, value, "Expected a string or a non-empty list of strings.")
        if not all(isinstance(item, str) and item for item in items):
            raise self.error(key, value, "Every item must be a non-empty string.")
        return tuple(items)

    def finish(self, ignored: Collection[str] = ()) -> None:
        """Reject unknown keys; accept (and log) Rasa keys that do not apply here."""
        unused = sorted(set(self._config) - self._known - {"type"})
        skipped = [key for key in unused if key in ignored]
        if skipped:
            logger.warning(
                "Event broker %s: ignoring Rasa config keys %s (not needed by Palaver)",
                self.backend,
                ", ".join(skipped),
            )
        unknown = [key for key in unused if key not in ignored]
        if unknown:
            raise ConfigError(
                f"Event broker '{self.backend}': unknown config key(s) {', '.join(unknown)}. "
                f"Valid keys: {', '.join(sorted(self._known))}."
            )


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How events are queued, retried and kept; shared by every backend.

    Attributes:
        name: broker name in logs, stats and the default outbox path.
        outbox_dir: directory of the on-disk outbox
            (default ``.palaver/outbox/<name>``).
        queue_size: events kept in memory before spilling to the outbox.
        batch_size: most events handed to the broker in one attempt.
        max_pending: optional cap on undelivered events (memory + outbox).
        on_overflow: ``outbox`` keeps everything and warns above
            ``max_pending``; ``drop`` drops (and counts) what is above it.
        flush_timeout: seconds ``stop`` spends delivering before it writes the
            rest to the outbox.
        attempt_timeout: bound of one delivery attempt, in seconds.
        connect_timeout: bound of one connection attempt, in seconds.
        retry_backoff_min: first retry delay; doubled per failure, jittered.
        retry_backoff_max: largest retry delay.
        outbox_fsync: fsync every outbox commit (survives power loss).
    """

    name: str
    outbox_dir: Path
    queue_size: int = 10_000
    batch_size: int = 500
    max_pending: int | None = None
    on_overflow: str = "outbox"
    flush_timeout: float = 5.0
    attempt_timeout: float = 10.0
    connect_timeout: float = 5.0
    retry_backoff_min: float = 0.2
    retry_backoff_max: float = 30.0
    outbox_fsync: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any], backend: str) -> DeliverySettings:
        """Delivery settings alone (unknown keys are not checked here)."""
        return cls.read(ConfigReader(backend, config), backend)

    @classmethod
    def read(cls, reader: ConfigReader, backend: str) -> DeliverySettings:
        """Read the delivery keys from a backend's ``ConfigReader``."""
        name = reader.text("name", backend)
        max_pending = reader.optional_integer("max_pending")
        on_overflow = reader.choice("on_overflow", "outbox", ("outbox", "drop"), upper=False)
        if on_overflow == "drop" and max_pending is None:
            raise reader.error("on_overflow", on_overflow, "'drop' needs 'max_pending' set.")
        backoff_min = reader.number("retry_backoff_min", 0.2, minimum=0.001)
        backoff_max = reader.number("retry_backoff_max", max(30.0, backoff_min), backoff_min)
        return cls(
            name=name,
            outbox_dir=Path(reader.text("outbox_dir", f".palaver/outbox/{name}")),
            queue_size=reader.integer("queue_size", 10_000),
            batch_size=reader.integer("batch_size", 500),
            max_pending=max_pending,
            on_overflow=on_overflow,
            flush_timeout=reader.number("flush_timeout", 5.0),
            attempt_timeout=reader.number("attempt_timeout", 10.0, minimum=0.01),
            connect_timeout=reader.number("connect_timeout", 5.0, minimum=0.01),
            retry_backoff_min=backoff_min,
            retry_backoff_max=backoff_max,
            outbox_fsync=reader.flag("outbox_fsync", True),
        )


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The outcome of one delivery attempt.

    Records neither acknowledged nor rejected are retried; ``error`` says why
    they were not acknowledged (connection lost, timeout...).
    """

    acked: frozenset[int] = frozenset()
    rejected: Mapping[int, str] = field(default_factory=dict)
    error: BaseException | None = None

    @classmethod
    def all_acked(cls, records: Sequence[Record]) -> DeliveryReport:
        return cls(acked=frozenset(r.seq for r in records))


class Transport(Protocol):
    """What a backend implements: the wire, without queueing or retries."""

    @property
    def target(self) -> str:
        """Where events go, for logs (never with secrets)."""
        ...

    async def connect(self) -> None:
        """Connect (and declare topics/tables/queues). Raise on failure."""
        ...

    async def deliver(self, records: Sequence[Record], budget: float) -> DeliveryReport:
        """Publish ``records`` in order, taking at most ``budget`` seconds.

        Returns which were acknowledged (and which were refused for good,
        e.g. too large); may raise instead for a connection-level failure.
        """
        ...

    async def close(self) -> None:
        """Release connections; safe to call when not connected."""
        ...


def masked_repr(settings: object, secrets: Collection[str]) -> str:
    """``Cls(field=value, ...)`` of a settings dataclass, secrets shown as ``***``."""
    parts = []
    for item in fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, item.name)
        if item.name in secrets and value:
            value = MASK
        parts.append(f"{item.name}={value!r}")
    return f"{type(settings).__name__}({', '.join(parts)})"


def serialize(sender_id: str, event: EventDict) -> bytes:
    """The body Rasa publishes: the event JSON with ``sender_id`` first.

    orjson writes it compactly (Rasa's ``json.dumps`` puts a space after
    separators; JSON readers see the same document) in about a fifth of the
    time. What orjson refuses but ``json`` writes (integers beyond 64 bits)
    goes through ``json``; what neither can write is an ``InvalidEventError``.
    """
    body = {"sender_id": sender_id, **event}
    try:
        return orjson.dumps(body, option=_ORJSON_OPTIONS)
    except TypeError:
        pass
    try:
        return json.dumps(body).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidEventError(
            f"Event '{event.get('event')}' of conversation '{sender_id}' is not JSON "
            f"serializable: {exc}"
        ) from exc


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class BackgroundBroker:
    """An ``EventBroker`` that delivers through a ``Transport`` in the background.

    Args:
        transport: the backend's wire.
        delivery: queueing, retry and outbox settings.
        require_connection: make ``start`` fail when the first connection
            attempt fails (instead of starting with the outbox).
        secrets: strings scrubbed from logged error messages.
    """

    def __init__(
        self,
        transport: Transport,
        delivery: DeliverySettings,
        *,
        require_connection: bool = False,
        secrets: Sequence[str] = (),
    ) -> None:
        self._transport = transport
        self.delivery = delivery
        self._require_connection = require_connection
        self._secrets = [s for s in secrets if s]
        self._outbox = Outbox(delivery.outbox_dir, fsync=delivery.outbox_fsync)
        self._state = "new"  # new -> running -> closing -> stopped
        self._reset()

    def _reset(self) -> None:
        self._memory: deque[Record] = deque()
        self._head: deque[Record] = deque()  # read from the outbox, not yet sent
        self._inflight: list[Record] = []
        self._cursor = 0  # highest seq read from the outbox
        self._outbox_max = 0  # highest seq committed to the outbox
        self._outbox_count = 0
        self._spilling = 0  # events being written to the outbox by publish
        self._next_seq = 1
        self._direct = True
        self._connected = False
        self._failures = 0  # consecutive failed attempts
        self._dropping = False
        self._over_limit = False
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._counts = dict.fromkeys(
            ("published", "delivered", "failed_attempts", "dropped", "rejected"), 0
        )

    @property
    def name(self) -> str:
        return self.delivery.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} -> {self._transport.target} ({self._state})>"

    @property
    def outbox_path(self) -> Path | None:
        """The outbox file of this process (known once started)."""
        return self._outbox.path

    # -- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Open the outbox, connect once, start delivering (outbox first)."""
        if self._state == "running":
            return
        if self._state == "closing":
            raise BrokerError(f"Event broker '{self.name}' is stopping; cannot start it now.")
        self._reset()
        state = await self._outbox.open()
        self._outbox_count, self._outbox_max = state.count, state.max_seq
        self._next_seq = state.max_seq + 1
        error = await self._connect()
        if error is not None:
            if self._require_connection:
                await self._outbox.close()
                raise BrokerUnavailableError(
                    f"Event broker '{self.name}' cannot reach {self._transport.target}: "
                    f"{self._scrub(error)}"
                ) from error
            self._note_failure("connect to", error)
        self._state = "running"
        self._task = asyncio.create_task(self._run(), name=f"palaver-broker-{self.name}")
        logger.info(
            "Event broker %s started for %s; %d undelivered events in outbox %s",
            self.name,
            self._transport.target,
            state.count,
            self._outbox.path,
        )

    async def stop(self) -> None:
        """Deliver for up to ``flush_timeout`` s, then keep the rest in the outbox."""
        if self._state != "running":
            return
        self._state = "closing"
        await self._flush()
        self._direct = False
        await self._stop_worker()
        leftover = [r for r in self._inflight if not r.in_outbox]
        leftover += [r for r in self._memory if not r.in_outbox]
        self._inflight, self._memory = [], deque()
        self._state = "stopped"  # publish() refuses from here on
        if not await self._persist(leftover):
            logger.error(
                "Event broker %s: %d undelivered events are lost (outbox unwritable)",
                self.name,
                len(self._memory),
            )
        await self._close_transport()
        await self._outbox.close()
        self._connected = False
        logger.info(
            "Event broker %s stopped: %d delivered, %d kept in outbox %s",
            self.name,
            self._counts["delivered"],
            self._outbox_count,
            self._outbox.path,
        )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __del__(self) -> None:
        if getattr(self, "_state", None) in ("running", "closing"):
            warnings.warn(
                f"Event broker '{self.name}' was never stopped: queued events were not "
                "written to its outbox.",
                ResourceWarning,
                stacklevel=1,
            )

    # -- publishing ------------------------------------------------------

    async def publish(self, sender_id: str, events: Sequence[EventDict]) -> None:
        """Accept the events of one turn, in order; never waits for the broker."""
        if self._state not in ("running", "closing"):
            raise BrokerError(
                f"Event broker '{self.name}' is not running: call start() before publish()."
            )
        bodies = [serialize(sender_id, event) for event in events]
        bodies = bodies[: self._room(len(bodies))]
        if not bodies:
            return
        records = [Record(self._next_seq + i, sender_id, body) for i, body in enumerate(bodies)]
        self._next_seq += len(records)
        self._counts["published"] += len(records)
        if self._can_queue(len(records)):
            self._memory.extend(records)
            self._wake.set()
            return
        self._spilling += len(records)
        try:
            await self._persist(records)
        finally:
            self._spilling -= len(records)
            self._wake.set()

    def stats(self) -> dict[str, Any]:
        """Counters for /status and metrics.

        ``pending`` is everything not yet delivered (memory + outbox),
        ``outboxed`` the part of it stored in the outbox file right now.
        """
        return {
            "name": self.name,
            **self._counts,
            "pending": self._pending(),
            "outboxed": self._outbox_count,
            "connected": self._connected,
        }

    def _pending(self) -> int:
        in_memory = len(self._memory) + sum(not r.in_outbox for r in self._inflight)
        return in_memory + self._outbox_count + self._spilling

    def _can_queue(self, count: int) -> bool:
        return (
            self._direct
            and self._connected
            and self._spilling == 0
            and len(self._memory) + count <= self.delivery.queue_size
        )

    def _room(self, count: int) -> int:
        """How many of ``count`` new events to accept under ``max_pending``."""
        limit = self.delivery.max_pending
        if limit is None:
            return count
        pending = self._pending()
        if pending + count <= limit:
            if self._dropping or self._over_limit:
                logger.warning(
                    "Event broker %s: back under max_pending=%d; %d events dropped so far",
                    self.name,
                    limit,
                    self._counts["dropped"],
                )
            self._dropping = self._over_limit = False
            return count
        if self.delivery.on_overflow != "drop":
            if not self._over_limit:
                self._over_limit = True
                logger.warning(
                    "Event broker %s: %d events pending, above max_pending=%d; keeping them "
                    "in the outbox",
                    self.name,
                    pending,
                    limit,
                )
            return count
        room = max(0, limit - pending)
        self._counts["dropped"] += count - room
        if not self._dropping:
            self._dropping = True
            logger.warning(
                "Event broker %s: max_pending=%d reached; dropping new events (on_overflow=drop)",
                self.name,
                limit,
            )
        return room

    async def _persist(self, records: list[Record]) -> bool:
        """Write to the outbox; if that fails keep them in memory (and say so)."""
        if not records:
            return True
        try:
            await self._outbox.append(records)
        except OutboxError as exc:
            logger.error(
                "Event broker %s: cannot write %d events to the outbox, keeping them in memory: %s",
                self.name,
                len(records),
                exc,
            )
            self._memory = deque(sorted([*records, *self._memory], key=lambda r: r.seq))
            return False
        self._outbox_count += len(records)
        self._outbox_max = max(self._outbox_max, *(r.seq for r in records))
        return True

    # -- the delivery task -----------------------------------------------

    async def _run(self) -> None:
        while not self._stop_requested.is_set():
            try:
                await self._step()
            except Exception:  # the loop must survive anything; say what happened
                logger.exception("Event broker %s: unexpected delivery error", self.name)
                self._failures += 1
                await self._sleep(self._backoff())
            self._progress.set()

    async def _step(self) -> None:
        if not self._connected:
            await self._sleep(self._backoff())
            if self._stop_requested.is_set():
                return
            error = await self._connect()
            if error is not None:
                self._note_failure("connect to", error)
            return
        self._wake.clear()
        await self._next_batch()
        if self._inflight:
            await self._deliver(self._inflight)
        else:
            await self._wake.wait()

    async def _next_batch(self) -> None:
        """Fill ``_inflight`` in seq order from the outbox and the queue.

        Records still in ``_inflight`` (an attempt interrupted by an error) are
        older than anything queued, so they stay first.
        """
        batch = self._inflight
        while len(batch) < self.delivery.batch_size:
            if not self._head and self._outbox_max > self._cursor:
                rows = await self._outbox.read(self._cursor, self.delivery.batch_size)
                self._head.extend(rows)
                self._cursor = rows[-1].seq if rows else self._outbox_max
            head = self._head[0] if self._head else None
            queued = self._memory[0] if self._memory else None
            if head is None and queued is None:
                return
            if queued is None or (head is not None and head.seq < queued.seq):
                batch.append(self._head.popleft())
            else:
                batch.append(self._memory.popleft())

    async def _deliver(self, batch: list[Record]) -> None:
        try:
            async with asyncio.timeout(self.delivery.attempt_timeout + _GRACE):
                report = await self._transport.deliver(batch, self.delivery.attempt_timeout)
        except TimeoutError:
            limit = self.delivery.attempt_timeout + _GRACE
            report = DeliveryReport(error=BrokerUnavailableError(f"no answer within {limit:.1f}s"))
        except Exception as exc:
            report = DeliveryReport(error=exc)
        acked = [r for r in batch if r.seq in report.acked]
        rejected = [
            (r, report.rejected[r.seq])
            for r in batch
            if r.seq in report.rejected and r.seq not in report.acked
        ]
        done = report.acked | frozenset(report.rejected)
        self._inflight = rest = [r for r in batch if r.seq not in done]
        self._counts["delivered"] += len(acked)
        await self._settle(acked, rejected)
        if rest:
            error = report.error or BrokerUnavailableError("not acknowledged")
            await self._on_failure(rest, error)
        else:
            self._failures = 0

    async def _settle(self, acked: list[Record], rejected: list[tuple[Record, str]]) -> None:
        stored = [r.seq for r in acked if r.in_outbox]
        if stored:
            await self._outbox.remove(stored)
            self._outbox_count -= len(stored)
        if not rejected:
            return
        self._counts["rejected"] += len(rejected)
        logger.error(
            "Event broker %s: %s refused %d events for good (first: %s); they are kept in "
            "the dead_letter table of %s",
            self.name,
            self._transport.target,
            len(rejected),
            self._scrub(rejected[0][1]),
            self._outbox.path,
        )
        await self._outbox.dead_letter(rejected)
        self._outbox_count -= sum(r.in_outbox for r, _ in rejected)

    async def _on_failure(self, rest: list[Record], error: BaseException) -> None:
        """Keep everything undelivered in the outbox and go back to connecting."""
        self._connected = False
        self._note_failure("deliver to", error)
        moved = [r for r in rest if not r.in_outbox]
        moved += list(self._memory)
        self._memory.clear()
        self._inflight = moved  # visible to stop() until the outbox has them
        await self._persist(moved)
        self._inflight = []
        self._head.clear()
        self._cursor = 0  # re-read the outbox from its oldest record
        await self._close_transport()

    async def _connect(self) -> BaseException | None:
        try:
            async with asyncio.timeout(self.delivery.connect_timeout):
                await self._transport.connect()
        except Exception as exc:
            await self._close_transport()
            if isinstance(exc, TimeoutError):
                limit = self.delivery.connect_timeout
                return BrokerUnavailableError(f"no connection within {limit:.1f}s")
            return exc
        if self._failures:
            logger.info(
                "Event broker %s: connected to %s after %d failed attempts; %d events pending",
                self.name,
                self._transport.target,
                self._failures,
                self._pending(),
            )
        self._connected = True
        self._failures = 0
        return None

    async def _close_transport(self) -> None:
        try:
            async with asyncio.timeout(self.delivery.attempt_timeout):
                await self._transport.close()
        except Exception as exc:  # closing a broken connection may fail; nothing to do
            logger.debug("Event broker %s: closing the transport failed: %r", self.name, exc)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.delivery.flush_timeout
        while self._connected and self._pending() and self._task and not self._task.done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)

    async def _stop_worker(self) -> None:
        self._stop_requested.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=self.delivery.attempt_timeout + _GRACE)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _note_failure(self, action: str, error: BaseException) -> None:
        self._counts["failed_attempts"] += 1
        self._failures += 1
        logger.warning(
            "Event broker %s: could not %s %s (%s: %s); %d events pending, retrying in about %.1fs",
            self.name,
            action,
            self._transport.target,
            type(error).__name__,
            self._scrub(error),
            self._pending(),
            self._delay_for(self._failures),
        )

    def _backoff(self) -> float:
        return self._delay_for(self._failures) * random.uniform(0.5, 1.0)

    def _delay_for(self, failures: int) -> float:
        exponent = min(max(failures - 1, 0), 30)
        return min(self.delivery.retry_backoff_max, self.delivery.retry_backoff_min * 2.0**exponent)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested.wait(), seconds)

    def _scrub(self, value: object) -> str:
        text = str(value)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text
