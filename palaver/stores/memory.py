"""In-memory tracker store, plus what every backend shares: the event codec, the
config reader and the bounded startup retry loop.

The in-memory store is the reference implementation of the contract: each
conversation is a list of encoded events, the offset where its latest session
starts and the highest fence seen. It serves single-process development and
is the fail-safe wrapper's fallback. Events are kept as JSON bytes so that what
comes out of ``load`` is a fresh object, normalised exactly as the persistent
backends normalise it (tuples become lists, numpy scalars become numbers).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

import orjson

from palaver.errors import (
    ConfigError,
    ConversationChangedError,
    StaleWriteError,
    StoreError,
    StoreUnavailableError,
)
from palaver.stores.base import ConversationVersion, EventDict, StoredConversation

SESSION_STARTED = "session_started"

_T = TypeVar("_T")


# -- event codec (shared by every backend) -----------------------------------------


# Not frozen (a frozen __init__ is ~10x slower and this is built per message);
# treat as immutable.
@dataclass(slots=True, unsafe_hash=True)
class EncodedEvent:
    """One event ready to store: its JSON and the columns backends index on."""

    data: bytes
    type_name: str
    timestamp: float | None
    intent_name: str | None
    action_name: str | None

    @property
    def text(self) -> str:
        return self.data.decode()


def encode_events(
    sender_id: str, events: Sequence[EventDict], *, columns: bool = True
) -> list[EncodedEvent]:
    """Validate and encode events before any I/O, so an append is all or nothing.

    ``columns=False`` leaves ``timestamp``, ``intent_name`` and ``action_name``
    unset (None), for backends that index on nothing but the type: working
    them out is about a third of the cost of encoding a turn.

    Raises:
        StoreError: an event is not a JSON object with a string ``event`` key,
            or is not JSON-serialisable.
    """
    encoded = []
    for position, event in enumerate(events):
        type_name = event.get("event") if isinstance(event, Mapping) else None
        if not isinstance(type_name, str):
            raise StoreError(
                f"Event #{position} for conversation '{sender_id}' has no string 'event' key."
            )
        try:
            data = orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise StoreError(
                f"Event #{position} ('{type_name}') for conversation '{sender_id}' "
                f"is not JSON-serialisable: {exc}"
            ) from exc
        if not columns:
            encoded.append(EncodedEvent(data, type_name, None, None, None))
            continue
        encoded.append(
            EncodedEvent(
                data=data,
                type_name=type_name,
                timestamp=_timestamp(event.get("timestamp")),
                intent_name=_intent_name(event),
                action_name=_str_or_none(event.get("name")) if type_name == "action" else None,
            )
        )
    return encoded


def decode_event(data: bytes | bytearray | memoryview | str) -> EventDict:
    """Decode one stored event (the only place backends turn JSON into dicts)."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise StoreError(f"A stored event is not valid JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise StoreError("A stored event is not a JSON object.")
    return event


def session_start_offset(events: Sequence[EncodedEvent]) -> int | None:
    """Position of the last ``session_started`` event in ``events``, if any."""
    for position in range(len(events) - 1, -1, -1):
        if events[position].type_name == SESSION_STARTED:
            return position
    return None


def _timestamp(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _str_or_none(value: object) -> str | None:
    # NUL cannot be stored in a PostgreSQL text column; these are index columns only.
    return value.replace("\x00", "") if isinstance(value, str) else None


def _intent_name(event: Mapping[str, Any]) -> str | None:
    if event.get("event") != "user":
        return None
    parse_data = event.get("parse_data")
    intent = parse_data.get("intent") if isinstance(parse_data, Mapping) else None
    if not isinstance(intent, Mapping):
        intent = event.get("intent")  # older dumps keep it at the top level
    return _str_or_none(intent.get("name")) if isinstance(intent, Mapping) else None


# -- config reader (shared by every backend's settings class) ---------------------


class ConfigReader:
    """Typed access to one ``endpoints.yml`` section; errors name the key and value.

    Unknown keys are an error rather than silently ignored, so a typo such as
    ``pasword`` is reported at startup instead of becoming an auth failure.
    """

    def __init__(self, section: str, config: Mapping[str, Any], valid: Iterable[str]) -> None:
        self.section = section
        self._config = config
        valid_keys = {*valid, "type"}
        unknown = sorted(str(key) for key in config if key not in valid_keys)
        if unknown:
            raise ConfigError(
                f"{section}: unknown key(s) {', '.join(unknown)}. "
                f"Valid keys: {', '.join(sorted(valid_keys - {'type'}))}."
            )

    def has(self, key: str) -> bool:
        return self._config.get(key) is not None

    def get_str(self, key: str, default: _T) -> str | _T:
        value = self._config.get(key)
        if value is None:
            return default
        if isinstance(value, bool | dict | list):
            raise self._invalid(key, value, "string")
        return str(value)

    def get_int(self, key: str, default: _T, *, minimum: int | None = None) -> int | _T:
        value = self._config.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise self._invalid(key, value, "int")
        try:
            number = int(value)
        except (TypeError, ValueError) as exc:
            raise self._invalid(key, value, "int") from exc
        if minimum is not None and number < minimum:
            raise self._invalid(key, number, f"integer >= {minimum}")
        return number

    def get_float(self, key: str, default: _T, *, minimum: float | None = None) -> float | _T:
        value = self._config.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            raise self._invalid(key, value, "float")
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise self._invalid(key, value, "float") from exc
        if not math.isfinite(number) or (minimum is not None and number < minimum):
            raise self._invalid(key, number, f"number >= {minimum}")
        return number

    def get_bool(self, key: str, default: bool) -> bool:
        value = self._config.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "yes", "on", "1"}:
            return True
        if text in {"false", "no", "off", "0"}:
            return False
        raise self._invalid(key, value, "boolean")

    def get_mapping(self, key: str) -> dict[str, str]:
        value = self._config.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self._invalid(key, value, "mapping")
        return {str(k): str(v) for k, v in value.items()}

    def _invalid(self, key: str, value: object, kind: str) -> ConfigError:
        shown = "***" if "password" in key or "secret" in key else value
        return ConfigError(
            f"Config '{self.section}.{key}' has value '{shown}'. Not a valid {kind}."
        )


def mask(secret: str | None) -> str | None:
    """What a settings ``__repr__`` shows for a secret."""
    return None if secret is None else "***"


# -- startup retries (shared by every networked backend) ---------------------------

MAX_RETRY_DELAY = 30.0


async def retry_unavailable(
    what: str,
    attempt_once: Callable[[], Awaitable[_T]],
    *,
    attempts: int,
    delay: float,
    log: logging.Logger,
) -> _T:
    """Run ``attempt_once`` until it does not raise ``StoreUnavailableError``.

    At most ``attempts`` tries, sleeping ``delay`` seconds doubled after each
    failure (capped at ``MAX_RETRY_DELAY``), with one warning line per failed
    try. Any other error propagates at once: retrying a wrong password only
    delays the message.

    Raises:
        StoreUnavailableError: every attempt failed; names ``what`` and the last cause.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await attempt_once()
        except StoreUnavailableError as exc:
            cause = exc.__cause__ or exc
            if attempt >= attempts:
                raise StoreUnavailableError(
                    f"{what} is unreachable after {attempts} attempts: {cause}"
                ) from exc
            wait = min(delay * 2 ** (attempt - 1), MAX_RETRY_DELAY)
            log.warning(
                "%s unreachable (attempt %d/%d), retrying in %.1fs: %s",
                what, attempt, attempts, wait, cause,
            )  # fmt: skip
            await asyncio.sleep(wait)
    raise StoreUnavailableError(f"{what}: no connection attempt was made (attempts={attempts})")


# -- the store ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemoryStoreSettings:
    """The in-memory store takes no options; the class exists for the registry."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        ConfigReader("tracker_store", config, ())
        return cls()

    @classmethod
    def from_dsn(cls, dsn: str) -> Self:
        if dsn not in {"memory://", "memory:"}:
            raise ConfigError(f"In-memory tracker store DSN '{dsn}' is not 'memory://'.")
        return cls()


@dataclass(slots=True)
class _Conversation:
    events: list[bytes] = field(default_factory=list)
    session_start: int = 0
    fence: int | None = None


class InMemoryTrackerStore:
    """Keeps conversations in a dict; nothing survives a restart.

    Every method completes without suspending, so each call is atomic with
    respect to other tasks on the loop (the fail-safe wrapper relies on this),
    and a cancelled caller can never stop one half-way (the processor relies on
    this: ``never_suspends``).
    """

    never_suspends: ClassVar[bool] = True

    def __init__(self, settings: MemoryStoreSettings | None = None) -> None:
        self.settings = settings or MemoryStoreSettings()
        self._conversations: dict[str, _Conversation] = {}
        self._event_count = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        return cls(MemoryStoreSettings.from_config(config))

    def __repr__(self) -> str:
        return f"InMemoryTrackerStore(conversations={len(self._conversations)})"

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to release; conversations stay until the object is dropped."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        conversation = self._conversations.get(sender_id)
        if conversation is None:
            return None
        start = 0 if full else conversation.session_start
        return StoredConversation(
            events=[decode_event(data) for data in conversation.events[start:]],
            total_events=len(conversation.events),
        )

    async def version(self, sender_id: str) -> ConversationVersion | None:
        conversation = self._conversations.get(sender_id)
        if conversation is None:
            return None
        return ConversationVersion(len(conversation.events), conversation.fence)

    async def append(
        self,
        sender_id: str,
        events: Sequence[EventDict],
        *,
        fence: int | None = None,
        expected_total: int | None = None,
    ) -> None:
        encoded = encode_events(sender_id, events, columns=False)
        if not encoded:
            return
        conversation = self._conversations.get(sender_id)
        if conversation is not None and fence is not None:
            check_fence(sender_id, conversation.fence, fence)
        if expected_total is not None:
            actual = 0 if conversation is None else len(conversation.events)
            check_total(sender_id, expected_total, actual)
        if conversation is None:
            conversation = self._conversations[sender_id] = _Conversation()
        offset = session_start_offset(encoded)
        if offset is not None:
            conversation.session_start = len(conversation.events) + offset
        # orjson's result keeps its whole 4 KiB output buffer; a stored event is
        # copied into an exactly sized object (about 30x less memory per event).
        conversation.events.extend(bytes(memoryview(event.data)) for event in encoded)
        self._event_count += len(encoded)
        if fence is not None:
            conversation.fence = fence

    async def keys(self) -> AsyncIterator[str]:
        # A snapshot of the ids only: safe against appends during iteration.
        for sender_id in list(self._conversations):
            if sender_id in self._conversations:
                yield sender_id

    async def delete(self, sender_id: str) -> None:
        conversation = self._conversations.pop(sender_id, None)
        if conversation is not None:
            self._event_count -= len(conversation.events)

    # -- used by the fail-safe wrapper --------------------------------------------

    def conversation_count(self) -> int:
        return len(self._conversations)

    def event_count(self) -> int:
        return self._event_count

    def holds(self, sender_id: str) -> bool:
        """Whether the conversation has events here."""
        return sender_id in self._conversations

    def first_conversation(self) -> str | None:
        """The conversation written to first (dicts keep insertion order)."""
        return next(iter(self._conversations), None)


def check_fence(sender_id: str, stored: int | None, fence: int) -> None:
    """Raise ``StaleWriteError`` when ``fence`` is lower than the stored one."""
    if stored is not None and fence < stored:
        raise stale_write(sender_id, stored, fence)


def stale_write(sender_id: str, stored: object, fence: object) -> StaleWriteError:
    """The error for an append whose fence is lower than one already accepted."""
    return StaleWriteError(
        f"Append to conversation '{sender_id}' with fence {fence} refused: "
        f"a writer with fence {stored} already wrote to it."
    )


def check_total(sender_id: str, expected_total: int, actual: int) -> None:
    """Raise ``ConversationChangedError`` unless the conversation has ``expected_total`` events."""
    if actual != expected_total:
        raise ConversationChangedError(sender_id, expected_total, actual)


def refusal(
    sender_id: str,
    fence: int | None,
    stored_fence: int | None,
    expected_total: int | None,
    actual: int,
) -> StaleWriteError:
    """Why a conditional append was refused, from the state read back after it.

    A stale fence wins over a changed count (see ``TrackerStore.append``).
    When neither explains the refusal any more (the conversation changed again
    in between), it is reported as changed, with the count read back.
    """
    if fence is not None and stored_fence is not None and fence < stored_fence:
        return stale_write(sender_id, stored_fence, fence)
    if expected_total is None:
        return stale_write(sender_id, stored_fence, fence)
    return ConversationChangedError(sender_id, expected_total, actual)
