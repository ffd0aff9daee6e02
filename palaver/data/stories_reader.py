"""Reading ``stories:`` and ``rules:`` sections into :class:`StoryBlock` lists.

The accepted shapes are those of Rasa's ``stories.yml`` schema; anything
else (an unknown step key, a step mixing an intent and an action, a string
step) is an error pointing at its line, where Rasa's schema check fails too.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from palaver.data.entities import EntityAnnotationError, parse_annotated_text
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
from palaver.data.yaml_io import error_at, filename_of, kind, line_of, to_plain
from palaver.errors import ProjectDataError
from palaver.nlu.training_data import RESPONSE_IDENTIFIER_DELIMITER

logger = logging.getLogger(__name__)

KEY_STORIES = "stories"
KEY_RULES = "rules"
KEY_STEPS = "steps"
KEY_METADATA = "metadata"
KEY_INTENT = "intent"
KEY_USER = "user"
KEY_ENTITIES = "entities"
KEY_ACTION = "action"
KEY_BOT = "bot"
KEY_SLOT_WAS_SET = "slot_was_set"
KEY_ACTIVE_LOOP = "active_loop"
KEY_CHECKPOINT = "checkpoint"
KEY_OR = "or"
KEY_CONDITION = "condition"
KEY_WAIT_FOR_USER_INPUT = "wait_for_user_input"
KEY_CONVERSATION_START = "conversation_start"

_STORY_KEYS = frozenset({"story", KEY_STEPS, KEY_METADATA})
_RULE_KEYS = frozenset(
    {
        "rule",
        KEY_STEPS,
        KEY_METADATA,
        KEY_CONDITION,
        KEY_WAIT_FOR_USER_INPUT,
        KEY_CONVERSATION_START,
    }
)
# Step kind (its main key) -> keys allowed with it.
_STEP_KEYS: dict[str, frozenset[str]] = {
    KEY_USER: frozenset({KEY_USER, KEY_INTENT, KEY_ENTITIES, KEY_METADATA}),
    KEY_INTENT: frozenset({KEY_USER, KEY_INTENT, KEY_ENTITIES, KEY_METADATA}),
    KEY_OR: frozenset({KEY_OR, KEY_METADATA}),
    KEY_ACTION: frozenset({KEY_ACTION, KEY_METADATA}),
    KEY_BOT: frozenset({KEY_BOT, KEY_METADATA}),
    KEY_CHECKPOINT: frozenset({KEY_CHECKPOINT, KEY_SLOT_WAS_SET, KEY_METADATA}),
    KEY_SLOT_WAS_SET: frozenset({KEY_SLOT_WAS_SET, KEY_METADATA}),
    KEY_ACTIVE_LOOP: frozenset({KEY_ACTIVE_LOOP, KEY_METADATA}),
}
_RULE_STEP_KINDS = frozenset(
    {KEY_USER, KEY_INTENT, KEY_OR, KEY_ACTION, KEY_BOT, KEY_SLOT_WAS_SET, KEY_ACTIVE_LOOP}
)
_CONDITION_KINDS = frozenset({KEY_SLOT_WAS_SET, KEY_ACTIVE_LOOP})
# Rasa's pattern for ``/intent@confidence{"entity": "value"}`` user texts.
_INTENT_MESSAGE = re.compile(r"^/(?P<intent>[^{@]+)(?P<confidence>@[0-9.]+)?(?P<entities>{.+})?")

# Rasa's value for a slot listed by name only, by slot type (others: None).
_SLOT_NAME_ONLY_VALUES: dict[str, Any] = {"text": "filled", "list": ["filled"]}


class StoryReader:
    """Reads story and rule blocks.

    Args:
        slot_types: slot name -> slot type name (``text``, ``bool``...), used
            for slots listed by name only in ``slot_was_set``.
    """

    def __init__(self, slot_types: Mapping[str, str] | None = None) -> None:
        self._slot_types = dict(slot_types or {})

    def read(self, blocks: Any, *, is_rule: bool, container: Any = None) -> list[StoryBlock]:
        """Reads the list under ``stories:`` (``is_rule=False``) or ``rules:``.

        Raises:
            ProjectDataError: for a malformed block or step, pointing at its line.
        """
        key = KEY_RULES if is_rule else KEY_STORIES
        if blocks is None:
            return []
        if not isinstance(blocks, list):
            raise error_at(container, f"'{key}' must be a list, got {kind(blocks)}", key)
        result: list[StoryBlock] = []
        for index, block in enumerate(blocks):
            if not isinstance(block, Mapping):
                raise error_at(blocks, f"each entry of '{key}' must be a mapping", index=index)
            parsed = self._read_block(block, is_rule)
            if parsed is not None:
                result.append(parsed)
        return result

    # --- blocks -------------------------------------------------------------------------

    def _read_block(self, block: Mapping[str, Any], is_rule: bool) -> StoryBlock | None:
        title = "rule" if is_rule else "story"
        allowed = _RULE_KEYS if is_rule else _STORY_KEYS
        for key in block:
            if key not in allowed:
                raise error_at(
                    block,
                    f"{title} has unknown key '{key}' (allowed: {', '.join(sorted(allowed))})",
                    key,
                )
        if title not in block:
            raise error_at(block, f"entry has no '{title}' name")
        name = block[title]
        if not isinstance(name, str):
            raise error_at(block, f"'{title}' name must be a string, got {kind(name)}", title)
        steps = block.get(KEY_STEPS)
        if not steps:
            logger.warning(
                "%s:%s: %s '%s' has no steps; it is skipped",
                filename_of(block),
                line_of(block),
                title,
                name,
            )
            return None
        if not isinstance(steps, list):
            raise error_at(block, f"'steps' must be a list, got {kind(steps)}", KEY_STEPS)
        kinds = _RULE_STEP_KINDS if is_rule else frozenset(_STEP_KEYS)
        return StoryBlock(
            name=name,
            steps=self._read_steps(steps, kinds, title),
            is_rule=is_rule,
            conditions=self._read_conditions(block) if is_rule else [],
            wait_for_user_input=_flag(block, KEY_WAIT_FOR_USER_INPUT, default=True),
            conversation_start=_flag(block, KEY_CONVERSATION_START, default=False),
            metadata=to_plain(block.get(KEY_METADATA)),
            filename=filename_of(block),
            line=line_of(block),
        )

    def _read_conditions(self, block: Mapping[str, Any]) -> list[StoryStep]:
        conditions = block.get(KEY_CONDITION)
        if conditions is None:
            return []
        if not isinstance(conditions, list):
            raise error_at(
                block, f"'condition' must be a list, got {kind(conditions)}", KEY_CONDITION
            )
        return self._read_steps(conditions, _CONDITION_KINDS, "rule condition")

    def _read_steps(self, steps: list[Any], kinds: frozenset[str], where: str) -> list[StoryStep]:
        result: list[StoryStep] = []
        for index, step in enumerate(steps):
            if not isinstance(step, Mapping):
                raise error_at(
                    steps,
                    f"{where} step must be a mapping like '- action: name', got {kind(step)}",
                    index=index,
                )
            result.extend(self._read_step(step, kinds, where))
        return result

    # --- steps ---------------------------------------------------------------------------

    def _read_step(
        self, step: Mapping[str, Any], kinds: frozenset[str], where: str
    ) -> list[StoryStep]:
        step_kind = _step_kind(step, where)
        if step_kind is None:
            return []  # metadata only
        if step_kind not in kinds:
            raise error_at(step, f"'{step_kind}' is not allowed in a {where}", step_kind)
        for key in step:
            if key not in _STEP_KEYS[step_kind]:
                raise error_at(step, f"{where} step '{step_kind}' cannot have the key '{key}'", key)
        return self._STEP_READERS[step_kind](self, step)

    def _user(self, step: Mapping[str, Any]) -> list[StoryStep]:
        return [self._user_step(step)]

    def _user_step(self, step: Mapping[str, Any]) -> UserStep:
        intent, full_intent = _intent(step)
        line = line_of(step)
        if KEY_USER not in step:
            entities = _raw_entities(step)
            return UserStep(intent, entities, None, full_intent, line=line)
        text = step[KEY_USER]
        if not isinstance(text, str) or not text.strip():
            raise error_at(step, "'user' must be a non-empty text", KEY_USER)
        try:
            plain, spans = parse_annotated_text(text.strip())
        except EntityAnnotationError as exc:
            raise ProjectDataError(
                str(exc), filename_of(step), line_of(step, KEY_USER, value=True)
            ) from exc
        entities = [span.as_dict() for span in spans]
        if plain.startswith("/"):
            entities = _entities_of_intent_message(plain)
        return UserStep(intent, entities, plain, full_intent, line=line)

    def _or(self, step: Mapping[str, Any]) -> list[StoryStep]:
        alternatives_raw = step[KEY_OR]
        if not isinstance(alternatives_raw, list) or not alternatives_raw:
            raise error_at(step, "'or' must be a non-empty list of intents or slots", KEY_OR)
        alternatives: list[UserStep | SlotStep] = []
        for index, alternative in enumerate(alternatives_raw):
            if isinstance(alternative, Mapping) and KEY_INTENT in alternative:
                for key in alternative:
                    if key not in (KEY_INTENT, KEY_ENTITIES):
                        raise error_at(alternative, f"'or' intent cannot have the key '{key}'", key)
                alternatives.append(self._user_step(alternative))
            elif isinstance(alternative, Mapping) and set(alternative) == {KEY_SLOT_WAS_SET}:
                alternatives.extend(self._slots(alternative))
            else:
                raise error_at(
                    alternatives_raw,
                    "each 'or' alternative must be '- intent: name' or '- slot_was_set: [...]'",
                    index=index,
                )
        return [OrStep(alternatives, line=line_of(step))]

    def _action(self, step: Mapping[str, Any]) -> list[StoryStep]:
        name = step[KEY_ACTION]
        if not isinstance(name, str) or not name.strip():
            raise error_at(step, "'action' must be a non-empty name", KEY_ACTION)
        return [ActionStep(name=name.strip(), line=line_of(step))]

    def _bot(self, step: Mapping[str, Any]) -> list[StoryStep]:
        text = step[KEY_BOT]
        if not isinstance(text, str) or not text.strip():
            raise error_at(step, "'bot' must be a non-empty text", KEY_BOT)
        return [ActionStep(action_text=text.strip(), line=line_of(step))]

    def _slot_was_set(self, step: Mapping[str, Any]) -> list[StoryStep]:
        return list(self._slots(step))

    def _slots(self, step: Mapping[str, Any]) -> list[SlotStep]:
        slots = step[KEY_SLOT_WAS_SET]
        if not isinstance(slots, list):
            raise error_at(
                step,
                f"'slot_was_set' must be a list ('- slot: value' or '- slot'), got {kind(slots)}",
                KEY_SLOT_WAS_SET,
            )
        result: list[SlotStep] = []
        for index, slot in enumerate(slots):
            line = line_of(slots, index=index)
            if isinstance(slot, str):
                default = _SLOT_NAME_ONLY_VALUES.get(self._slot_types.get(slot, ""))
                result.append(SlotStep(slot, copy.copy(default), line=line))
            elif isinstance(slot, Mapping) and slot:
                result.extend(SlotStep(str(k), to_plain(v), line=line) for k, v in slot.items())
            else:
                raise error_at(
                    slots,
                    "each 'slot_was_set' entry must be '- slot: value' or '- slot'",
                    index=index,
                )
        return result

    def _active_loop(self, step: Mapping[str, Any]) -> list[StoryStep]:
        name = step[KEY_ACTIVE_LOOP]
        if name is not None and (not isinstance(name, str) or not name):
            raise error_at(step, "'active_loop' must be a form name or null", KEY_ACTIVE_LOOP)
        return [ActiveLoopStep(name, line=line_of(step))]

    def _checkpoint(self, step: Mapping[str, Any]) -> list[StoryStep]:
        name = step[KEY_CHECKPOINT]
        if not isinstance(name, str) or not name.strip():
            raise error_at(step, "'checkpoint' must be a non-empty name", KEY_CHECKPOINT)
        conditions: dict[str, Any] = {}
        slots = step.get(KEY_SLOT_WAS_SET) or []
        if not isinstance(slots, list) or not all(isinstance(s, Mapping) for s in slots):
            raise error_at(
                step,
                "checkpoint 'slot_was_set' must be a list of '- slot: value'",
                KEY_SLOT_WAS_SET,
            )
        for slot in slots:
            conditions.update(to_plain(slot))
        return [CheckpointStep(name.strip(), conditions, line=line_of(step))]

    _STEP_READERS: dict[str, Callable[[StoryReader, Mapping[str, Any]], list[StoryStep]]] = {
        KEY_USER: _user,
        KEY_INTENT: _user,
        KEY_OR: _or,
        KEY_ACTION: _action,
        KEY_BOT: _bot,
        KEY_SLOT_WAS_SET: _slot_was_set,
        KEY_ACTIVE_LOOP: _active_loop,
        KEY_CHECKPOINT: _checkpoint,
    }


def _step_kind(step: Mapping[str, Any], where: str) -> str | None:
    # Order matters: a checkpoint may carry slot_was_set, a user step entities.
    for key in (KEY_USER, KEY_INTENT, KEY_OR, KEY_ACTION, KEY_BOT, KEY_CHECKPOINT):
        if key in step:
            return key
    for key in (KEY_SLOT_WAS_SET, KEY_ACTIVE_LOOP):
        if key in step:
            return key
    unknown = [str(k) for k in step if k != KEY_METADATA]
    if not unknown:
        return None
    raise error_at(
        step,
        f"{where} step has unknown key '{unknown[0]}'; a step is one of: "
        "intent/user, action, bot, slot_was_set, active_loop, checkpoint, or",
        unknown[0],
    )


def _intent(step: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The intent name and, for ``faq/ask_x``, the full retrieval intent."""
    if KEY_INTENT not in step:
        return None, None
    raw = step[KEY_INTENT]
    if not isinstance(raw, str) or not raw.strip():
        raise error_at(step, "'intent' must be a non-empty name", KEY_INTENT)
    intent = raw.strip()
    if intent.startswith("/"):
        logger.warning(
            "%s:%s: intent '%s' starts with '/', which is not needed",
            filename_of(step),
            line_of(step, KEY_INTENT),
            intent,
        )
        intent = intent[1:]
    if RESPONSE_IDENTIFIER_DELIMITER in intent:
        return intent.split(RESPONSE_IDENTIFIER_DELIMITER, 1)[0], intent
    return intent, None


def _raw_entities(step: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rasa's reading of ``entities:``: names, or ``{name: value, role:, group:}`` dicts."""
    raw = step.get(KEY_ENTITIES)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise error_at(step, f"'entities' must be a list, got {kind(raw)}", KEY_ENTITIES)
    entities: list[dict[str, Any]] = []
    for index, entity in enumerate(raw):
        if isinstance(entity, str):
            entities.append({"entity": entity, "value": ""})
        elif isinstance(entity, Mapping) and entity:
            entities.append(_entity_from_mapping(entity))
        else:
            raise error_at(raw, "each entity must be a name or '- entity_name: value'", index=index)
    return entities


def _entity_from_mapping(entity: Mapping[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, value in entity.items():
        if key in ("role", "group"):
            parsed[key] = value
        else:
            parsed["entity"], parsed["value"] = key, to_plain(value)
    ordered = {k: parsed.get(k) for k in ("entity", "value", "role", "group")}
    return {k: v for k, v in ordered.items() if v is not None}


def _entities_of_intent_message(text: str) -> list[dict[str, Any]]:
    """Entities of a ``/intent{"entity": "value"}`` user text, as Rasa reads them."""
    match = _INTENT_MESSAGE.match(text)
    if match is None or not match.group("entities"):
        return []
    try:
        parsed = json.loads(match.group("entities"))
    except json.JSONDecodeError:
        return []
    if not isinstance(parsed, dict):
        return []
    start, end = match.span("entities")
    entities: list[dict[str, Any]] = []
    for name, value in parsed.items():
        values = value if isinstance(value, list) else [value]
        entities.extend({"entity": name, "start": start, "end": end, "value": v} for v in values)
    return entities


def _flag(block: Mapping[str, Any], key: str, *, default: bool) -> bool:
    value = block.get(key, default)
    if not isinstance(value, bool):
        raise error_at(block, f"'{key}' must be true or false, got {kind(value)}", key)
    return value
