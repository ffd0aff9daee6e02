"""A bounded per-process cache of trackers between turns.

Rebuilding a tracker from stored events costs O(session) per message; with
the cache a turn costs O(new events). An entry is valid only while the store
still holds exactly what this process wrote last (same event count and
fence); the processor checks that under the conversation's lock, so another
replica's write, an API edit or an import simply causes a reload. The count
is also what the processor passes to ``append`` as ``expected_total``: a write
that slips in after the check (the lock expired under a slow turn) makes the
store refuse the turn instead of storing it after events it never saw.

The check itself usually costs nothing: the processor leaves the version it
wrote as the lock's note (``version_note``), and when the next holder of the
conversation's lock is this process again and finds its own note, nobody else
held the lock in between, so the store is not asked. Any other holder, a
crash or a lost lock in between leaves no such note, and the version is read.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from palaver.stores.base import ConversationVersion

if TYPE_CHECKING:
    from palaver.core.model import LoadedModel
    from palaver.core.tracker import DialogueStateTracker


# Not frozen (a frozen __init__ is ~10x slower and this is built per message);
# treat as immutable.
@dataclass(slots=True, unsafe_hash=True)
class CachedTracker:
    tracker: DialogueStateTracker
    model: LoadedModel
    version: ConversationVersion
    older_events: int


class TrackerCache:
    """LRU of trackers keyed by sender id; ``size`` 0 disables it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, CachedTracker] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, sender_id: str, model: LoadedModel) -> CachedTracker | None:
        """Remove and return the entry, if it was built with ``model``.

        The caller checks the entry's version against the store and counts the
        outcome with ``record``.
        """
        entry = self._entries.pop(sender_id, None)
        if entry is None or entry.model is not model:
            return None
        return entry

    def record(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1

    def put(
        self,
        sender_id: str,
        tracker: DialogueStateTracker,
        model: LoadedModel,
        older_events: int,
        fence: int | None,
    ) -> ConversationVersion | None:
        """Keep ``tracker``, all of whose events are stored, the last ones under ``fence``.

        ``older_events`` counts the stored events of earlier sessions that the
        tracker does not hold. Returns the version the entry is valid for (None
        when the cache is disabled).
        """
        if self.size <= 0:
            return None
        version = ConversationVersion(older_events + len(tracker.events), fence)
        self._entries[sender_id] = CachedTracker(tracker, model, version, older_events)
        self._entries.move_to_end(sender_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return version


def version_note(version: ConversationVersion) -> str:
    """The lock note that says "the store holds ``version``, written by this note's author"."""
    return f"v1:{version.total_events}:{version.fence}"
