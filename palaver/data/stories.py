"""Stories, rules and test stories as read from data files.

A :class:`StoryBlock` is one ``story`` or ``rule`` entry; its ``steps`` are
the variants below, in file order. Steps remember their line for messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class UserStep:
    """A user turn: ``intent`` (and/or end-to-end ``text``) with entities.

    ``entities`` are Rasa entity dicts: ``{"entity", "value"[, "role", "group"]}``
    for ``entities:`` lists, plus ``start``/``end`` for annotated ``user`` texts.
    For a retrieval intent (``faq/ask_name``) ``intent`` is the base name
    (``faq``) and ``full_retrieval_intent`` the full one, as in Rasa.
    """

    intent: str | None
    entities: list[dict[str, Any]] = field(default_factory=list)
    text: str | None = None
    full_retrieval_intent: str | None = None
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ActionStep:
    """A bot action (``action: name``) or an end-to-end bot text (``bot: text``)."""

    name: str | None = None
    action_text: str | None = None
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class SlotStep:
    """``slot_was_set``: one slot and its value.

    A slot given by name only gets Rasa's default: ``"filled"`` for text
    slots, ``["filled"]`` for list slots, ``None`` otherwise.
    """

    name: str
    value: Any = None
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ActiveLoopStep:
    """``active_loop: name`` (``None`` for ``active_loop: null``: the loop ended)."""

    name: str | None
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class CheckpointStep:
    """``checkpoint: name``, optionally with slot conditions."""

    name: str
    slots: dict[str, Any] = field(default_factory=dict)
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class OrStep:
    """``or:``: any one of the alternatives (user turns or slot events)."""

    alternatives: list[UserStep | SlotStep]
    line: int | None = field(default=None, compare=False)


StoryStep = UserStep | ActionStep | SlotStep | ActiveLoopStep | CheckpointStep | OrStep


@dataclass(frozen=True, slots=True)
class StoryBlock:
    """One story or rule.

    Attributes:
        name: the ``story`` / ``rule`` name.
        steps: the steps in order.
        is_rule: read from ``rules:``.
        conditions: a rule's ``condition`` steps (slot and active-loop steps).
        wait_for_user_input: ``False`` when a rule ends with
            ``wait_for_user_input: false`` (Rasa appends the snippet action).
        conversation_start: a rule that only applies at the start of a
            conversation (Rasa does not prepend the snippet action).
        metadata: the block's ``metadata``, if any.
        filename, line: where the block starts.
    """

    name: str
    steps: list[StoryStep]
    is_rule: bool = False
    conditions: list[StoryStep] = field(default_factory=list)
    wait_for_user_input: bool = True
    conversation_start: bool = False
    metadata: dict[str, Any] | None = None
    filename: str | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)
