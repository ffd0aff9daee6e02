"""Kafka event broker (``type: kafka``) on aiokafka.

Publishes each event as Rasa does: value = the event JSON with ``sender_id``,
key = the sender id when ``partition_by_sender`` (so a conversation stays on
one partition, in order), header ``RASA_ENVIRONMENT`` when configured.

Queueing, retries and the outbox are ``BackgroundBroker``'s; this module is
the wire only. Without transactions Kafka delivery is at least once: a record
is forgotten only after the broker acknowledged it (``acks``).

Each delivery builds one record batch per partition (``create_batch`` /
``send_batch``) instead of a ``send`` per record: half the client CPU per
event, the same records, keys, partitions and order on the wire. Keyed records
go where ``send`` would put them (the default murmur2 partitioner); unkeyed
ones go to one random partition per delivery (Kafka's sticky partitioning).
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from palaver.brokers.dispatcher import (
    BackgroundBroker,
    ConfigReader,
    DeliveryReport,
    DeliverySettings,
    masked_repr,
)
from palaver.brokers.outbox import Record
from palaver.errors import BrokerUnavailableError

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
ACKS = ("all", "-1", "0", "1")
DEFAULT_TOPIC = "rasa_core_events"
DEFAULT_LINGER_MS = 5
ENVIRONMENT_HEADER = "RASA_ENVIRONMENT"
# The producer's max_request_size (Kafka's default); a larger record is refused
# before it is sent, as ``AIOKafkaProducer.send`` refuses it.
MAX_REQUEST_SIZE = 1_048_576
# Refused by the broker for this record alone: retrying cannot help.
_PERMANENT = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    CorruptRecordException,
    InvalidTimestampError,
)
# Rasa keys accepted for compatibility but meaningless here.
_IGNORED = ("loglevel",)


@dataclass(frozen=True, slots=True, repr=False)
class KafkaSettings:
    """Validated ``event_broker`` settings for ``type: kafka``.

    Attributes:
        url: bootstrap servers, ``host[:port]`` each.
        topic: topic to publish to.
        client_id: Kafka client id (appears in broker logs).
        partition_by_sender: key messages by sender id.
        security_protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. Default:
            SASL_PLAINTEXT when ``sasl_username`` is set (Rasa's default),
            else PLAINTEXT.
        sasl_mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
        ssl_check_hostname: verify the broker certificate's host name (default
            on; Rasa's default is off).
        acks: ``"all"`` (default, as librdkafka in Rasa 3), ``1`` or ``0``.
            With ``0`` nothing is acknowledged and events can be lost.
        enable_idempotence: idempotent producer (needs ``acks: all``).
        rasa_environment: value of the ``RASA_ENVIRONMENT`` header (config.py
            fills it from the environment variable of that name).
        linger_ms: how long the producer waits for more records before it
            sends a request (Kafka's ``linger.ms``). Delivery runs in the
            background, so this delays publication, never a reply; a few
            milliseconds let one request carry the events of many turns.
    """

    url: tuple[str, ...]
    delivery: DeliverySettings
    topic: str = DEFAULT_TOPIC
    client_id: str | None = None
    partition_by_sender: bool = False
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    acks: str | int = "all"
    enable_idempotence: bool = False
    rasa_environment: str | None = None
    linger_ms: int = DEFAULT_LINGER_MS

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KafkaSettings:
        """Build from the ``event_broker`` mapping; errors name key and value."""
        reader = ConfigReader("kafka", config, secrets=("sasl_password",))
        url = reader.text_list("url", ())
        if not url:
            raise reader.error("url", None, "Kafka needs 'url' (one or a list of host:port).")
        username = reader.optional_text("sasl_username")
        default_protocol = "SASL_PLAINTEXT" if username else "PLAINTEXT"
        settings = cls(
            url=url,
            delivery=DeliverySettings.read(reader, "kafka"),
            topic=reader.text("topic", DEFAULT_TOPIC),
            client_id=reader.optional_text("client_id"),
            partition_by_sender=reader.flag("partition_by_sender", False),
            security_protocol=reader.choice(
                "security_protocol", default_protocol, SECURITY_PROTOCOLS, upper=True
            ),
            sasl_mechanism=reader.choice("sasl_mechanism", "PLAIN", SASL_MECHANISMS, upper=True),
            sasl_username=username,
            sasl_password=reader.optional_text("sasl_password"),
            ssl_cafile=reader.optional_text("ssl_cafile"),
            ssl_certfile=reader.optional_text("ssl_certfile"),
            ssl_keyfile=reader.optional_text("ssl_keyfile"),
            ssl_check_hostname=reader.flag("ssl_check_hostname", True),
            acks=_acks(reader),
            enable_idempotence=reader.flag("enable_idempotence", False),
            rasa_environment=reader.optional_text("rasa_environment"),
            linger_ms=reader.integer("linger_ms", DEFAULT_LINGER_MS, minimum=0),
        )
        reader.finish(ignored=_IGNORED)
        settings._validate(reader)
        return settings

    def _validate(self, reader: ConfigReader) -> None:
        if self.security_protocol.startswith("SASL_"):
            for key in ("sasl_username", "sasl_password"):
                if not getattr(self, key):
                    raise reader.error(
                        key, None, f"Required with security_protocol {self.security_protocol}."
                    )
        if self.enable_idempotence and self.acks != "all":
            raise reader.error("acks", self.acks, "enable_idempotence needs acks 'all'.")

    def __repr__(self) -> str:
        return masked_repr(self, ("sasl_password",))


def _acks(reader: ConfigReader) -> str | int:
    value = reader.choice("acks", "all", ACKS, upper=False)
    return "all" if value in ("all", "-1") else int(value)


class KafkaTransport:
    """Delivers batches with one ``AIOKafkaProducer``; tracks each record's ack."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._producer: Any = None
        self._partitioner = DefaultPartitioner()
        key = settings.rasa_environment
        self._headers = [(ENVIRONMENT_HEADER, key.encode("utf-8"))] if key else []

    @property
    def target(self) -> str:
        return f"Kafka topic '{self.settings.topic}' at {','.join(self.settings.url)}"

    async def connect(self) -> None:
        ssl_context = None
        if self.settings.security_protocol in ("SSL", "SASL_SSL"):
            ssl_context = await asyncio.to_thread(self._ssl_context)  # reads files
        producer = AIOKafkaProducer(**self._producer_options(ssl_context))
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def deliver(self, records: Sequence[Record], budget: float) -> DeliveryReport:
        if self._producer is None:
            raise BrokerUnavailableError(f"Not connected to {self.target}.")
        deadline = asyncio.get_running_loop().time() + budget
        sent: list[tuple[int, asyncio.Future[Any]]] = []
        rejected: dict[int, str] = {}
        error: BaseException | None = None
        try:
            async with asyncio.timeout_at(deadline):
                for partition, group in await self._by_partition(records):
                    await self._send_group(partition, group, sent, rejected)
        except TimeoutError as exc:
            error = BrokerUnavailableError(f"could not hand over events within {budget:.1f}s")
            error.__cause__ = exc
        except KafkaError as exc:
            error = exc
        # Wait for the outcome of everything handed over, even after an error:
        # a record reported as failed must really have failed (see timeouts).
        remaining = deadline - asyncio.get_running_loop().time()
        if sent and remaining > 0:
            await asyncio.wait([future for _, future in sent], timeout=remaining)
        return _report(sent, rejected, error, budget)

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def _by_partition(self, records: Sequence[Record]) -> list[tuple[int, list[Record]]]:
        """The records grouped by the partition each goes to, in publish order."""
        partitions = sorted(await self._producer.partitions_for(self.settings.topic))
        if not self.settings.partition_by_sender:
            return [(random.choice(partitions), list(records))]
        groups: dict[int, list[Record]] = {}
        # murmur2 is pure Python in aiokafka: once per conversation, not per event.
        partition_of: dict[str, int] = {}
        for record in records:
            partition = partition_of.get(record.sender_id)
            if partition is None:
                partition = self._partitioner(self._key(record), partitions, partitions)
                partition_of[record.sender_id] = partition
            groups.setdefault(partition, []).append(record)
        return list(groups.items())

    async def _send_group(
        self,
        partition: int,
        group: list[Record],
        sent: list[tuple[int, asyncio.Future[Any]]],
        rejected: dict[int, str],
    ) -> None:
        """Hand ``group`` over in as few batches as fit; every record's future goes to ``sent``."""
        headers = self._headers
        batch = self._producer.create_batch()
        members: list[int] = []
        for record in group:
            key = self._key(record)
            size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, record.body, headers)
            if size > MAX_REQUEST_SIZE:
                rejected[record.seq] = repr(
                    MessageSizeTooLargeError(
                        f"The message is {size} bytes when serialized, more than the "
                        f"maximum request size ({MAX_REQUEST_SIZE})"
                    )
                )
                continue
            appended = batch.append(key=key, value=record.body, timestamp=None, headers=headers)
            if appended is None:  # full: send it, start the next (a first record always fits)
                await self._send_batch(batch, partition, members, sent)
                batch, members = self._producer.create_batch(), []
                batch.append(key=key, value=record.body, timestamp=None, headers=headers)
            members.append(record.seq)
        if members:
            await self._send_batch(batch, partition, members, sent)

    async def _send_batch(
        self,
        batch: Any,
        partition: int,
        members: list[int],
        sent: list[tuple[int, asyncio.Future[Any]]],
    ) -> None:
        future: asyncio.Future[Any] = await self._producer.send_batch(
            batch, self.settings.topic, partition=partition
        )
        future.add_done_callback(_retrieve)
        sent.extend((seq, future) for seq in members)

    def _key(self, record: Record) -> bytes | None:
        return record.sender_id.encode("utf-8") if self.settings.partition_by_sender else None

    def _producer_options(self, ssl_context: ssl.SSLContext | None) -> dict[str, Any]:
        s = self.settings
        options: dict[str, Any] = {
            "bootstrap_servers": list(s.url),
            "client_id": s.client_id,
            "acks": s.acks,
            "enable_idempotence": s.enable_idempotence,
            "security_protocol": s.security_protocol,
            "ssl_context": ssl_context,
            # aiokafka resolves every send future (ack, or expiry of its batch)
            # within about this timeout; a third of our attempt leaves room to
            # see each outcome, so a batch we report as failed is never sent
            # later by this producer (which would duplicate it on retry).
            "request_timeout_ms": max(1, int(s.delivery.attempt_timeout * 1000 / 3)),
            "linger_ms": s.linger_ms,
            "max_request_size": MAX_REQUEST_SIZE,
        }
        if s.security_protocol.startswith("SASL_"):
            options.update(
                sasl_mechanism=s.sasl_mechanism,
                sasl_plain_username=s.sasl_username,
                sasl_plain_password=s.sasl_password,
            )
        return options

    def _ssl_context(self) -> ssl.SSLContext:
        s = self.settings
        context: ssl.SSLContext = create_ssl_context(
            cafile=s.ssl_cafile, certfile=s.ssl_certfile, keyfile=s.ssl_keyfile
        )
        context.check_hostname = s.ssl_check_hostname
        return context


def _report(
    sent: list[tuple[int, asyncio.Future[Any]]],
    rejected: dict[int, str],
    error: BaseException | None,
    budget: float,
) -> DeliveryReport:
    acked: set[int] = set()
    for seq, future in sent:
        if not future.done() or future.cancelled():
            error = error or BrokerUnavailableError(f"no acknowledgement within {budget:.1f}s")
            continue
        exc = future.exception()
        if exc is None:
            acked.add(seq)
        elif isinstance(exc, _PERMANENT):
            rejected[seq] = repr(exc)
        elif error is None:
            error = exc
    return DeliveryReport(frozenset(acked), rejected, error)


def _retrieve(future: asyncio.Future[Any]) -> None:
    # A future that fails after its attempt timed out must not log
    # "exception was never retrieved": the record is retried anyway.
    if not future.cancelled():
        future.exception()


class KafkaEventBroker(BackgroundBroker):
    """``type: kafka`` — see ``KafkaSettings`` and ``BackgroundBroker``."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        super().__init__(
            KafkaTransport(settings), settings.delivery, secrets=[settings.sasl_password or ""]
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KafkaEventBroker:
        return cls(KafkaSettings.from_config(config))
