"""What stories and rules use: intents, entities, actions, slots and loops, with places."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from palaver.data.stories import (
    ActionStep,
    ActiveLoopStep,
    CheckpointStep,
    OrStep,
    SlotStep,
    StoryBlock,
    StoryStep,
    UserStep,
)
from palaver.quality.issues import Location

Places = dict[str, list[Location]]


@dataclass
class Usage:
    """Names used by a set of story/rule blocks, each with every place it is used.

    Attributes:
        intents: base intent names (``faq`` for ``faq/ask_name``).
        retrieval_intents: full retrieval intents (``faq/ask_name``).
        entities, actions, loops: names.
        slots: slot name -> ``(value, place)`` of every ``slot_was_set``.
        checkpoints_start / checkpoints_end: checkpoints a block starts / ends with.
    """

    intents: Places = field(default_factory=dict)
    retrieval_intents: Places = field(default_factory=dict)
    entities: Places = field(default_factory=dict)
    actions: Places = field(default_factory=dict)
    loops: Places = field(default_factory=dict)
    slots: dict[str, list[tuple[Any, Location]]] = field(default_factory=dict)
    checkpoints_start: Places = field(default_factory=dict)
    checkpoints_end: Places = field(default_factory=dict)


def collect_usage(blocks: Iterable[StoryBlock]) -> Usage:
    """Everything ``blocks`` refer to (conditions of rules included)."""
    usage = Usage()
    for block in blocks:
        steps = [*block.conditions, *block.steps]
        for step in steps:
            _add_step(usage, block, step)
        _add_checkpoints(usage, block)
    return usage


def _place(block: StoryBlock, step: Any) -> Location:
    line = getattr(step, "line", None)
    return block.filename, line if line is not None else block.line


def _add(places: Places, name: str, where: Location) -> None:
    places.setdefault(name, []).append(where)


def _add_step(usage: Usage, block: StoryBlock, step: StoryStep) -> None:
    where = _place(block, step)
    if isinstance(step, OrStep):
        for alternative in step.alternatives:
            _add_step(usage, block, alternative)
    elif isinstance(step, UserStep):
        _add_user(usage, step, where)
    elif isinstance(step, ActionStep):
        if step.name:
            _add(usage.actions, step.name, where)
    elif isinstance(step, SlotStep):
        usage.slots.setdefault(step.name, []).append((step.value, where))
    elif isinstance(step, ActiveLoopStep) and step.name:
        _add(usage.loops, step.name, where)


def _add_user(usage: Usage, step: UserStep, where: Location) -> None:
    if step.intent:
        _add(usage.intents, step.intent, where)
    if step.full_retrieval_intent:
        _add(usage.retrieval_intents, step.full_retrieval_intent, where)
    for entity in step.entities:
        name = entity.get("entity")
        if isinstance(name, str):
            _add(usage.entities, name, where)


def _add_checkpoints(usage: Usage, block: StoryBlock) -> None:
    steps = block.steps
    leading = True
    for position, step in enumerate(steps):
        if not isinstance(step, CheckpointStep):
            leading = False
            continue
        where = _place(block, step)
        if leading:
            _add(usage.checkpoints_start, step.name, where)
        # A checkpoint in the middle both ends one segment and starts the next.
        elif position < len(steps) - 1:
            _add(usage.checkpoints_start, step.name, where)
            _add(usage.checkpoints_end, step.name, where)
        else:
            _add(usage.checkpoints_end, step.name, where)
