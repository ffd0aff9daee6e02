"""Conversation events: the append-only log a tracker is rebuilt from.

Every class mirrors a Rasa 3.6 event: ``as_dict()`` gives Rasa's JSON, and
``event_from_dict`` reads it back (also the legacy ``form`` and
``form_validation`` types), validating field types. ``apply_to(tracker)`` is
the event's effect on a :class:`~palaver.core.tracker.DialogueStateTracker`.

Events are built for the hot path: ``__slots__`` classes, no deep copies.
Treat them as immutable; ``as_dict()`` shares nested dicts with the event.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

from palaver.core.constants import (
    ACTION_LISTEN_NAME,
    ACTION_NAME,
    ACTION_SESSION_START_NAME,
    ACTION_TEXT,
    ENTITIES,
    ENTITY_ATTRIBUTE_GROUP,
    ENTITY_ATTRIBUTE_ROLE,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_LABEL_SEPARATOR,
    EXTERNAL_MESSAGE_PREFIX,
    FULL_RETRIEVAL_INTENT_NAME_KEY,
    INTENT,
    INTENT_NAME_KEY,
    IS_EXTERNAL,
    TEXT,
)
from palaver.errors import InvalidEventError

if TYPE_CHECKING:
    from palaver.core.tracker import DialogueStateTracker

EventDict = dict[str, Any]


class Event:
    """Base of all events.

    Attributes:
        type_name: the JSON ``event`` value of the class.
        timestamp: seconds since the epoch (defaults to now).
        metadata: free-form event metadata.
    """

    type_name: ClassVar[str] = "event"
    __slots__ = ("metadata", "timestamp")

    def __init__(
        self, *, timestamp: float | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        """Sets the common fields; ``None`` means now / no metadata."""
        self.timestamp: float = time.time() if timestamp is None else timestamp
        self.metadata: dict[str, Any] = {} if metadata is None else metadata

    def as_dict(self) -> EventDict:
        """The event as Rasa JSON (``metadata`` only when non-empty, as Rasa does)."""
        d: EventDict = {"event": self.type_name, "timestamp": self.timestamp}
        if self.metadata:
            d["metadata"] = self.metadata
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Parses any event from Rasa JSON; see :func:`event_from_dict`."""
        return event_from_dict(data)

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        """Builds the event from validated common fields and raw type fields."""
        return cls(timestamp=timestamp, metadata=meta)

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Applies the event's effect to ``tracker`` (none by default)."""

    def _key(self) -> tuple[Any, ...]:
        """What equality compares (timestamps never count)."""
        return ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, Event):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.type_name, json.dumps(self._key(), sort_keys=True, default=repr)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(v) for v in self._key())})"


def _without_nones(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


class UserUttered(Event):
    """The user sent a message.

    Attributes:
        text: message text.
        intent: intent prediction (``{"name": ..., "confidence": ...}``) or ``{}``.
        entities: entities of the message, including ones added by ``EntitiesAdded``.
        parse_data: the full NLU parse result as persisted.
        input_channel: name of the channel the message came from.
        message_id: channel message id.
        use_text_for_featurization: set by policies via ``DefinePrevUserUtteredFeaturization``.
    """

    type_name: ClassVar[str] = "user"
    __slots__ = (
        "entities",
        "input_channel",
        "intent",
        "message_id",
        "parse_data",
        "text",
        "use_text_for_featurization",
    )

    def __init__(
        self,
        text: str | None = None,
        intent: dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
        parse_data: dict[str, Any] | None = None,
        input_channel: str | None = None,
        message_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        timestamp: float | None = None,
        use_text_for_featurization: bool | None = None,
    ) -> None:
        """Creates a user message event.

        ``intent`` and ``entities`` default to those of ``parse_data``; the
        persisted ``parse_data`` is Rasa's: ``intent, entities, text,
        message_id, metadata`` overridden by the given parse result.
        """
        super().__init__(timestamp=timestamp, metadata=metadata)
        if parse_data:
            if intent is None:
                intent = parse_data.get(INTENT)
            if entities is None:
                entities = parse_data.get(ENTITIES)
        self.text = text
        self.intent: dict[str, Any] = intent or {}
        self.entities: list[dict[str, Any]] = list(entities) if entities else []
        self.input_channel = input_channel
        self.message_id = message_id
        full: dict[str, Any] = {
            INTENT: self.intent,
            ENTITIES: entities if entities else [],
            TEXT: text,
            "message_id": message_id,
            "metadata": self.metadata,
        }
        if parse_data:
            full.update(parse_data)
        self.parse_data: dict[str, Any] = full
        self.use_text_for_featurization = use_text_for_featurization
        # Training data has either text or intent: featurize what is there.
        if text and not self.intent_name:
            self.use_text_for_featurization = True
        elif self.intent_name and not text:
            self.use_text_for_featurization = False

    @property
    def intent_name(self) -> str | None:
        """Name of the predicted intent, if any."""
        name = self.intent.get(INTENT_NAME_KEY)
        return name if isinstance(name, str) else None

    @property
    def full_retrieval_intent_name(self) -> str | None:
        """Full retrieval intent name (``faq/ask_x``), if any."""
        name = self.intent.get(FULL_RETRIEVAL_INTENT_NAME_KEY)
        return name if isinstance(name, str) else None

    @classmethod
    def empty(cls) -> UserUttered:
        """An empty message (what a fresh tracker holds as ``latest_message``)."""
        return cls()

    def is_empty(self) -> bool:
        """Whether the message has neither text, intent nor entities."""
        return not self.text and not self.intent_name and not self.entities

    @classmethod
    def create_external(
        cls,
        intent_name: str,
        entity_list: list[dict[str, Any]] | None = None,
        input_channel: str | None = None,
    ) -> UserUttered:
        """A message triggered from outside (reminders, ``trigger_intent``)."""
        return cls(
            text=f"{EXTERNAL_MESSAGE_PREFIX}{intent_name}",
            intent={INTENT_NAME_KEY: intent_name},
            entities=entity_list or [],
            input_channel=input_channel,
            metadata={IS_EXTERNAL: True},
        )

    def as_sub_state(self) -> dict[str, Any]:
        """The message as a dialogue state (``text``/``intent``/``entities``)."""
        labels: list[str] = [str(e.get(ENTITY_ATTRIBUTE_TYPE)) for e in self.entities]
        for attribute in (ENTITY_ATTRIBUTE_ROLE, ENTITY_ATTRIBUTE_GROUP):
            labels.extend(
                f"{e.get(ENTITY_ATTRIBUTE_TYPE)}{ENTITY_LABEL_SEPARATOR}{e.get(attribute)}"
                for e in self.entities
                if attribute in e
            )
        out: dict[str, Any] = {}
        use_text = self.use_text_for_featurization
        if self.text and (use_text or use_text is None):
            out[TEXT] = self.text
        if self.intent_name and not use_text:
            out[INTENT] = self.intent_name
        if labels and not use_text:
            out[ENTITIES] = labels
        return out

    def as_dict(self) -> EventDict:
        """Rasa JSON: ``text, parse_data, input_channel, message_id, metadata``."""
        d = super().as_dict()
        d["text"] = self.text
        d["parse_data"] = self.parse_data
        d["input_channel"] = self.input_channel
        d["message_id"] = self.message_id
        d["metadata"] = self.metadata
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        parse_data = _opt_dict(data, "parse_data", cls.type_name)
        intent: dict[str, Any] | None = None
        entities: list[dict[str, Any]] | None = None
        if parse_data:
            intent = _opt_dict(parse_data, INTENT, cls.type_name, "parse_data.intent")
            entities = _opt_entities(parse_data, cls.type_name, "parse_data.entities")
        return cls(
            _opt_str(data, "text", cls.type_name),
            intent,
            entities,
            parse_data,
            _opt_str(data, "input_channel", cls.type_name),
            _opt_str(data, "message_id", cls.type_name),
            meta,
            timestamp,
        )

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Becomes the tracker's latest message and clears the followup action."""
        tracker.latest_message = self
        tracker.clear_followup_action()

    def _key(self) -> tuple[Any, ...]:
        return (self.text, self.intent_name, self.entities)


class BotUttered(Event):
    """The bot sent a message.

    ``data`` holds the rich parts as Rasa stores them: ``elements,
    quick_replies, buttons, attachment, image, custom``.
    """

    type_name: ClassVar[str] = "bot"
    __slots__ = ("data", "text")

    def __init__(
        self,
        text: str | None = None,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Creates a bot message event."""
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.text = text
        self.data: dict[str, Any] = data or {}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> BotUttered:
        """Builds the event from a bot message dict (NLG response / dispatcher output).

        Known keys go to ``data``; every other key becomes metadata, as in Rasa.
        """
        rest = dict(message)
        text = rest.pop("text", None)
        image = rest.pop("image", None)
        data = {
            "elements": rest.pop("elements", None),
            "quick_replies": rest.pop("quick_replies", None),
            "buttons": rest.pop("buttons", None),
            # Rasa stores the image as attachment too when there is none.
            "attachment": rest.pop("attachment", None) or image,
            "image": image,
            "custom": rest.pop("custom", None),
        }
        return cls(text, data, rest)

    @classmethod
    def empty(cls) -> BotUttered:
        """An empty bot message."""
        return cls()

    def message(self) -> dict[str, Any]:
        """The message as sent to output channels (data, text, timestamp, metadata)."""
        out = dict(self.data)
        out["text"] = self.text
        out["timestamp"] = self.timestamp
        out.update(self.metadata)
        if out.get("image") == out.get("attachment"):
            out["attachment"] = None
        return out

    def as_dict(self) -> EventDict:
        """Rasa JSON: ``text, data, metadata``."""
        d = super().as_dict()
        d["text"] = self.text
        d["data"] = self.data
        d["metadata"] = self.metadata
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        return cls(
            _opt_str(data, "text", cls.type_name),
            _opt_dict(data, "data", cls.type_name),
            meta,
            timestamp,
        )

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Becomes the tracker's latest bot utterance."""
        tracker.latest_bot_utterance = self

    def _key(self) -> tuple[Any, ...]:
        return (self.text, _without_nones(self.data), _without_nones(self.metadata))


class ActionExecuted(Event):
    """An action ran (``action_name``), or an end-to-end bot text was predicted."""

    type_name: ClassVar[str] = "action"
    __slots__ = ("action_name", "action_text", "confidence", "hide_rule_turn", "policy")

    def __init__(
        self,
        action_name: str | None = None,
        policy: str | None = None,
        confidence: float | None = None,
        action_text: str | None = None,
        hide_rule_turn: bool = False,
        *,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the event.

        Raises:
            InvalidEventError: if both ``action_name`` and ``action_text`` are missing.
        """
        if action_name is None and action_text is None:
            raise InvalidEventError(
                "Invalid 'action' event: field 'name' is required when 'action_text' is not set."
            )
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.action_name = action_name
        self.policy = policy
        self.confidence = None if confidence is None else float(confidence)
        self.action_text = action_text
        self.hide_rule_turn = hide_rule_turn

    def as_sub_state(self) -> dict[str, str]:
        """``{"action_name": ...}`` or, for end-to-end predictions, ``{"action_text": ...}``."""
        if self.action_name:
            return {ACTION_NAME: self.action_name}
        return {ACTION_TEXT: self.action_text or ""}

    def as_dict(self) -> EventDict:
        """Rasa JSON: ``name, policy, confidence, action_text, hide_rule_turn``."""
        d = super().as_dict()
        d["name"] = self.action_name
        d["policy"] = self.policy
        d["confidence"] = self.confidence
        d["action_text"] = self.action_text
        d["hide_rule_turn"] = self.hide_rule_turn
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        name = _opt_str(data, "name", cls.type_name)
        action_text = _opt_str(data, "action_text", cls.type_name)
        if name is None and action_text is None:
            raise InvalidEventError(
                "Invalid 'action' event: field 'name' is required when 'action_text' is not set."
            )
        return cls(
            name,
            _opt_str(data, "policy", cls.type_name),
            _opt_number(data, "confidence", cls.type_name),
            action_text,
            _bool(data, "hide_rule_turn", cls.type_name, False),
            timestamp=timestamp,
            metadata=meta,
        )

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Becomes the latest action; clears the followup action."""
        tracker.set_latest_action(self.as_sub_state())
        tracker.clear_followup_action()

    def _key(self) -> tuple[Any, ...]:
        return (self.action_name, self.action_text, _without_nones(self.metadata))


class SlotSet(Event):
    """A slot was set to ``value`` (JSON field ``name`` is the slot name, ``key`` here)."""

    type_name: ClassVar[str] = "slot"
    __slots__ = ("key", "value")

    def __init__(
        self,
        key: str,
        value: Any = None,
        *,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the event for slot ``key``."""
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.key = key
        self.value = value

    @property
    def name(self) -> str:
        """The slot name (alias of ``key``, as in the JSON)."""
        return self.key

    def as_dict(self) -> EventDict:
        """Rasa JSON: ``name, value``."""
        d = super().as_dict()
        d["name"] = self.key
        d["value"] = self.value
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        return cls(
            _str(data, "name", cls.type_name), data.get("value"), timestamp=timestamp, metadata=meta
        )

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Sets the slot (unknown slots are logged and ignored by the tracker)."""
        tracker.set_slot_value(self.key, self.value)

    def _key(self) -> tuple[Any, ...]:
        return (self.key, self.value)


class AllSlotsReset(Event):
    """All slots go back to their initial values."""

    type_name: ClassVar[str] = "reset_slots"
    __slots__ = ()

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Resets every slot."""
        tracker.reset_slots()


class Restarted(Event):
    """The conversation starts over; history stays but no longer counts."""

    type_name: ClassVar[str] = "restart"
    __slots__ = ()

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Resets the tracker and schedules ``action_session_start`` (as Rasa does)."""
        tracker.reset_state()
        tracker.trigger_followup_action(ACTION_SESSION_START_NAME)


class UserUtteranceReverted(Event):
    """Undoes everything back to and including the latest user message."""

    type_name: ClassVar[str] = "rewind"
    __slots__ = ()

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Rebuilds the state from the applied events."""
        tracker.reset_state()
        tracker.replay_events()


class ActionReverted(Event):
    """Undoes the latest action and the events after it."""

    type_name: ClassVar[str] = "undo"
    __slots__ = ()

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Rebuilds the state from the applied events."""
        tracker.reset_state()
        tracker.replay_events()


class ConversationPaused(Event):
    """The bot stops acting (a human takes over)."""

    type_name: ClassVar[str] = "pause"
    __slots__ = ()

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Pauses the tracker."""
        tracker.set_paused(True)


class ConversationResumed(Event):
    """The bot takes over again after a pause."""

    type_name: ClassVar[str] = "resume"
    __slots__ = ()

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Resumes the tracker."""
        tracker.set_paused(False)


class SessionStarted(Event):
    """A new conversation session begins."""

    type_name: ClassVar[str] = "session_started"
    __slots__ = ()

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Resets the tracker state."""
        tracker.reset_state()


class FollowupAction(Event):
    """Forces the next action (JSON field ``name``)."""

    type_name: ClassVar[str] = "followup"
    __slots__ = ("action_name",)

    def __init__(
        self,
        name: str,
        *,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the event for action ``name``."""
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.action_name = name

    @property
    def name(self) -> str:
        """The action to run next (alias of ``action_name``)."""
        return self.action_name

    def as_dict(self) -> EventDict:
        """Rasa JSON: ``name``."""
        d = super().as_dict()
        d["name"] = self.action_name
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        return cls(_str(data, "name", cls.type_name), timestamp=timestamp, metadata=meta)

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Schedules the action."""
        tracker.trigger_followup_action(self.action_name)

    def _key(self) -> tuple[Any, ...]:
        return (self.action_name,)


class ReminderScheduled(Event):
    """Schedules an intent to be triggered at ``trigger_date_time``."""

    type_name: ClassVar[str] = "reminder"
    __slots__ = ("entities", "intent", "kill_on_user_message", "name", "trigger_date_time")

    def __init__(
        self,
        intent: str,
        trigger_date_time: datetime,
        entities: list[dict[str, Any]] | dict[str, Any] | None = None,
        name: str | None = None,
        kill_on_user_message: bool = True,
        *,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the reminder; ``name`` defaults to a random id."""
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.intent = intent
        self.trigger_date_time = trigger_date_time
        self.entities = entities
        self.name = name if name is not None else str(uuid.uuid4())
        self.kill_on_user_message = kill_on_user_message

    def as_dict(self) -> EventDict:
        """Rasa JSON: ``intent, date_time (ISO), entities, name, kill_on_user_msg``."""
        d = super().as_dict()
        d["intent"] = self.intent
        d["date_time"] = self.trigger_date_time.isoformat()
        d["entities"] = self.entities
        d["name"] = self.name
        d["kill_on_user_msg"] = self.kill_on_user_message
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        return cls(
            _str(data, "intent", cls.type_name),
            _date_time(data, "date_time", cls.type_name),
            _opt_reminder_entities(data, cls.type_name),
            _opt_str(data, "name", cls.type_name),
            _bool(data, "kill_on_user_msg", cls.type_name, True),
            timestamp=timestamp,
            metadata=meta,
        )

    def _key(self) -> tuple[Any, ...]:
        return (self.name,)


class ReminderCancelled(Event):
    """Cancels reminders by name, intent and/or entities (all of them if none given)."""

    type_name: ClassVar[str] = "cancel_reminder"
    __slots__ = ("entities", "intent", "name")

    def __init__(
        self,
        name: str | None = None,
        intent: str | None = None,
        entities: list[dict[str, Any]] | dict[str, Any] | None = None,
        *,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the event."""
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.name = name
        self.intent = intent
        self.entities = entities

    def as_dict(self) -> EventDict:
        """Rasa JSON plus ``name, intent, entities`` (Rasa drops them; its reader accepts them)."""
        d = super().as_dict()
        d["name"] = self.name
        d["intent"] = self.intent
        d["entities"] = self.entities
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        return cls(
            _opt_str(data, "name", cls.type_name),
            _opt_str(data, "intent", cls.type_name),
            _opt_reminder_entities(data, cls.type_name),
            timestamp=timestamp,
            metadata=meta,
        )

    def _key(self) -> tuple[Any, ...]:
        return (self.name, self.intent, self.entities)


class ActiveLoop(Event):
    """Activates the loop (form) ``name``, or deactivates the active loop when ``None``."""

    type_name: ClassVar[str] = "active_loop"
    __slots__ = ("name",)

    def __init__(
        self,
        name: str | None,
        *,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the event."""
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.name = name

    def as_dict(self) -> EventDict:
        """Rasa JSON: ``name``."""
        d = super().as_dict()
        d["name"] = self.name
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        return cls(_opt_str(data, "name", cls.type_name), timestamp=timestamp, metadata=meta)

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Changes the tracker's active loop."""
        tracker.change_loop_to(self.name)

    def _key(self) -> tuple[Any, ...]:
        return (self.name,)


class LoopInterrupted(Event):
    """Marks the active loop interrupted: the user input is not meant for it."""

    type_name: ClassVar[str] = "loop_interrupted"
    __slots__ = ("is_interrupted",)

    def __init__(
        self,
        is_interrupted: bool,
        *,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the event."""
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.is_interrupted = is_interrupted

    def as_dict(self) -> EventDict:
        """Rasa JSON: ``is_interrupted``."""
        d = super().as_dict()
        d["is_interrupted"] = self.is_interrupted
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        return cls(
            _bool(data, "is_interrupted", cls.type_name, False), timestamp=timestamp, metadata=meta
        )

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Sets the active loop's ``is_interrupted`` flag."""
        tracker.interrupt_loop(self.is_interrupted)

    def _key(self) -> tuple[Any, ...]:
        return (self.is_interrupted,)


class ActionExecutionRejected(Event):
    """The action (usually the active loop) refused to run."""

    type_name: ClassVar[str] = "action_execution_rejected"
    __slots__ = ("action_name", "confidence", "policy")

    def __init__(
        self,
        action_name: str,
        policy: str | None = None,
        confidence: float | None = None,
        *,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the event."""
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.action_name = action_name
        self.policy = policy
        self.confidence = None if confidence is None else float(confidence)

    @property
    def name(self) -> str:
        """The rejected action (alias of ``action_name``, as in the JSON)."""
        return self.action_name

    def as_dict(self) -> EventDict:
        """Rasa JSON: ``name, policy, confidence``."""
        d = super().as_dict()
        d["name"] = self.action_name
        d["policy"] = self.policy
        d["confidence"] = self.confidence
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        return cls(
            _str(data, "name", cls.type_name),
            _opt_str(data, "policy", cls.type_name),
            _opt_number(data, "confidence", cls.type_name),
            timestamp=timestamp,
            metadata=meta,
        )

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Marks the active loop rejected if it is this action."""
        tracker.reject_action(self.action_name)

    def _key(self) -> tuple[Any, ...]:
        return (self.action_name,)


class EntitiesAdded(Event):
    """Entities (e.g. predicted by an end-to-end policy) added to the latest message."""

    type_name: ClassVar[str] = "entities"
    __slots__ = ("entities",)

    def __init__(
        self,
        entities: list[dict[str, Any]],
        *,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the event."""
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.entities = entities

    def as_dict(self) -> EventDict:
        """Rasa JSON: ``entities``."""
        d = super().as_dict()
        d["entities"] = self.entities
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        entities = _opt_entities(data, cls.type_name, "entities")
        return cls(entities or [], timestamp=timestamp, metadata=meta)

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Appends new entities to the latest message (only right after it)."""
        message = tracker.latest_message
        if tracker.latest_action_name != ACTION_LISTEN_NAME or message is None:
            return
        for entity in self.entities:
            if entity not in message.entities:
                message.entities.append(entity)

    def _key(self) -> tuple[Any, ...]:
        return (self.entities,)


class DefinePrevUserUtteredFeaturization(Event):
    """Records whether the latest user message was featurized by text or by intent."""

    type_name: ClassVar[str] = "user_featurization"
    __slots__ = ("use_text_for_featurization",)

    def __init__(
        self,
        use_text_for_featurization: bool,
        *,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the event."""
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.use_text_for_featurization = use_text_for_featurization

    def as_dict(self) -> EventDict:
        """Rasa JSON: ``use_text_for_featurization``."""
        d = super().as_dict()
        d["use_text_for_featurization"] = self.use_text_for_featurization
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        flag = data.get("use_text_for_featurization")
        if not isinstance(flag, bool):
            raise _field_error(cls.type_name, "use_text_for_featurization", "a boolean", flag)
        return cls(flag, timestamp=timestamp, metadata=meta)

    def apply_to(self, tracker: DialogueStateTracker) -> None:
        """Updates the latest user message (only right after it)."""
        message = tracker.latest_message
        if tracker.latest_action_name != ACTION_LISTEN_NAME or message is None:
            return
        message.use_text_for_featurization = self.use_text_for_featurization

    def _key(self) -> tuple[Any, ...]:
        return (self.use_text_for_featurization,)


class AgentUttered(Event):
    """A message from another agent (no effect on the state)."""

    type_name: ClassVar[str] = "agent"
    __slots__ = ("data", "text")

    def __init__(
        self,
        text: str | None = None,
        data: Any = None,
        *,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the event."""
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.text = text
        self.data = data

    def as_dict(self) -> EventDict:
        """Rasa JSON: ``text, data``."""
        d = super().as_dict()
        d["text"] = self.text
        d["data"] = self.data
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        return cls(
            _opt_str(data, "text", cls.type_name),
            data.get("data"),
            timestamp=timestamp,
            metadata=meta,
        )

    def _key(self) -> tuple[Any, ...]:
        return (self.text, self.data)


class StoryExported(Event):
    """Legacy request to export the story (accepted, no effect: trackers do no I/O)."""

    type_name: ClassVar[str] = "export"
    __slots__ = ("path",)

    def __init__(
        self,
        path: str | None = None,
        *,
        timestamp: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the event."""
        super().__init__(timestamp=timestamp, metadata=metadata)
        self.path = path

    def as_dict(self) -> EventDict:
        """Rasa JSON (Rasa writes only the base fields; ``path`` is kept when set)."""
        d = super().as_dict()
        if self.path is not None:
            d["path"] = self.path
        return d

    @classmethod
    def _from_fields(cls, data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Self:
        return cls(_opt_str(data, "path", cls.type_name), timestamp=timestamp, metadata=meta)

    def _key(self) -> tuple[Any, ...]:
        return (self.path,)


# --- parsing ---------------------------------------------------------------------------

EVENT_TYPES: dict[str, type[Event]] = {
    cls.type_name: cls
    for cls in (
        UserUttered,
        BotUttered,
        ActionExecuted,
        SlotSet,
        AllSlotsReset,
        Restarted,
        UserUtteranceReverted,
        ActionReverted,
        ConversationPaused,
        ConversationResumed,
        FollowupAction,
        ReminderScheduled,
        ReminderCancelled,
        ActiveLoop,
        LoopInterrupted,
        ActionExecutionRejected,
        SessionStarted,
        EntitiesAdded,
        DefinePrevUserUtteredFeaturization,
        AgentUttered,
        StoryExported,
    )
}


def _legacy_form(data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]) -> Event:
    return ActiveLoop(_opt_str(data, "name", "form"), timestamp=timestamp, metadata=meta)


def _legacy_form_validation(
    data: Mapping[str, Any], timestamp: float, meta: dict[str, Any]
) -> Event:
    # `validate: true` meant what `is_interrupted: false` means now.
    validate = _bool(data, "validate", "form_validation", True)
    return LoopInterrupted(not validate, timestamp=timestamp, metadata=meta)


_Parser = Callable[[Mapping[str, Any], float, dict[str, Any]], Event]
_PARSERS: dict[str, _Parser] = {name: cls._from_fields for name, cls in EVENT_TYPES.items()}
_PARSERS["form"] = _legacy_form
_PARSERS["form_validation"] = _legacy_form_validation


def event_from_dict(data: Mapping[str, Any]) -> Event:
    """Parses one event from Rasa JSON.

    Args:
        data: the event object; ``timestamp`` may be missing or null (now).

    Returns:
        The event; legacy ``form``/``form_validation`` give ``ActiveLoop``/``LoopInterrupted``.

    Raises:
        InvalidEventError: if ``event`` is missing or unknown or a field has the wrong type.
    """
    if not isinstance(data, Mapping):
        raise InvalidEventError(f"An event must be a JSON object, got {type(data).__name__}.")
    type_name = data.get("event")
    if type_name is None:
        raise InvalidEventError("Invalid event: field 'event' is missing.")
    parser = _PARSERS.get(type_name) if isinstance(type_name, str) else None
    if parser is None:
        raise InvalidEventError(
            f"Invalid event: unknown event type {type_name!r} in field 'event'; "
            f"known types: {', '.join(sorted(_PARSERS))}."
        )
    timestamp = data.get("timestamp")
    if timestamp is None:
        timestamp = time.time()
    elif type(timestamp) is not float and (type(timestamp) is not int):
        raise _field_error(type_name, "timestamp", "a number", timestamp)
    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise _field_error(type_name, "metadata", "an object", metadata)
    return parser(data, timestamp, metadata)


def events_from_dicts(dicts: Iterable[Mapping[str, Any]]) -> list[Event]:
    """Parses a list of events.

    Raises:
        InvalidEventError: naming the index of the first invalid event.
    """
    events: list[Event] = []
    for index, data in enumerate(dicts):
        try:
            events.append(event_from_dict(data))
        except InvalidEventError as exc:
            raise InvalidEventError(f"events[{index}]: {exc}") from exc
    return events


def do_events_begin_with_session_start(events: list[Event]) -> bool:
    """Whether ``events`` start with ``action_session_start`` then ``session_started``."""
    return (
        len(events) >= 2
        and isinstance(events[0], ActionExecuted)
        and events[0].action_name == ACTION_SESSION_START_NAME
        and isinstance(events[1], SessionStarted)
    )


def _field_error(type_name: str, field: str, expected: str, value: Any) -> InvalidEventError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return InvalidEventError(
        f"Invalid '{type_name}' event: field '{field}' must be {expected}, "
        f"got {type(value).__name__} {shown}."
    )


def _str(data: Mapping[str, Any], key: str, type_name: str) -> str:
    value = data.get(key)
    if isinstance(value, str):
        return value
    if value is None:
        raise InvalidEventError(f"Invalid '{type_name}' event: field '{key}' is missing.")
    raise _field_error(type_name, key, "a string", value)


def _opt_str(data: Mapping[str, Any], key: str, type_name: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _field_error(type_name, key, "a string or null", value)


def _opt_dict(
    data: Mapping[str, Any], key: str, type_name: str, label: str | None = None
) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise _field_error(type_name, label or key, "an object or null", value)


def _opt_number(data: Mapping[str, Any], key: str, type_name: str) -> float | None:
    value = data.get(key)
    if value is None or type(value) is float or type(value) is int:
        return value
    raise _field_error(type_name, key, "a number or null", value)


def _bool(data: Mapping[str, Any], key: str, type_name: str, default: bool) -> bool:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise _field_error(type_name, key, "a boolean", value)


def _opt_entities(
    data: Mapping[str, Any], type_name: str, label: str
) -> list[dict[str, Any]] | None:
    value = data.get(ENTITIES)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _field_error(type_name, label, "a list of objects", value)
    for entity in value:
        if not isinstance(entity, dict):
            raise _field_error(type_name, label, "a list of objects", entity)
    return value


def _opt_reminder_entities(
    data: Mapping[str, Any], type_name: str
) -> list[dict[str, Any]] | dict[str, Any] | None:
    value = data.get(ENTITIES)
    if value is None or isinstance(value, list | dict):
        return value
    raise _field_error(type_name, ENTITIES, "a list, an object or null", value)


def _date_time(data: Mapping[str, Any], key: str, type_name: str) -> datetime:
    raw = _str(data, key, type_name)
    try:
        return datetime.fromisoformat(raw)
    except ValueError as exc:
        raise _field_error(type_name, key, "an ISO 8601 date-time", raw) from exc
