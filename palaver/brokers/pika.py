"""RabbitMQ event broker (``type: pika`` or ``rabbitmq``) on aio-pika.

Like Rasa: a fanout exchange (default ``rasa-exchange``) with each of
``queues`` (default ``rasa_core_events``) declared durable and bound to it;
persistent messages (delivery mode 2) whose body is the event JSON with
``sender_id``, and ``app_id`` = the configured ``rasa_environment``.

The connection is ``aio_pika.connect_robust`` (it heals short blips by
itself) and the channel uses publisher confirms: an event counts as delivered
only when RabbitMQ confirmed it. Queueing, retries and the outbox are
``BackgroundBroker``'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from yarl import URL

from palaver.brokers.dispatcher import (
    MASK,
    BackgroundBroker,
    ConfigReader,
    DeliveryReport,
    DeliverySettings,
    masked_repr,
)
from palaver.brokers.outbox import Record
from palaver.errors import BrokerUnavailableError

DEFAULT_QUEUE = "rasa_core_events"
DEFAULT_EXCHANGE = "rasa-exchange"
# Rasa keys accepted for compatibility; Palaver's own delivery replaces them.
_IGNORED = (
    "connection_attempts",
    "retry_delay_in_seconds",
    "should_keep_unpublished_messages",
    "loglevel",
)


@dataclass(frozen=True, slots=True, repr=False)
class PikaSettings:
    """Validated ``event_broker`` settings for ``type: pika``.

    Attributes:
        host: RabbitMQ host (``url`` may also be a full ``amqp(s)://`` URL,
            whose parts are the defaults of the keys below).
        port: AMQP port (5672, or 5671 for ``amqps``).
        vhost: virtual host.
        ssl: use TLS (``amqps``).
        queues: durable queues bound to the exchange.
        exchange_name: the fanout exchange events are published to.
        exchange_durable: declare the exchange durable (Rasa declares it
            non-durable; an existing exchange must be declared the same way).
        raise_on_failure: ``start`` raises when RabbitMQ is unreachable
            instead of starting with the outbox.
        rasa_environment: ``app_id`` of every message.
    """

    host: str
    delivery: DeliverySettings
    port: int = 5672
    username: str = "guest"
    password: str = "guest"
    vhost: str = "/"
    ssl: bool = False
    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    exchange_name: str = DEFAULT_EXCHANGE
    exchange_durable: bool = False
    raise_on_failure: bool = False
    rasa_environment: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PikaSettings:
        """Build from the ``event_broker`` mapping; errors name key and value."""
        reader = ConfigReader("pika", config, secrets=("password",))
        base = _base_url(reader)
        queues = reader.text_list("queues", ())
        if not queues:
            queues = reader.text_list("queue", (DEFAULT_QUEUE,))  # Rasa's legacy key
        ssl = reader.flag("ssl", base.scheme == "amqps")
        settings = cls(
            host=base.host or "localhost",
            delivery=DeliverySettings.read(reader, "pika"),
            port=reader.integer("port", base.explicit_port or (5671 if ssl else 5672)),
            username=reader.text("username", base.user or "guest"),
            password=reader.text("password", base.password or "guest"),
            vhost=reader.text("vhost", base.path[1:] or "/"),
            ssl=ssl,
            queues=queues,
            exchange_name=reader.text("exchange_name", DEFAULT_EXCHANGE),
            exchange_durable=reader.flag("exchange_durable", False),
            raise_on_failure=reader.flag("raise_on_failure", False),
            rasa_environment=reader.optional_text("rasa_environment"),
        )
        reader.finish(ignored=_IGNORED)
        return settings

    @property
    def url(self) -> URL:
        """The AMQP URL (with the password: never log it, log ``safe_url``)."""
        return URL.build(
            scheme="amqps" if self.ssl else "amqp",
            host=self.host,
            port=self.port,
            user=self.username,
            password=self.password,
            path="/" + self.vhost,
        )

    @property
    def safe_url(self) -> str:
        return str(self.url.with_password(MASK))

    def __repr__(self) -> str:
        return masked_repr(self, ("password",))


def _base_url(reader: ConfigReader) -> URL:
    """``url`` (Rasa: a host or an AMQP URL) or ``host``, as a URL."""
    value = reader.optional_text("url") or reader.optional_text("host") or "localhost"
    if "://" not in value:
        return URL.build(scheme="amqp", host=value)
    url = URL(value)
    if url.scheme not in ("amqp", "amqps") or not url.host:
        shown = str(url.with_password(MASK)) if url.password else value
        raise reader.error("url", shown, "Expected a host or an amqp:// or amqps:// URL.")
    return url


class PikaTransport:
    """Publishes batches on one confirm-mode channel, in order."""

    def __init__(self, settings: PikaSettings) -> None:
        self.settings = settings
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None

    @property
    def target(self) -> str:
        s = self.settings
        return f"RabbitMQ exchange '{s.exchange_name}' at {s.host}:{s.port}{s.vhost}"

    async def connect(self) -> None:
        s = self.settings
        connection = await aio_pika.connect_robust(
            s.url,
            timeout=s.delivery.connect_timeout,
            client_properties={"connection_name": f"palaver-broker-{s.delivery.name}"},
        )
        self._connection = connection
        channel = await connection.channel(publisher_confirms=True)
        self._channel = channel
        exchange = await channel.declare_exchange(
            s.exchange_name, aio_pika.ExchangeType.FANOUT, durable=s.exchange_durable
        )
        for name in s.queues:
            queue = await channel.declare_queue(name, durable=True)
            await queue.bind(exchange, routing_key="")

    async def deliver(self, records: Sequence[Record], budget: float) -> DeliveryReport:
        if self._channel is None:
            raise BrokerUnavailableError(f"Not connected to {self.target}.")
        try:
            async with asyncio.timeout(budget):
                underlay = await self._channel.get_underlay_channel()
        except TimeoutError as exc:
            raise BrokerUnavailableError(f"channel not ready within {budget:.1f}s") from exc
        # Created in order; aiormq writes frames under a FIFO lock, so the
        # messages leave in this order while their confirms overlap.
        tasks = [asyncio.create_task(self._publish(underlay, r.body)) for r in records]
        done, pending = await asyncio.wait(tasks, timeout=budget)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return _report(records, tasks, done, budget)

    async def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            await connection.close()

    async def _publish(self, channel: aiormq.abc.AbstractChannel, body: bytes) -> object:
        # Fresh properties per message: aiormq stores a generated message_id in them.
        message = aio_pika.Message(
            body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            app_id=self.settings.rasa_environment,
        )
        return await channel.basic_publish(
            body,
            exchange=self.settings.exchange_name,
            routing_key="",
            properties=message.properties,
            mandatory=True,
        )


def _report(
    records: Sequence[Record],
    tasks: list[asyncio.Task[object]],
    done: set[asyncio.Task[object]],
    budget: float,
) -> DeliveryReport:
    acked: set[int] = set()
    error: BaseException | None = None
    for record, task in zip(records, tasks, strict=True):
        if task not in done or task.cancelled():
            error = error or BrokerUnavailableError(f"no confirm within {budget:.1f}s")
            continue
        exc = task.exception()
        if exc is not None:
            error = error or exc
        elif isinstance(task.result(), aiormq.spec.Basic.Ack):
            acked.add(record.seq)
        else:  # returned as unroutable: a queue is missing; redeclared on reconnect
            error = error or BrokerUnavailableError("message returned as unroutable")
    return DeliveryReport(frozenset(acked), error=error)


class PikaEventBroker(BackgroundBroker):
    """``type: pika`` — see ``PikaSettings`` and ``BackgroundBroker``."""

    def __init__(self, settings: PikaSettings) -> None:
        self.settings = settings
        super().__init__(
            PikaTransport(settings),
            settings.delivery,
            require_connection=settings.raise_on_failure,
            secrets=[settings.password] if settings.password != "guest" else [],
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PikaEventBroker:
        return cls(PikaSettings.from_config(config))
