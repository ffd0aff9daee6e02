"""MongoDB tracker store (motor).

Two collections (``collection`` defaults to Rasa's ``conversations``):

* ``<collection>``: one small document per conversation, ``_id`` = sender id,
  with ``total`` (events stored), ``session_start`` (``seq`` of the latest
  ``session_started``) and ``fence``;
* ``<collection>_events``: one document per event, ``{sender_id, seq,
  type_name, timestamp, intent_name, action_name, data}`` with a unique index
  on ``(sender_id, seq)``; ``data`` is the event's JSON text (exact round trip,
  no BSON key restrictions).

An append first reserves ``seq`` numbers with one atomic
``find_one_and_update`` on the conversation document whose filter includes the
fence check (``fence <= ours``) and, when the writer passes ``expected_total``,
the event count (``total == expected``): a stale writer matches nothing, its
upsert collides on ``_id`` (or, for a conversation expected to have events,
there is no upsert) and it gets ``StaleWriteError``. Then it inserts the events
(``insert_many``) and, when they contain a ``session_started``, moves
``session_start`` forward with ``$max``. A load reads the conversation document
and fetches ``seq >= session_start`` only.

Without multi-document transactions (standalone servers have none) an append
is not all-or-nothing: if the connection drops after the reservation, the
reserved numbers stay unused (a gap that loads skip) or part of the events may
be missing, and ``total_events`` counts the reserved numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import pymongo
import pymongo.errors as mongo_errors
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import ReturnDocument

from palaver.errors import ConfigError, StoreError, StoreUnavailableError
from palaver.stores.base import ConversationVersion, EventDict, StoredConversation
from palaver.stores.memory import (
    ConfigReader,
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
    "url", "host", "db", "username", "password", "auth_source", "collection",
    "server_selection_timeout", "connect_retries", "retry_delay",
)  # fmt: skip
_NO_FENCE = -1  # stored until a fenced append raises it; real fences are >= 0
_MAX_RESERVE_ATTEMPTS = 3

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    mongo_errors.ConnectionFailure,  # AutoReconnect, NetworkTimeout, ServerSelectionTimeout
    mongo_errors.WaitQueueTimeoutError,
    OSError,
    TimeoutError,
)

ClientFactory = Callable[["MongoStoreSettings"], Any]


@dataclass(frozen=True, slots=True)
class MongoStoreSettings:
    """``endpoints.yml`` keys as Rasa's ``mongod`` store; ``url`` is a ``mongodb://`` URI."""

    url: str = "mongodb://localhost:27017"
    db: str = "palaver"
    username: str | None = None
    password: str | None = None
    auth_source: str = "admin"
    collection: str = "conversations"
    server_selection_timeout: float = 5.0
    connect_retries: int = 5
    retry_delay: float = 1.0

    def __repr__(self) -> str:
        return (
            f"MongoStoreSettings(url={_mask_uri(self.url)!r}, db={self.db!r}, "
            f"username={self.username!r}, password={mask(self.password)!r}, "
            f"auth_source={self.auth_source!r}, collection={self.collection!r})"
        )

    @property
    def address(self) -> str:
        return f"{_mask_uri(self.url)}/{self.db}"

    @classmethod
    def from_dsn(cls, dsn: str) -> Self:
        if not dsn.startswith(("mongodb://", "mongodb+srv://")):
            raise ConfigError(
                f"Config '{SECTION}.url' has value '{_mask_uri(dsn)}'. "
                "Not a valid MongoDB URI (mongodb:// or mongodb+srv://)."
            )
        return cls(url=dsn)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        reader = ConfigReader(SECTION, config, _CONFIG_KEYS)
        url = reader.get_str("url", None) or reader.get_str("host", None) or "localhost"
        if "://" not in url:  # a bare host, as Rasa allows
            url = f"mongodb://{url}"
        base = cls.from_dsn(url)
        collection = reader.get_str("collection", base.collection)
        if not collection or "$" in collection or "\x00" in collection:
            raise ConfigError(
                f"Config '{SECTION}.collection' has value '{collection}'. "
                "Not a valid MongoDB collection name."
            )
        return cls(
            url=base.url,
            db=reader.get_str("db", base.db),
            username=reader.get_str("username", None),
            password=reader.get_str("password", None),
            auth_source=reader.get_str("auth_source", "admin"),
            collection=collection,
            server_selection_timeout=reader.get_float("server_selection_timeout", 5.0, minimum=0.1),
            connect_retries=reader.get_int("connect_retries", 5, minimum=1),
            retry_delay=reader.get_float("retry_delay", 1.0, minimum=0.0),
        )


def _mask_uri(uri: str) -> str:
    """``mongodb://user:secret@host`` -> ``mongodb://user:***@host``."""
    scheme, sep, rest = uri.partition("://")
    credentials, at, hosts = rest.rpartition("@")
    if not at or ":" not in credentials:
        return uri
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{hosts}"


def _motor_client(settings: MongoStoreSettings) -> AsyncIOMotorClient:  # type: ignore[type-arg]
    kwargs: dict[str, Any] = {
        "serverSelectionTimeoutMS": int(settings.server_selection_timeout * 1000),
        "connectTimeoutMS": int(settings.server_selection_timeout * 1000),
        "retryWrites": False,  # a retried insert_many after a lost reply could duplicate
    }
    if settings.username is not None:
        kwargs["username"] = settings.username
        kwargs["password"] = settings.password
        kwargs["authSource"] = settings.auth_source
    return AsyncIOMotorClient(settings.url, **kwargs)


class MongoTrackerStore:
    """Conversation events in MongoDB; see the module docstring for the design.

    Args:
        settings: connection settings.
        client_factory: builds the (motor-compatible) client; the default opens
            an ``AsyncIOMotorClient``. Tests pass an in-process stand-in.
    """

    def __init__(
        self, settings: MongoStoreSettings, *, client_factory: ClientFactory | None = None
    ) -> None:
        self.settings = settings
        self._client_factory = client_factory or _motor_client
        self._client: Any = None
        self._conversations: Any = None
        self._events: Any = None
        self._start_lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        return cls(MongoStoreSettings.from_config(config))

    def __repr__(self) -> str:
        return f"MongoTrackerStore({self.settings!r})"

    def __del__(self) -> None:
        if getattr(self, "_client", None) is not None:
            warnings.warn(f"{self!r} was never stopped", ResourceWarning, stacklevel=1)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, ping and create the indexes; bounded retries while unreachable."""
        async with self._start_lock:
            if self._client is not None:
                return
            client = self._client_factory(self.settings)
            try:
                database = client[self.settings.db]
                conversations = database[self.settings.collection]
                events = database[f"{self.settings.collection}_events"]
                await self._prepare_with_retries(client, events)
            except BaseException:
                client.close()
                raise
            self._client, self._conversations, self._events = client, conversations, events

    async def stop(self) -> None:
        client, self._client = self._client, None
        self._conversations = self._events = None
        if client is not None:
            client.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _prepare_with_retries(self, client: Any, events: Any) -> None:
        async def prepare() -> None:
            with self._errors("start", None):
                await client.admin.command("ping")
                await events.create_index(
                    [("sender_id", pymongo.ASCENDING), ("seq", pymongo.ASCENDING)],
                    unique=True,
                    name="sender_id_seq",
                )

        await retry_unavailable(
            f"MongoDB tracker store at {self.settings.address}",
            prepare,
            attempts=self.settings.connect_retries,
            delay=self.settings.retry_delay,
            log=logger,
        )

    # -- contract --------------------------------------------------------------------

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        conversations, events = self._require_collections()
        with self._errors("load", sender_id):
            meta = await conversations.find_one({"_id": sender_id})
            if meta is None or not meta.get("total"):
                return None
            start = 0 if full else int(meta.get("session_start", 0))
            cursor = events.find(
                {"sender_id": sender_id, "seq": {"$gte": start, "$lt": int(meta["total"])}},
                {"data": 1, "_id": 0},
            ).sort("seq", pymongo.ASCENDING)
            loaded = [decode_event(document["data"]) async for document in cursor]
        return StoredConversation(events=loaded, total_events=int(meta["total"]))

    async def version(self, sender_id: str) -> ConversationVersion | None:
        """Event count and fence of a conversation: one ``find_one`` by ``_id``."""
        conversations, _ = self._require_collections()
        with self._errors("version", sender_id):
            meta = await conversations.find_one({"_id": sender_id}, {"total": 1, "fence": 1})
        if meta is None or not meta.get("total"):
            return None
        fence = meta.get("fence")
        return ConversationVersion(
            int(meta["total"]), None if fence is None or fence == _NO_FENCE else int(fence)
        )

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
        conversations, events_collection = self._require_collections()
        offset = session_start_offset(encoded)
        with self._errors("append", sender_id):
            first_seq = await self._reserve(
                conversations, sender_id, len(encoded), fence, expected_total
            )
            await events_collection.insert_many(
                [
                    {
                        "sender_id": sender_id,
                        "seq": first_seq + position,
                        "type_name": event.type_name,
                        "timestamp": event.timestamp,
                        "intent_name": event.intent_name,
                        "action_name": event.action_name,
                        "data": event.text,
                    }
                    for position, event in enumerate(encoded)
                ],
                ordered=True,
            )
            if offset is not None:
                await conversations.update_one(
                    {"_id": sender_id}, {"$max": {"session_start": first_seq + offset}}
                )

    async def _reserve(
        self,
        conversations: Any,
        sender_id: str,
        count: int,
        fence: int | None,
        expected_total: int | None,
    ) -> int:
        """Atomically check the fence and the event count and take ``count`` sequence numbers.

        The checks are part of the update's filter. A conversation expected to
        have events must exist, so that update does not upsert; otherwise a
        filter that matches nothing makes the upsert collide on ``_id``.
        """
        query: dict[str, Any] = {"_id": sender_id}
        if fence is not None:
            query["fence"] = {"$lte": fence}
        if expected_total is not None:
            query["total"] = expected_total
        update = {
            "$inc": {"total": count},
            "$max": {"fence": _NO_FENCE if fence is None else fence},
        }
        upsert = not expected_total
        for _ in range(_MAX_RESERVE_ATTEMPTS):
            try:
                before = await conversations.find_one_and_update(
                    query, update, upsert=upsert, return_document=ReturnDocument.BEFORE
                )
            except mongo_errors.DuplicateKeyError:
                # A stale writer, a changed count, or two first appends racing on
                # the upsert; re-read to tell which.
                await self._refuse_if_stale(conversations, sender_id, fence, expected_total)
                continue
            if before is not None:
                return int(before.get("total", 0))
            if upsert:
                return 0
            await self._refuse_if_stale(conversations, sender_id, fence, expected_total)
        raise StoreError(
            f"Append to conversation '{sender_id}' kept colliding with concurrent writers."
        )

    @staticmethod
    async def _refuse_if_stale(
        conversations: Any, sender_id: str, fence: int | None, expected_total: int | None
    ) -> None:
        """Raise the refusal the conversation document explains, if it explains one."""
        stored = await conversations.find_one({"_id": sender_id}, {"fence": 1, "total": 1})
        stored_fence = stored.get("fence") if stored else None
        if stored_fence == _NO_FENCE:
            stored_fence = None
        actual = int(stored.get("total", 0)) if stored else 0
        if (fence is not None and stored_fence is not None and stored_fence > fence) or (
            expected_total is not None and actual != expected_total
        ):
            raise refusal(sender_id, fence, stored_fence, expected_total, actual)

    async def keys(self) -> AsyncIterator[str]:
        conversations, _ = self._require_collections()
        cursor = conversations.find({}, {"_id": 1}).sort("_id", pymongo.ASCENDING)
        while True:
            with self._errors("keys", None):
                try:
                    document = await anext(cursor)
                except StopAsyncIteration:
                    return
            yield document["_id"]

    async def delete(self, sender_id: str) -> None:
        conversations, events = self._require_collections()
        with self._errors("delete", sender_id):
            await conversations.delete_one({"_id": sender_id})
            await events.delete_many({"sender_id": sender_id})

    # -- helpers -------------------------------------------------------------------

    def _require_collections(self) -> tuple[Any, Any]:
        if self._client is None:
            raise StoreError("MongoDB tracker store is not started; call start() first.")
        return self._conversations, self._events

    @contextlib.contextmanager
    def _errors(self, operation: str, sender_id: str | None) -> Iterator[None]:
        where = f" for conversation '{sender_id}'" if sender_id is not None else ""
        try:
            yield
        except StoreError:
            raise
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(
                f"MongoDB tracker store at {self.settings.address} unavailable during "
                f"{operation}{where}: {type(exc).__name__}: {exc}"
            ) from exc
        except mongo_errors.PyMongoError as exc:  # auth, bad names, server errors
            raise StoreError(
                f"MongoDB tracker store {operation}{where} failed: {type(exc).__name__}: {exc}"
            ) from exc
