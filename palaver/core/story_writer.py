"""Conversations as YAML test stories (what Rasa's ``GET /conversations/{id}/story`` returns).

A tracker's *applied* events become one story named after the conversation:
user turns as ``intent`` plus the message text with inline entity
annotations under ``user``, actions as ``action`` (or ``bot`` for end-to-end
texts), ``slot_was_set`` and ``active_loop`` steps. ``action_listen``,
``action_session_start`` and ``action_unlikely_intent`` are left out, as
Rasa's ``YAMLStoryWriter`` leaves them out. The output can be posted to
``POST /model/test/stories`` or saved under ``tests/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from io import StringIO
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from palaver.core.constants import (
    ACTION_LISTEN_NAME,
    ACTION_SESSION_START_NAME,
    ACTION_UNLIKELY_INTENT_NAME,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_GROUP,
    ENTITY_ATTRIBUTE_ROLE,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    RULE_SNIPPET_ACTION_NAME,
)
from palaver.core.events import ActionExecuted, ActiveLoop, Event, SlotSet, UserUttered
from palaver.core.tracker import DialogueStateTracker
from palaver.data.format_version import LATEST_FORMAT_VERSION

# Rasa writes YAML without wrapping long lines.
YAML_LINE_MAX_WIDTH = 4096
_SKIPPED_ACTIONS = frozenset(
    {
        ACTION_LISTEN_NAME,
        ACTION_SESSION_START_NAME,
        ACTION_UNLIKELY_INTENT_NAME,
        RULE_SNIPPET_ACTION_NAME,
    }
)


def split_sessions(tracker: DialogueStateTracker) -> list[DialogueStateTracker]:
    """One tracker per conversation session (a session begins with ``action_session_start``).

    Events before the first session start form a session of their own, as in Rasa.
    """
    chunks: list[list[Event]] = []
    for event in tracker.events:
        starts_session = (
            isinstance(event, ActionExecuted) and event.action_name == ACTION_SESSION_START_NAME
        )
        if starts_session or not chunks:
            chunks.append([])
        chunks[-1].append(event)
    sessions = []
    for chunk in chunks:
        session = tracker.init_copy()
        session.update_with_events(chunk)
        sessions.append(session)
    return sessions


def format_message(text: str, entities: Iterable[Mapping[str, Any]]) -> str:
    """``text`` with Rasa's inline entity annotations (``[Berlin](city)``).

    Entities without character offsets, and entities overlapping an earlier
    one, stay unannotated.
    """
    spans = sorted(
        (e for e in entities if _offset(e, ENTITY_ATTRIBUTE_START) is not None),
        key=lambda e: int(e[ENTITY_ATTRIBUTE_START]),
    )
    out: list[str] = []
    position = 0
    for entity in spans:
        start = int(entity[ENTITY_ATTRIBUTE_START])
        end = _offset(entity, ENTITY_ATTRIBUTE_END)
        if end is None or start < position or end > len(text) or end <= start:
            continue
        out.append(text[position:start])
        out.append(_annotation(text[start:end], entity))
        position = end
    out.append(text[position:])
    return "".join(out)


def _offset(entity: Mapping[str, Any], key: str) -> int | None:
    value = entity.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _annotation(entity_text: str, entity: Mapping[str, Any]) -> str:
    value = entity.get(ENTITY_ATTRIBUTE_VALUE)
    if value == entity_text:
        value = None
    role = entity.get(ENTITY_ATTRIBUTE_ROLE)
    group = entity.get(ENTITY_ATTRIBUTE_GROUP)
    entity_type = entity.get(ENTITY_ATTRIBUTE_TYPE)
    if value is None and role is None and group is None:
        return f"[{entity_text}]({entity_type})"
    details = {
        ENTITY_ATTRIBUTE_TYPE: entity_type,
        ENTITY_ATTRIBUTE_ROLE: role,
        ENTITY_ATTRIBUTE_GROUP: group,
        ENTITY_ATTRIBUTE_VALUE: value,
    }
    return f"[{entity_text}]{json.dumps({k: v for k, v in details.items() if v is not None})}"


def _user_step(event: UserUttered) -> dict[str, Any]:
    step: dict[str, Any] = {}
    use_text = bool(event.use_text_for_featurization)
    if event.intent_name and not use_text:
        step["intent"] = event.full_retrieval_intent_name or event.intent_name
    if event.text:
        step["user"] = LiteralScalarString(format_message(event.text, event.entities))
    return step


def _action_step(event: ActionExecuted) -> dict[str, Any] | None:
    if event.action_name in _SKIPPED_ACTIONS:
        return None
    if event.action_name:
        return {"action": event.action_name}
    if event.action_text:
        return {"bot": event.action_text}
    return None


def story_step(event: Event) -> dict[str, Any] | None:
    """The YAML step for one event, or None for events stories do not show."""
    if isinstance(event, UserUttered):
        return _user_step(event)
    if isinstance(event, ActionExecuted):
        return _action_step(event)
    if isinstance(event, SlotSet):
        return {"slot_was_set": [{event.key: event.value}]}
    if isinstance(event, ActiveLoop):
        return {"active_loop": event.name}
    return None


def story_from_tracker(tracker: DialogueStateTracker, name: str | None = None) -> dict[str, Any]:
    """One ``story`` entry made of the tracker's applied events."""
    steps = [step for e in tracker.applied_events() if (step := story_step(e)) is not None]
    return {"story": name if name is not None else tracker.sender_id, "steps": steps}


def conversation_stories_yaml(
    trackers: Sequence[DialogueStateTracker], conversation_id: str
) -> str:
    """Test stories for ``trackers`` (sessions of one conversation), as Rasa writes them.

    With more than one tracker the stories are named ``<id>, story 1`` ... as in Rasa.
    """
    if len(trackers) > 1:
        names = [f"{conversation_id}, story {i}" for i in range(1, len(trackers) + 1)]
    else:
        names = [conversation_id] * len(trackers)
    stories = [story_from_tracker(t, n) for t, n in zip(trackers, names, strict=True)]
    document: dict[str, Any] = {"version": DoubleQuotedScalarString(LATEST_FORMAT_VERSION)}
    if stories:
        document["stories"] = stories
    return dump_yaml(document)


def _represent_none(representer: RoundTripRepresenter, _: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def dump_yaml(data: Any) -> str:
    """YAML text the way Rasa writes training data (ruamel, no line wrapping, ``null``)."""
    yaml = YAML()
    yaml.width = YAML_LINE_MAX_WIDTH
    yaml.representer.add_representer(type(None), _represent_none)
    stream = StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()
