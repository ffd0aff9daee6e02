"""Per-conversation replays, kept between predictions.

The processor rebuilds a tracker from the store for every message and then
predicts several times while it appends events. Replaying the whole session
for each prediction would make long conversations slow, so a bounded LRU
keeps one :class:`~palaver.policies.replay.Replay` per conversation and only
feeds it the events appended since. An entry is reused only if the events it
consumed are still a prefix of the tracker's events (checked on the first and
the last consumed event); anything else rebuilds it from the latest session
start, which is where Rasa's applied events begin anyway.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from palaver.core.events import Event, Restarted, SessionStarted, UserUttered
from palaver.policies.replay import Replay, RuleOnlyData
from palaver.policies.states import DomainLike, State, StateFeaturizer, thaw

_RESETS = (Restarted, SessionStarted)

# Conversations whose replays are kept when nobody says otherwise. A server keeps at
# least as many as its tracker cache (``MessageProcessor``): a conversation whose
# replay was evicted replays its whole session again for every prediction.
DEFAULT_REPLAY_CONVERSATIONS = 1024


class TrackerLike(Protocol):
    """What the policies read from a :class:`~palaver.core.tracker.DialogueStateTracker`."""

    @property
    def sender_id(self) -> str: ...

    @property
    def events(self) -> Sequence[Event]: ...

    @property
    def latest_action(self) -> dict[str, str] | None: ...

    @property
    def latest_message(self) -> UserUttered | None: ...

    @property
    def active_loop_name(self) -> str | None: ...

    @property
    def is_active_loop_rejected(self) -> bool: ...


@dataclass(slots=True)
class _Entry:
    replay: Replay
    consumed: int
    first: Event | None
    last: Event | None


def _same(a: Event, b: Event | None) -> bool:
    return a is b or (b is not None and type(a) is type(b) and a.timestamp == b.timestamp)


def session_start_index(events: Sequence[Event]) -> int:
    """Index of the latest ``Restarted``/``SessionStarted`` (0 if none)."""
    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index], _RESETS):
            return index
    return 0


class ReplayCache:
    """LRU of replays keyed by conversation id.

    Args:
        featurizer: featurizer of the model's domain.
        rule_only: rule-only slots/loops hidden from ML states.
        max_conversations: how many conversations to keep.
    """

    def __init__(
        self,
        featurizer: StateFeaturizer,
        rule_only: RuleOnlyData,
        max_conversations: int = DEFAULT_REPLAY_CONVERSATIONS,
    ) -> None:
        self.featurizer = featurizer
        self.rule_only = rule_only
        self.max_conversations = max_conversations
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def replay_for(self, tracker: TrackerLike) -> Replay:
        """The replay of ``tracker``'s events, brought up to date."""
        events = tracker.events
        entry = self._entries.get(tracker.sender_id)
        if entry is None or not self._is_prefix(entry, events):
            entry = self._fresh(events)
        for index in range(entry.consumed, len(events)):
            entry.replay.feed(events[index])
        if len(events) > entry.consumed:
            entry.consumed = len(events)
            entry.last = events[-1]
            if entry.first is None:
                entry.first = events[0]
        self._remember(tracker.sender_id, entry)
        return entry.replay

    def clear(self) -> None:
        """Forgets every conversation."""
        self._entries.clear()

    @staticmethod
    def _is_prefix(entry: _Entry, events: Sequence[Event]) -> bool:
        consumed = entry.consumed
        if consumed == 0:
            return not events or entry.first is None
        return (
            consumed <= len(events)
            and _same(events[consumed - 1], entry.last)
            and _same(events[0], entry.first)
        )

    def _fresh(self, events: Sequence[Event]) -> _Entry:
        start = session_start_index(events)
        replay = Replay(self.featurizer, rule_only=self.rule_only)
        for index in range(start, len(events)):
            replay.feed(events[index])
        first = events[0] if events else None
        last = events[-1] if events else None
        return _Entry(replay, len(events), first, last)

    def _remember(self, sender_id: str, entry: _Entry) -> None:
        self._entries[sender_id] = entry
        self._entries.move_to_end(sender_id)
        while len(self._entries) > self.max_conversations:
            self._entries.popitem(last=False)


def past_states(
    tracker: TrackerLike,
    domain: DomainLike,
    *,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: RuleOnlyData | None = None,
) -> list[State]:
    """Rasa's ``tracker.past_states(domain)``: one state per applied action, plus the last.

    Args:
        tracker: the conversation.
        domain: its domain.
        omit_unset_slots: leave out slots that were never set.
        ignore_rule_only_turns: hide turns of rules not covered by stories.
        rule_only_data: slots and loops only rules use (with ``ignore_rule_only_turns``).
    """
    featurizer = StateFeaturizer(domain)
    rule_only = (rule_only_data or RuleOnlyData()) if ignore_rule_only_turns else None
    replay = Replay(featurizer, omit_unset_slots=omit_unset_slots, rule_only=rule_only)
    events = tracker.events
    for index in range(session_start_index(events), len(events)):
        replay.feed(events[index])
    states = replay.ml_states() if ignore_rule_only_turns else replay.states()
    return [thaw(s) for s in states]
