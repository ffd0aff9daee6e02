"""The tracker store contract.

Stores persist a conversation as an append-only list of Rasa event JSON
objects (dicts). They know nothing of trackers or domains: building a
tracker from events is ``palaver.core.tracker``'s job (see
``palaver.stores.tracker_io``). This keeps every backend small and makes the
contract testable with plain dicts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

EventDict = dict[str, Any]


# Not frozen (a frozen __init__ is ~10x slower and this is built per message);
# treat as immutable.
@dataclass(slots=True, unsafe_hash=True)
class StoredConversation:
    """What ``load`` returns.

    Attributes:
        events: events of the latest session (from the last ``session_started``
            event on) or of all sessions when ``full=True``; oldest first.
        total_events: how many events the conversation has in the store in all
            sessions; the processor passes it back to ``append`` as
            ``expected_total`` so a store can detect a concurrent writer.
    """

    events: list[EventDict]
    total_events: int


# Not frozen (a frozen __init__ is ~10x slower and this is built per message);
# treat as immutable.
@dataclass(slots=True, unsafe_hash=True)
class ConversationVersion:
    """What identifies a conversation's stored state cheaply.

    Any append changes ``total_events`` and (under a lock) ``fence``; a delete
    makes ``version`` return None. A process that cached a tracker can reuse it
    while the version is the one it wrote last.
    """

    total_events: int
    fence: int | None


@runtime_checkable
class VersionedStore(Protocol):
    """Optional capability: a cheap version read (no events transferred)."""

    async def version(self, sender_id: str) -> ConversationVersion | None: ...


@runtime_checkable
class TrackerStore(Protocol):
    """An async store of conversation events.

    ``start``/``stop`` are called by the server's listeners; ``stop`` is safe
    to call twice. Every method raises ``StoreUnavailableError`` for
    connection-level failures (so the fail-safe wrapper can react) and
    ``StoreError`` for anything else.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        """Events of a conversation, or ``None`` if it has none."""
        ...

    async def append(
        self,
        sender_id: str,
        events: Sequence[EventDict],
        *,
        fence: int | None = None,
        expected_total: int | None = None,
    ) -> None:
        """Append ``events`` atomically (all or none).

        ``fence`` is the lock's fencing token (monotonic per conversation).
        A store that supports fencing refuses, with ``StaleWriteError``, an
        append whose fence is lower than the highest fence it has already
        accepted for this conversation.

        ``expected_total`` is the ``total_events`` of the ``load`` the writer's
        view was built from (0 for a conversation it found empty). When given,
        the store checks, atomically with the write, that the conversation
        still has exactly that many events in all sessions (a missing
        conversation has 0), and otherwise refuses with
        ``ConversationChangedError`` (a ``StaleWriteError``) naming both counts.
        A refused append writes nothing. When both checks fail, the fence
        refusal wins: a writer that lost its lock must not redo its work.
        An empty ``events`` writes nothing and checks nothing.
        """
        ...

    def keys(self) -> AsyncIterator[str]:
        """Stream every sender id that has events (no full materialisation)."""
        ...

    async def delete(self, sender_id: str) -> None:
        """Remove a conversation (used by tests and ``palaver import --replace``)."""
        ...
