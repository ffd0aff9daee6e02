"""DynamoDB tracker store (aioboto3).

One table, partition key ``sender_id`` (S), sort key ``seq`` (N):

* events are items at ``seq`` 0, 1, 2, ... holding the JSON text in ``data``;
* a meta item at ``seq = -1`` holds ``total`` (events stored), ``session_start``
  (``seq`` of the latest ``session_started``), ``fence`` and ``rev`` (a random
  revision token).

An append with ``expected_total`` (the processor's) is one
``TransactWriteItems`` that puts the events and updates the meta item on
condition that ``total`` is the expected count and ``fence`` is not higher
than ours, so a stale writer is refused atomically without a read first.
An append without it (imports, the fail-safe replay) reads the meta item,
then puts the events and replaces the meta item on condition that ``rev`` is
unchanged since that read (optimistic concurrency, retried a few times on
conflict); the fence is checked against that same read. Every meta write
changes ``rev``, so the two kinds of append exclude each other. The
``ClientRequestToken`` makes botocore's own retries idempotent. A load reads
the meta item and queries ``seq BETWEEN session_start AND total - 1`` only.

Limits (documented, not hidden): a transaction holds at most 100 items and
4 MB, so an append of more than 99 events (or about 3.5 MB) is split into
several transactions and is then not atomic as a whole; one event must fit in
a 400 KB item (a larger one is refused with ``StoreError``). ``keys()``
is a filtered ``Scan`` of the table (it reads every item, returns meta ones).
The table is created (on-demand billing) when missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import aioboto3
import aiohttp
import botocore.exceptions as boto_errors
from botocore.config import Config as BotoConfig

from palaver.errors import ConfigError, StoreError, StoreUnavailableError
from palaver.stores.base import ConversationVersion, EventDict, StoredConversation
from palaver.stores.memory import (
    ConfigReader,
    EncodedEvent,
    check_fence,
    decode_event,
    encode_events,
    mask,
    refusal,
    retry_unavailable,
    session_start_offset,
)

logger = logging.getLogger(__name__)

SECTION = "tracker_store"
_CONFIG_KEYS = (
    "table_name", "region", "endpoint_url", "aws_access_key_id", "aws_secret_access_key",
    "connect_timeout", "read_timeout", "connect_retries", "retry_delay",
)  # fmt: skip
_META_SEQ = -1
_MAX_EVENTS_PER_TRANSACTION = 99  # + the meta item = DynamoDB's limit of 100
_MAX_TRANSACTION_BYTES = 3_500_000  # DynamoDB's limit is 4 MB per transaction
_MAX_CONFLICT_RETRIES = 5
_BATCH_DELETE = 25
_NAMES = {"#sid": "sender_id", "#seq": "seq", "#data": "data"}

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    boto_errors.HTTPClientError,  # connection closed, read timeout, proxy errors
    boto_errors.ConnectionError,  # endpoint unreachable, connect timeout
    aiohttp.ClientConnectionError,
    OSError,
    TimeoutError,
)
_UNAVAILABLE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
}


@dataclass(frozen=True, slots=True)
class DynamoStoreSettings:
    """``endpoints.yml`` keys as Rasa's DynamoDB store, plus ``endpoint_url`` and keys.

    Credentials default to botocore's chain (environment, profile, instance role).
    """

    table_name: str = "palaver_tracker"
    region: str = "us-east-1"
    endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    connect_retries: int = 5
    retry_delay: float = 1.0

    def __repr__(self) -> str:
        return (
            f"DynamoStoreSettings(table_name={self.table_name!r}, region={self.region!r}, "
            f"endpoint_url={self.endpoint_url!r}, aws_access_key_id={self.aws_access_key_id!r}, "
            f"aws_secret_access_key={mask(self.aws_secret_access_key)!r})"
        )

    @classmethod
    def from_dsn(cls, dsn: str) -> Self:
        """Parse ``dynamodb://<region>/<table_name>``."""
        scheme, _, rest = dsn.partition("://")
        region, _, table = rest.partition("/")
        if scheme != "dynamodb" or not region or not table:
            raise ConfigError(
                f"DynamoDB tracker store DSN '{dsn}' is not dynamodb://<region>/<table_name>."
            )
        return cls(table_name=table, region=region)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        reader = ConfigReader(SECTION, config, _CONFIG_KEYS)
        return cls(
            table_name=reader.get_str("table_name", "palaver_tracker"),
            region=reader.get_str("region", "us-east-1"),
            endpoint_url=reader.get_str("endpoint_url", None),
            aws_access_key_id=reader.get_str("aws_access_key_id", None),
            aws_secret_access_key=reader.get_str("aws_secret_access_key", None),
            connect_timeout=reader.get_float("connect_timeout", 5.0, minimum=0.1),
            read_timeout=reader.get_float("read_timeout", 10.0, minimum=0.1),
            connect_retries=reader.get_int("connect_retries", 5, minimum=1),
            retry_delay=reader.get_float("retry_delay", 1.0, minimum=0.0),
        )


@dataclass(frozen=True, slots=True)
class _Meta:
    total: int
    session_start: int
    fence: int | None
    rev: str


class DynamoTrackerStore:
    """Conversation events in DynamoDB; see the module docstring for the layout."""

    def __init__(self, settings: DynamoStoreSettings) -> None:
        self.settings = settings
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._start_lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        return cls(DynamoStoreSettings.from_config(config))

    def __repr__(self) -> str:
        return f"DynamoTrackerStore({self.settings!r})"

    def __del__(self) -> None:
        if getattr(self, "_client", None) is not None:
            warnings.warn(f"{self!r} was never stopped", ResourceWarning, stacklevel=1)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Open the client and make sure the table exists; bounded retries."""
        async with self._start_lock:
            if self._client is not None:
                return
            stack = contextlib.AsyncExitStack()
            try:
                client = await stack.enter_async_context(self._new_client())
                await self._ensure_table_with_retries(client)
            except BaseException:
                await stack.aclose()
                raise
            self._client, self._stack = client, stack

    async def stop(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            with contextlib.suppress(*_UNAVAILABLE):
                await stack.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _new_client(self) -> Any:
        s = self.settings
        session = aioboto3.Session(
            aws_access_key_id=s.aws_access_key_id,
            aws_secret_access_key=s.aws_secret_access_key,
            region_name=s.region,
        )
        config = BotoConfig(
            connect_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            retries={"max_attempts": 2, "mode": "standard"},
        )
        return session.client("dynamodb", endpoint_url=s.endpoint_url, config=config)

    async def _ensure_table_with_retries(self, client: Any) -> None:
        async def ensure() -> None:
            with self._errors("start", None):
                await self._ensure_table(client)

        await retry_unavailable(
            f"DynamoDB tracker store table '{self.settings.table_name}'",
            ensure,
            attempts=self.settings.connect_retries,
            delay=self.settings.retry_delay,
            log=logger,
        )

    async def _ensure_table(self, client: Any) -> None:
        table = self.settings.table_name
        try:
            description = await client.describe_table(TableName=table)
        except client.exceptions.ResourceNotFoundException:
            with contextlib.suppress(client.exceptions.ResourceInUseException):  # a replica won
                await client.create_table(
                    TableName=table,
                    KeySchema=[
                        {"AttributeName": "sender_id", "KeyType": "HASH"},
                        {"AttributeName": "seq", "KeyType": "RANGE"},
                    ],
                    AttributeDefinitions=[
                        {"AttributeName": "sender_id", "AttributeType": "S"},
                        {"AttributeName": "seq", "AttributeType": "N"},
                    ],
                    BillingMode="PAY_PER_REQUEST",
                )
                logger.info("Created DynamoDB tracker store table %s", table)
            waiter = client.get_waiter("table_exists")
            await waiter.wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
            return
        keys = {(k["AttributeName"], k["KeyType"]) for k in description["Table"]["KeySchema"]}
        if keys != {("sender_id", "HASH"), ("seq", "RANGE")}:
            raise StoreError(
                f"DynamoDB table '{table}' has key schema {sorted(keys)}, not "
                "sender_id (HASH) + seq (RANGE): it belongs to something else "
                "(a Rasa 'states' table?); set another table_name."
            )

    # -- contract --------------------------------------------------------------------

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        client = self._require_client()
        with self._errors("load", sender_id):
            meta = await self._meta(client, sender_id)
            if meta is None or meta.total == 0:
                return None
            start = 0 if full else meta.session_start
            events = [
                decode_event(item["data"]["S"])
                async for item in self._query(client, sender_id, start, meta.total - 1, "#data")
            ]
        return StoredConversation(events=events, total_events=meta.total)

    async def version(self, sender_id: str) -> ConversationVersion | None:
        """Event count and fence of a conversation: one consistent ``GetItem``."""
        client = self._require_client()
        with self._errors("version", sender_id):
            meta = await self._meta(client, sender_id)
        if meta is None or meta.total == 0:
            return None
        return ConversationVersion(meta.total, meta.fence)

    async def append(
        self,
        sender_id: str,
        events: Sequence[EventDict],
        *,
        fence: int | None = None,
        expected_total: int | None = None,
    ) -> None:
        encoded = encode_events(sender_id, events)
        if not encoded:
            return
        client = self._require_client()
        with self._errors("append", sender_id):
            for chunk in _transaction_chunks(encoded):
                if expected_total is None:
                    await self._append_chunk(client, sender_id, chunk, fence)
                else:
                    await self._append_expected(client, sender_id, chunk, fence, expected_total)
                    expected_total += len(chunk)

    async def _append_expected(
        self,
        client: Any,
        sender_id: str,
        chunk: list[EncodedEvent],
        fence: int | None,
        expected_total: int,
    ) -> None:
        """Write a chunk on condition that the meta item has ``expected_total`` and our fence.

        The writer knows the count, so nothing is read first: the normal case
        is one ``TransactWriteItems``. A refusal is explained by reading the
        meta item back.
        """
        meta_update = self._meta_update(
            sender_id, len(chunk), session_start_offset(chunk), fence, expected_total
        )
        items = [{"Update": meta_update}, *self._event_puts(sender_id, chunk, expected_total)]
        for attempt in range(_MAX_CONFLICT_RETRIES):
            try:
                await client.transact_write_items(
                    TransactItems=items, ClientRequestToken=uuid.uuid4().hex
                )
                return
            except client.exceptions.TransactionCanceledException as exc:
                reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
                if not reasons & {"ConditionalCheckFailed", "TransactionConflict"}:
                    raise
            meta = await self._meta(client, sender_id)
            actual = meta.total if meta is not None else 0
            stored_fence = meta.fence if meta is not None else None
            if actual != expected_total or (
                fence is not None and stored_fence is not None and stored_fence > fence
            ):
                raise refusal(sender_id, fence, stored_fence, expected_total, actual)
            # Still as expected: a concurrent transaction had not committed yet.
            await asyncio.sleep(0.01 * 2**attempt)
        raise StoreError(
            f"Append to conversation '{sender_id}' lost {_MAX_CONFLICT_RETRIES} races with "
            "concurrent writers in a row (are appends not serialised by the lock store?)."
        )

    def _meta_update(
        self,
        sender_id: str,
        count: int,
        offset: int | None,
        fence: int | None,
        expected_total: int,
    ) -> dict[str, Any]:
        """The meta item's conditional update for an append of ``count`` events."""
        names = {"#total": "total", "#start": "session_start", "#rev": "rev"}
        values: dict[str, Any] = {
            ":expected": {"N": str(expected_total)},
            ":total": {"N": str(expected_total + count)},
            ":rev": {"S": uuid.uuid4().hex},
        }
        sets = ["#total = :total", "#rev = :rev"]
        if offset is None:
            sets.append("#start = if_not_exists(#start, :zero)")
            values[":zero"] = {"N": "0"}
        else:
            sets.append("#start = :start")
            values[":start"] = {"N": str(expected_total + offset)}
        # A missing meta item is a conversation with no events.
        condition = "#total = :expected"
        if expected_total == 0:
            condition = "(attribute_not_exists(#total) OR #total = :expected)"
        if fence is not None:
            names["#fence"] = "fence"
            values[":fence"] = {"N": str(fence)}
            sets.append("#fence = :fence")
            condition += " AND (attribute_not_exists(#fence) OR #fence <= :fence)"
        return {
            "TableName": self.settings.table_name,
            "Key": {"sender_id": {"S": sender_id}, "seq": {"N": str(_META_SEQ)}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    async def _append_chunk(
        self, client: Any, sender_id: str, chunk: list[EncodedEvent], fence: int | None
    ) -> None:
        offset = session_start_offset(chunk)
        for _ in range(_MAX_CONFLICT_RETRIES):
            meta = await self._meta(client, sender_id)
            if meta is not None and fence is not None:
                check_fence(sender_id, meta.fence, fence)
            items = self._transaction(sender_id, chunk, offset, fence, meta)
            try:
                await client.transact_write_items(
                    TransactItems=items, ClientRequestToken=uuid.uuid4().hex
                )
                return
            except client.exceptions.TransactionCanceledException as exc:
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" not in reasons:
                    raise
                # Another writer changed the conversation since we read it: re-read.
        raise StoreError(
            f"Append to conversation '{sender_id}' lost {_MAX_CONFLICT_RETRIES} races with "
            "concurrent writers in a row (are appends not serialised by the lock store?)."
        )

    def _transaction(
        self,
        sender_id: str,
        chunk: list[EncodedEvent],
        offset: int | None,
        fence: int | None,
        meta: _Meta | None,
    ) -> list[dict[str, Any]]:
        table = self.settings.table_name
        total = meta.total if meta is not None else 0
        session_start = meta.session_start if meta is not None else 0
        if offset is not None:
            session_start = total + offset
        new_fence = fence if fence is not None else (meta.fence if meta is not None else None)
        meta_item: dict[str, Any] = {
            "sender_id": {"S": sender_id},
            "seq": {"N": str(_META_SEQ)},
            "total": {"N": str(total + len(chunk))},
            "session_start": {"N": str(session_start)},
            "rev": {"S": uuid.uuid4().hex},
        }
        if new_fence is not None:
            meta_item["fence"] = {"N": str(new_fence)}
        put_meta: dict[str, Any] = {"TableName": table, "Item": meta_item}
        if meta is None:
            put_meta["ConditionExpression"] = "attribute_not_exists(sender_id)"
        else:
            put_meta["ConditionExpression"] = "rev = :rev"
            put_meta["ExpressionAttributeValues"] = {":rev": {"S": meta.rev}}
        return [{"Put": put_meta}, *self._event_puts(sender_id, chunk, total)]

    def _event_puts(
        self, sender_id: str, chunk: list[EncodedEvent], first_seq: int
    ) -> list[dict[str, Any]]:
        table = self.settings.table_name
        return [
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "sender_id": {"S": sender_id},
                        "seq": {"N": str(first_seq + position)},
                        "type_name": {"S": event.type_name},
                        "data": {"S": event.text},
                    },
                }
            }
            for position, event in enumerate(chunk)
        ]

    async def keys(self) -> AsyncIterator[str]:
        client = self._require_client()
        paginator = client.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.settings.table_name,
            FilterExpression="#seq = :meta",
            ProjectionExpression="#sid",
            ExpressionAttributeNames={"#sid": "sender_id", "#seq": "seq"},
            ExpressionAttributeValues={":meta": {"N": str(_META_SEQ)}},
            ConsistentRead=True,
        )
        iterator = aiter(pages)
        while True:
            with self._errors("keys", None):
                try:
                    page = await anext(iterator)
                except StopAsyncIteration:
                    return
            for item in page.get("Items", []):
                yield item["sender_id"]["S"]

    async def delete(self, sender_id: str) -> None:
        client = self._require_client()
        table = self.settings.table_name
        with self._errors("delete", sender_id):
            meta = await self._meta(client, sender_id)
            # The meta item first: the conversation disappears from load and keys at once.
            await client.delete_item(
                TableName=table,
                Key={"sender_id": {"S": sender_id}, "seq": {"N": str(_META_SEQ)}},
            )
            last = max(meta.total - 1, 0) if meta is not None else 2**62
            batch: list[dict[str, Any]] = []
            async for item in self._query(client, sender_id, 0, last, "#seq"):
                key = {"sender_id": {"S": sender_id}, "seq": item["seq"]}
                batch.append({"DeleteRequest": {"Key": key}})
                if len(batch) == _BATCH_DELETE:
                    await self._batch_delete(client, batch)
                    batch = []
            if batch:
                await self._batch_delete(client, batch)

    # -- helpers -------------------------------------------------------------------

    async def _meta(self, client: Any, sender_id: str) -> _Meta | None:
        response = await client.get_item(
            TableName=self.settings.table_name,
            Key={"sender_id": {"S": sender_id}, "seq": {"N": str(_META_SEQ)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            return None
        return _Meta(
            total=int(item["total"]["N"]),
            session_start=int(item["session_start"]["N"]),
            fence=int(item["fence"]["N"]) if "fence" in item else None,
            rev=item["rev"]["S"],
        )

    async def _query(
        self, client: Any, sender_id: str, first: int, last: int, projection: str
    ) -> AsyncIterator[dict[str, Any]]:
        """Items with ``first <= seq <= last`` in order, page by page."""
        paginator = client.get_paginator("query")
        async for page in paginator.paginate(
            TableName=self.settings.table_name,
            KeyConditionExpression="#sid = :sid AND #seq BETWEEN :first AND :last",
            ProjectionExpression=projection,
            ExpressionAttributeNames={k: _NAMES[k] for k in {"#sid", "#seq", projection}},
            ExpressionAttributeValues={
                ":sid": {"S": sender_id},
                ":first": {"N": str(max(first, 0))},
                ":last": {"N": str(last)},
            },
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                yield item

    async def _batch_delete(self, client: Any, requests: list[dict[str, Any]]) -> None:
        table = self.settings.table_name
        pending = {table: requests}
        for attempt in range(_MAX_CONFLICT_RETRIES):
            response = await client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            await asyncio.sleep(0.05 * 2**attempt)
        raise StoreUnavailableError(
            f"DynamoDB kept {len(pending.get(table, []))} deletes unprocessed (throttled)."
        )

    def _require_client(self) -> Any:
        if self._client is None:
            raise StoreError("DynamoDB tracker store is not started; call start() first.")
        return self._client

    @contextlib.contextmanager
    def _errors(self, operation: str, sender_id: str | None) -> Iterator[None]:
        where = f" for conversation '{sender_id}'" if sender_id is not None else ""
        table = self.settings.table_name
        try:
            yield
        except StoreError:
            raise
        except boto_errors.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            error: type[StoreError] = StoreError
            if code in _UNAVAILABLE_CODES or status >= 500:  # 5xx: transient on AWS's side
                error = StoreUnavailableError
            raise error(
                f"DynamoDB tracker store table '{table}' {operation}{where} failed: {code}: {exc}"
            ) from exc
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(
                f"DynamoDB tracker store table '{table}' unavailable during {operation}{where}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        except boto_errors.BotoCoreError as exc:  # credentials, parameter validation, ...
            raise StoreError(
                f"DynamoDB tracker store table '{table}' {operation}{where} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def _transaction_chunks(events: list[EncodedEvent]) -> Iterator[list[EncodedEvent]]:
    """Split an append into runs that fit one transaction (item count and bytes)."""
    chunk: list[EncodedEvent] = []
    size = 0
    for event in events:
        if chunk and (
            len(chunk) == _MAX_EVENTS_PER_TRANSACTION
            or size + len(event.data) > _MAX_TRANSACTION_BYTES
        ):
            yield chunk
            chunk, size = [], 0
        chunk.append(event)
        size += len(event.data)
    if chunk:
        yield chunk
