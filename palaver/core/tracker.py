"""The dialogue state tracker: conversation state rebuilt from events.

Pure state, no I/O and no domain featurization (that lives in
``palaver.policies.states``). Semantics and ``current_state()`` JSON follow
Rasa 3.6's ``DialogueStateTracker``.

Add events only through :meth:`DialogueStateTracker.update` (or
``update_with_events``): the tracker indexes the latest restart and the loop
names as events arrive, so appending is O(1) and ``applied_events()`` only
walks the current session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from typing import Any, TypeVar

from palaver.core.constants import (
    ACTION_LISTEN_NAME,
    ACTION_NAME,
    ACTION_TEXT,
    ASSISTANT_ID_KEY,
    ENTITY_ATTRIBUTE_GROUP,
    ENTITY_ATTRIBUTE_ROLE,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    LOOP_INTERRUPTED,
    LOOP_NAME,
    LOOP_REJECTED,
    METADATA_MODEL_ID,
    SHOULD_NOT_BE_SET,
    TRIGGER_MESSAGE,
)
from palaver.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    BotUttered,
    DefinePrevUserUtteredFeaturization,
    Event,
    Restarted,
    SessionStarted,
    UserUtteranceReverted,
    UserUttered,
    events_from_dicts,
)
from palaver.core.slots import AnySlot, Slot

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

_RESETS = (Restarted, SessionStarted)
_REVERTS = (UserUtteranceReverted, ActionReverted)
# ``_last_in_plain_tail``: the tail cannot be read without replaying it.
_UNDECIDED = object()
_LOOP_COLLAPSIBLE = (ActionExecuted, UserUttered, DefinePrevUserUtteredFeaturization)


class EventVerbosity(Enum):
    """Which events ``current_state`` includes."""

    NONE = 1  # no events
    APPLIED = 2  # the events that make up the current state
    AFTER_RESTART = 3  # everything after the latest restart, incl. reverted events
    ALL = 4  # every logged event


class AnySlotDict(dict[str, Slot]):
    """Slots of a tracker without a domain: every name exists, as an ``AnySlot``."""

    def __missing__(self, key: str) -> Slot:
        slot = self[key] = AnySlot(key)
        return slot

    def __contains__(self, key: object) -> bool:
        return True


class DialogueStateTracker:
    """State of one conversation, maintained by applying events in order.

    Attributes:
        sender_id: conversation id.
        events: every event, oldest first (append through ``update``).
        slots: slot name -> slot (copies owned by this tracker).
        latest_message: latest user message (empty ``UserUttered`` after a reset).
        latest_action: ``{"action_name": ...}`` or ``{"action_text": ...}``; ``{}`` after reset.
        latest_bot_utterance: latest bot message (empty ``BotUttered`` after a reset).
        active_loop: ``{"name", "is_interrupted", "rejected", "trigger_message"}``
            (Rasa 3's keys) or ``{}``.
        followup_action: action forced to run next, if any.
        model_id: if set, stamped into the metadata of every new event.
        assistant_id: if set, stamped into the metadata of every new event.
    """

    def __init__(
        self,
        sender_id: str,
        slots: Iterable[Slot] | None,
        max_event_history: int | None = None,
    ) -> None:
        """Creates an empty tracker.

        Args:
            sender_id: conversation id.
            slots: the domain's slots (copied); ``None`` accepts any slot name.
            max_event_history: keep only this many latest events.
        """
        self.sender_id = sender_id
        self.max_event_history = max_event_history
        self.events: list[Event] = []
        self.slots: dict[str, Slot] = (
            AnySlotDict() if slots is None else {slot.name: slot.copy() for slot in slots}
        )
        self.model_id: str | None = None
        self.assistant_id: str | None = None
        self.latest_message: UserUttered | None = None
        self.latest_action: dict[str, str] | None = None
        self.latest_bot_utterance: BotUttered | None = None
        self.active_loop: dict[str, Any] = {}
        self.followup_action: str | None = ACTION_LISTEN_NAME
        self._paused = False
        # Index of the events: names of loops ever activated, the position
        # after the latest Restarted/SessionStarted, and how many events the
        # index covers (to notice events appended behind our back).
        self._loop_names: set[str] = set()
        self._session_start = 0
        self._indexed = 0
        self.reset_state()

    # --- construction ------------------------------------------------------------

    @classmethod
    def from_events(
        cls,
        sender_id: str,
        events: Iterable[Event],
        slots: Iterable[Slot] | None = None,
        max_event_history: int | None = None,
    ) -> DialogueStateTracker:
        """A tracker with ``events`` applied in order."""
        tracker = cls(sender_id, slots, max_event_history)
        for event in events:
            tracker.update(event)
        return tracker

    @classmethod
    def from_dicts(
        cls,
        sender_id: str,
        event_dicts: Iterable[Mapping[str, Any]],
        slots: Iterable[Slot] | None = None,
        max_event_history: int | None = None,
    ) -> DialogueStateTracker:
        """A tracker rebuilt from Rasa event JSON.

        Raises:
            InvalidEventError: naming the index of the first invalid event.
        """
        return cls.from_events(sender_id, events_from_dicts(event_dicts), slots, max_event_history)

    def init_copy(self) -> DialogueStateTracker:
        """A new, empty tracker with the same id, slots (reset) and history limit."""
        slots = None if isinstance(self.slots, AnySlotDict) else self.slots.values()
        return DialogueStateTracker(self.sender_id, slots, self.max_event_history)

    def copy(self) -> DialogueStateTracker:
        """An independent tracker with the same events and state (events are shared)."""
        clone = self.init_copy()
        clone.events = list(self.events)
        clone.slots.update((name, slot.copy()) for name, slot in self.slots.items())
        clone.model_id = self.model_id
        clone.assistant_id = self.assistant_id
        clone.latest_message = self.latest_message
        clone.latest_action = None if self.latest_action is None else dict(self.latest_action)
        clone.latest_bot_utterance = self.latest_bot_utterance
        clone.active_loop = dict(self.active_loop)
        clone.followup_action = self.followup_action
        clone._paused = self._paused
        clone._loop_names = set(self._loop_names)
        clone._session_start = self._session_start
        clone._indexed = self._indexed
        return clone

    def travel_back_in_time(self, target_time: float) -> DialogueStateTracker:
        """A new tracker with the events up to and including ``target_time`` replayed."""
        tracker = self.init_copy()
        for event in self.events:
            if event.timestamp > target_time:
                break
            tracker.update(event)
        return tracker

    def generate_all_prior_trackers(self) -> Iterator[tuple[DialogueStateTracker, bool]]:
        """Yields the tracker before each applied action, with its ``hide_rule_turn`` flag.

        The final tracker (after all applied events) comes last, with ``False``.
        """
        tracker = self.init_copy()
        for event in self.applied_events():
            if isinstance(event, ActionExecuted):
                yield tracker, event.hide_rule_turn
            tracker.update(event)
        yield tracker, False

    # --- updating -------------------------------------------------------------------

    def update(self, event: Event) -> None:
        """Appends ``event`` and applies it to the state.

        Raises:
            TypeError: if ``event`` is not an :class:`Event`.
        """
        if not isinstance(event, Event):
            raise TypeError(f"Expected an Event, got {type(event).__name__}.")
        if self.model_id and METADATA_MODEL_ID not in event.metadata:
            event.metadata = {**event.metadata, METADATA_MODEL_ID: self.model_id}
        if self.assistant_id and ASSISTANT_ID_KEY not in event.metadata:
            event.metadata = {**event.metadata, ASSISTANT_ID_KEY: self.assistant_id}
        self._ensure_indexed()
        events = self.events
        events.append(event)
        self._index(event, len(events))
        self._indexed = len(events)
        if self.max_event_history is not None and len(events) > self.max_event_history:
            self._trim(len(events) - self.max_event_history)
        event.apply_to(self)

    def update_with_events(
        self, new_events: Iterable[Event], override_timestamp: bool = True
    ) -> None:
        """Applies several events.

        Args:
            new_events: events to add, in order.
            override_timestamp: stamp them with the current time (as Rasa does) so
                they sort after the existing events.
        """
        for event in new_events:
            if override_timestamp:
                event.timestamp = time.time()
            self.update(event)

    def discard_latest(self, events: Sequence[Event]) -> None:
        """Takes back ``events`` if they are the latest ones, as if never applied.

        Rasa runs an action on a copy of the tracker with the policy's events
        (``DefinePrevUserUtteredFeaturization``, ``LoopInterrupted``) and drops
        that copy when the action rejects execution; only the rejection is logged.
        """
        count = len(events)
        if not count or len(self.events) < count:
            return
        if any(a is not b for a, b in zip(self.events[-count:], events, strict=True)):
            return
        followup = self.followup_action
        del self.events[-count:]
        self.reset_state()
        self.replay_events()
        self.followup_action = followup

    def _index(self, event: Event, position: int) -> None:
        if isinstance(event, ActiveLoop):
            if event.name:
                self._loop_names.add(event.name)
        elif isinstance(event, _RESETS):
            self._session_start = position

    def _ensure_indexed(self) -> None:
        """Re-indexes if ``events`` was changed other than through ``update``."""
        events = self.events
        start = self._session_start
        if self._indexed == len(events) and (
            start == 0 or (start <= len(events) and isinstance(events[start - 1], _RESETS))
        ):
            return
        self._loop_names = set()
        self._session_start = 0
        for position, event in enumerate(events, start=1):
            self._index(event, position)
        self._indexed = len(events)

    def _trim(self, excess: int) -> None:
        """Drops the ``excess`` oldest events (``max_event_history``)."""
        del self.events[:excess]
        self._session_start = max(0, self._session_start - excess)
        self._indexed = len(self.events)

    # --- applied events --------------------------------------------------------------

    def applied_events(self) -> list[Event]:
        """The events that make up the current state, without reverted ones.

        Restarts and session starts drop everything before them; ``undo``
        drops back to the previous action; ``rewind`` drops back to the
        previous user message and the action before it; a repeated execution
        of an active loop collapses onto its previous execution unless the loop
        was interrupted (unhappy path).
        """
        self._ensure_indexed()
        loop_names = self._loop_names
        applied: list[Event] = []
        for event in self.events[self._session_start :]:
            if isinstance(event, _RESETS):
                applied = []
            elif isinstance(event, ActionReverted):
                _undo_till_previous(ActionExecuted, applied)
            elif isinstance(event, UserUtteranceReverted):
                # A user message implies the `action_listen` before it: drop both.
                _undo_till_previous(UserUttered, applied)
                _undo_till_previous(ActionExecuted, applied)
            elif (
                loop_names
                and isinstance(event, ActionExecuted)
                and event.action_name in loop_names
                and not _first_loop_execution_or_unhappy_path(event.action_name, applied)
            ):
                _undo_till_previous_loop_execution(event.action_name, applied)
            else:
                applied.append(event)
        return applied

    def replay_events(self) -> None:
        """Applies the applied events again (after ``reset_state``)."""
        for event in self.applied_events():
            event.apply_to(self)

    # --- state as JSON ----------------------------------------------------------------

    def current_state(
        self, event_verbosity: EventVerbosity = EventVerbosity.NONE
    ) -> dict[str, Any]:
        """The tracker as Rasa's tracker JSON.

        Args:
            event_verbosity: which events to include under ``events`` (``None`` for NONE).
        """
        events = self._events_for_verbosity(event_verbosity)
        return {
            "sender_id": self.sender_id,
            "slots": self.current_slot_values(),
            "latest_message": self._latest_message_data(),
            "latest_event_time": self.events[-1].timestamp if self.events else None,
            "followup_action": self.followup_action,
            "paused": self._paused,
            "events": None if events is None else [event.as_dict() for event in events],
            "latest_input_channel": self.get_latest_input_channel(),
            "active_loop": dict(self.active_loop),
            "latest_action": self.latest_action,
            "latest_action_name": self.latest_action_name,
        }

    def _events_for_verbosity(self, verbosity: EventVerbosity) -> list[Event] | None:
        if verbosity is EventVerbosity.ALL:
            return list(self.events)
        if verbosity is EventVerbosity.AFTER_RESTART:
            return self.events_after_latest_restart()
        if verbosity is EventVerbosity.APPLIED:
            return self.applied_events()
        return None

    def _latest_message_data(self) -> dict[str, Any] | None:
        if self.latest_message is None:
            return None
        data = dict(self.latest_message.parse_data)
        # Entities added by policies (EntitiesAdded) are part of the latest message.
        data["entities"] = self.latest_message.entities
        return data

    def current_slot_values(self) -> dict[str, Any]:
        """Slot name -> current value."""
        return {name: slot.value for name, slot in self.slots.items()}

    # --- queries ---------------------------------------------------------------------------

    @property
    def number_of_events(self) -> int:
        """How many events the tracker holds."""
        return len(self.events)

    def get_slot(self, key: str) -> Any:
        """Value of slot ``key`` (``None`` if there is no such slot)."""
        slot = self.slots.get(key) if not isinstance(self.slots, AnySlotDict) else self.slots[key]
        if slot is None:
            logger.debug("Conversation '%s': no slot named '%s'", self.sender_id, key)
            return None
        return slot.value

    def is_paused(self) -> bool:
        """Whether the conversation is paused."""
        return self._paused

    @property
    def active_loop_name(self) -> str | None:
        """Name of the active loop, if any."""
        name = self.active_loop.get(LOOP_NAME)
        if name is None or name == SHOULD_NOT_BE_SET:
            return None
        return str(name)

    @property
    def is_active_loop_rejected(self) -> bool:
        """Whether the active loop rejected its latest execution."""
        return bool(self.active_loop.get(LOOP_REJECTED, False))

    @property
    def is_active_loop_interrupted(self) -> bool:
        """Whether the active loop was interrupted (unhappy path: do not validate)."""
        return bool(self.active_loop.get(LOOP_INTERRUPTED, False))

    @property
    def latest_action_name(self) -> str | None:
        """Name (or end-to-end text) of the latest action."""
        if not self.latest_action:
            return None
        return self.latest_action.get(ACTION_NAME) or self.latest_action.get(ACTION_TEXT)

    def get_latest_entity_values(
        self,
        entity_type: str,
        entity_role: str | None = None,
        entity_group: str | None = None,
    ) -> Iterator[Any]:
        """Values of the latest message's entities of a type (and role and group)."""
        if self.latest_message is None:
            return iter(())
        return (
            entity.get(ENTITY_ATTRIBUTE_VALUE)
            for entity in self.latest_message.entities
            if entity.get(ENTITY_ATTRIBUTE_TYPE) == entity_type
            and entity.get(ENTITY_ATTRIBUTE_GROUP) == entity_group
            and entity.get(ENTITY_ATTRIBUTE_ROLE) == entity_role
        )

    def get_latest_input_channel(self) -> str | None:
        """Input channel of the latest user message."""
        for event in reversed(self.events):
            if isinstance(event, UserUttered):
                return event.input_channel
        return None

    def idx_after_latest_restart(self) -> int:
        """Index of the first event after the latest ``Restarted`` (0 without one)."""
        events = self.events
        for position in range(len(events) - 1, -1, -1):
            if isinstance(events[position], Restarted):
                return position + 1
        return 0

    def events_after_latest_restart(self) -> list[Event]:
        """The events after the latest ``Restarted``."""
        return self.events[self.idx_after_latest_restart() :]

    def get_last_event_for(
        self,
        event_type: type[E] | tuple[type[E], ...],
        action_names_to_exclude: list[str] | None = None,
        skip: int = 0,
        event_verbosity: EventVerbosity = EventVerbosity.APPLIED,
    ) -> E | None:
        """The latest event of a type.

        Args:
            event_type: class (or tuple of classes) to look for.
            action_names_to_exclude: ``ActionExecuted`` names to pass over.
            skip: how many matches to pass over first.
            event_verbosity: which events to search (applied ones by default).
        """
        excluded = action_names_to_exclude or ()
        if event_verbosity is EventVerbosity.APPLIED:
            found = self._last_in_plain_tail(event_type, excluded, skip)
            if found is not _UNDECIDED:
                return found  # type: ignore[return-value]
        for event in reversed(self._events_for_verbosity(event_verbosity) or []):
            if not isinstance(event, event_type):
                continue
            if isinstance(event, ActionExecuted) and event.action_name in excluded:
                continue
            if skip == 0:
                return event
            skip -= 1
        return None

    def _last_in_plain_tail(
        self,
        event_type: type[Event] | tuple[type[Event], ...],
        excluded: Container[str],
        skip: int,
    ) -> object:
        """``get_last_event_for`` over applied events in O(tail), without building them.

        Scans back from the end of the session. Every event passed is applied
        unless something later reverts it, so the scan is exact until it meets
        an undo, a rewind or an execution of a loop (which may collapse earlier
        events): then it returns ``_UNDECIDED`` and the caller replays.
        """
        self._ensure_indexed()
        events = self.events
        loop_names = self._loop_names
        for position in range(len(events) - 1, self._session_start - 1, -1):
            event = events[position]
            if isinstance(event, _REVERTS):
                return _UNDECIDED
            if isinstance(event, ActionExecuted):
                if event.action_name in loop_names:
                    return _UNDECIDED
                if event.action_name in excluded:
                    continue
            if not isinstance(event, event_type):
                continue
            if skip == 0:
                return event
            skip -= 1
        return None

    def last_executed_action_has(self, name: str, skip: int = 0) -> bool:
        """Whether the latest action other than ``action_listen`` is ``name``."""
        last = self.get_last_event_for(
            ActionExecuted, action_names_to_exclude=[ACTION_LISTEN_NAME], skip=skip
        )
        return last is not None and last.action_name == name

    def has_bot_message_after_latest_user_message(self) -> bool:
        """Whether the bot said something since the latest user message."""
        for event in reversed(self.applied_events()):
            if isinstance(event, BotUttered):
                return True
            if isinstance(event, UserUttered):
                return False
        return False

    # --- state changes (called by events' ``apply_to``) ------------------------------

    def reset_state(self) -> None:
        """Resets the state to that of a new conversation; keeps the events."""
        self.reset_slots()
        self._paused = False
        self.latest_action = {}
        self.latest_message = UserUttered.empty()
        self.latest_bot_utterance = BotUttered.empty()
        self.followup_action = ACTION_LISTEN_NAME
        self.active_loop = {}

    def reset_slots(self) -> None:
        """Sets every slot back to its initial value."""
        for slot in self.slots.values():
            slot.reset()

    def set_slot_value(self, key: str, value: Any) -> None:
        """Sets slot ``key``; an unknown slot is logged and ignored."""
        slot = self.slots.get(key) if not isinstance(self.slots, AnySlotDict) else self.slots[key]
        if slot is None:
            logger.warning(
                "Conversation '%s': tried to set unknown slot '%s'; add it to the domain",
                self.sender_id,
                key,
            )
            return
        slot.value = value

    def set_paused(self, paused: bool) -> None:
        """Pauses or resumes the conversation."""
        self._paused = paused

    def change_loop_to(self, loop_name: str | None) -> None:
        """Activates loop ``loop_name`` (triggered by the latest message), or deactivates."""
        if loop_name is None:
            self.active_loop = {}
            return
        self.active_loop = {
            LOOP_NAME: loop_name,
            LOOP_INTERRUPTED: False,
            LOOP_REJECTED: False,
            TRIGGER_MESSAGE: self.latest_message.parse_data if self.latest_message else None,
        }

    def interrupt_loop(self, is_interrupted: bool) -> None:
        """Marks the active loop interrupted (or not)."""
        if self.active_loop:
            self.active_loop[LOOP_INTERRUPTED] = is_interrupted

    def reject_action(self, action_name: str) -> None:
        """Marks the active loop rejected if ``action_name`` is the loop."""
        if self.active_loop and action_name == self.active_loop_name:
            self.active_loop[LOOP_REJECTED] = True

    def set_latest_action(self, action: dict[str, str]) -> None:
        """Records the latest action; re-enables validation and un-rejects the loop."""
        self.latest_action = action
        loop_name = self.active_loop_name
        if loop_name is None:
            return
        self.active_loop[LOOP_INTERRUPTED] = False
        if action.get(ACTION_NAME) == loop_name:
            self.active_loop[LOOP_REJECTED] = False

    def trigger_followup_action(self, action: str) -> None:
        """Forces ``action`` to run next."""
        self.followup_action = action

    def clear_followup_action(self) -> None:
        """Forgets the forced next action."""
        self.followup_action = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DialogueStateTracker):
            return NotImplemented
        return self.sender_id == other.sender_id and self.events == other.events

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<DialogueStateTracker {self.sender_id!r} ({len(self.events)} events)>"


def _undo_till_previous(event_type: type[Event], applied: list[Event]) -> None:
    """Pops events until one of ``event_type`` has been popped."""
    while applied:
        if isinstance(applied.pop(), event_type):
            return


def _first_loop_execution_or_unhappy_path(loop_name: str, applied: list[Event]) -> bool:
    next_action: str | None = None
    for event in reversed(applied):
        # A deactivation means the loop runs for the first time since.
        if isinstance(event, ActiveLoop) and event.name is None:
            return True
        if _is_within_unhappy_path(loop_name, event, next_action):
            return True
        if isinstance(event, ActionExecuted):
            if event.action_name == loop_name:
                return False
            next_action = event.action_name
    return True


def _is_within_unhappy_path(loop_name: str, event: Event, next_action: str | None) -> bool:
    # Live conversations mark an unhappy path with ActionExecutionRejected;
    # training stories show it as another action right after a user message.
    if isinstance(event, ActionExecutionRejected):
        return event.action_name == loop_name
    return isinstance(event, UserUttered) and next_action is not None and next_action != loop_name


def _undo_till_previous_loop_execution(loop_name: str, applied: list[Event]) -> None:
    """Drops actions and user messages back to the previous execution of the loop.

    Other events (slots etc.) stay: they are part of the state.
    """
    offset = 0
    for event in reversed(applied[:]):
        if isinstance(event, ActionExecuted) and event.action_name == loop_name:
            break
        if isinstance(event, _LOOP_COLLAPSIBLE):
            del applied[-1 - offset]
        else:
            offset += 1
