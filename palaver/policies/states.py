"""Dialogue states: what the policies see of a conversation, turn by turn.

A *state* is Rasa's ``State``: ``{"user": {"intent", "entities"} | {"text"},
"prev_action": {"action_name"} | {"action_text"}, "active_loop": {"name"},
"slots": {name: features}}`` with empty parts left out. Policies compare and
hash states a lot, so internally a state is a :data:`FrozenState`: the same
content as sorted nested tuples. :func:`thaw` gives the dict form back and
:func:`rasa_key` the exact JSON string Rasa uses for rule keys.

:class:`StateFeaturizer` holds what a domain contributes (featurized slots,
``used_entities`` per intent); it is built once per domain.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from palaver.core.constants import (
    ACTION_LISTEN_NAME,
    ACTION_NAME,
    ACTION_TEXT,
    ACTIVE_LOOP,
    ENTITIES,
    ENTITY_ATTRIBUTE_GROUP,
    ENTITY_ATTRIBUTE_ROLE,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_LABEL_SEPARATOR,
    INTENT,
    LOOP_NAME,
    PREVIOUS_ACTION,
    SHOULD_NOT_BE_SET,
    SLOTS,
    TEXT,
    USER,
)
from palaver.core.events import UserUttered
from palaver.core.slots import Slot

# Key of the intent properties holding the entities an intent featurizes.
USED_ENTITIES_KEY = "used_entities"

SubState = tuple[tuple[str, Any], ...]
FrozenState = tuple[tuple[str, SubState], ...]
State = dict[str, dict[str, Any]]
# Featurized slot value: a feature tuple or the SHOULD_NOT_BE_SET marker.
SlotFeature = tuple[float, ...] | str

_MAX_CACHED_SLOT_VALUES = 20_000


class DomainLike(Protocol):
    """The parts of :class:`palaver.core.domain.Domain` the policies use."""

    intents: list[str]
    entities: list[str]
    roles: dict[str, list[str]]
    groups: dict[str, list[str]]
    slots: list[Slot]
    forms: dict[str, dict[str, list[str]]]
    action_names_or_texts: list[str]

    def index_for_action(self, action_name: str) -> int | None: ...

    def intent_config(self, intent_name: str) -> dict[str, Any]: ...

    def fingerprint(self) -> str: ...


def thaw(state: FrozenState) -> State:
    """The dict form of a frozen state (tuples stay tuples, as in Rasa)."""
    return {kind: dict(sub) for kind, sub in state}


def freeze(state: State) -> FrozenState:
    """The frozen form of a dict state (lists become tuples, empty parts vanish)."""
    items: list[tuple[str, SubState]] = []
    for kind in sorted(state):
        sub = state[kind]
        if not sub:
            continue
        items.append((kind, tuple(sorted((k, _hashable(v)) for k, v in sub.items()))))
    return tuple(items)


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    return value


def rasa_key(states: Iterable[FrozenState]) -> str:
    """Rasa's JSON key of a state sequence (``json.dumps(states, sort_keys=True)``)."""
    return json.dumps([thaw(s) for s in states], sort_keys=True)


def sub_state(state: FrozenState, kind: str) -> SubState:
    """One part of a frozen state (``()`` if absent)."""
    for name, sub in state:
        if name == kind:
            return sub
    return ()


def sub_value(state: FrozenState, kind: str, key: str) -> Any:
    """``state[kind][key]`` of a frozen state, or ``None``."""
    for name, value in sub_state(state, kind):
        if name == key:
            return value
    return None


def prev_action_name(state: FrozenState) -> str | None:
    """The previous action (name or text) of a state."""
    name = sub_value(state, PREVIOUS_ACTION, ACTION_NAME)
    if name is None:
        name = sub_value(state, PREVIOUS_ACTION, ACTION_TEXT)
    return name if isinstance(name, str) else None


def is_prev_action_listen(state: FrozenState) -> bool:
    """Whether the state follows ``action_listen`` (i.e. holds a fresh user message)."""
    return bool(sub_value(state, PREVIOUS_ACTION, ACTION_NAME) == ACTION_LISTEN_NAME)


def active_loop_of(state: FrozenState) -> str | None:
    """The active loop of a state (``None`` for none or ``should_not_be_set``)."""
    name = sub_value(state, ACTIVE_LOOP, LOOP_NAME)
    if not name or name == SHOULD_NOT_BE_SET:
        return None
    return str(name)


def replace_sub_state(state: FrozenState, kind: str, sub: SubState | None) -> FrozenState:
    """A copy of ``state`` with one part replaced (``None``/empty removes it)."""
    items = [(k, v) for k, v in state if k != kind]
    if sub:
        items.append((kind, sub))
        items.sort(key=lambda item: item[0])
    return tuple(items)


def action_sub_state(action_name: str | None, action_text: str | None) -> SubState:
    """``prev_action`` part for an action name or an end-to-end bot text."""
    if action_name:
        return ((ACTION_NAME, action_name),)
    return ((ACTION_TEXT, action_text or ""),)


class StateFeaturizer:
    """Turns tracker parts into state parts for one domain.

    Args:
        domain: the domain whose slots and intent properties apply.
    """

    def __init__(self, domain: DomainLike) -> None:
        self.domain_fingerprint = domain.fingerprint()
        templates = [s.copy() for s in domain.slots if s.has_features()]
        templates.sort(key=lambda s: s.name)
        self.slot_names: tuple[str, ...] = tuple(s.name for s in templates)
        self.slot_index: dict[str, int] = {name: i for i, name in enumerate(self.slot_names)}
        self._templates = templates
        self._feature_cache: dict[tuple[int, Any], SlotFeature | None] = {}
        self.initial_slots: tuple[SlotFeature | None, ...] = tuple(
            self._featurize(i, s.initial_value) for i, s in enumerate(templates)
        )
        self._last_slot_items: tuple[Sequence[SlotFeature | None] | None, int | None, SubState] = (
            None,
            None,
            (),
        )
        self._used_entities: dict[str, frozenset[str] | None] = {}
        for intent in domain.intents:
            used = domain.intent_config(intent).get(USED_ENTITIES_KEY)
            self._used_entities[intent] = None if used is None else frozenset(used)

    # --- slots -----------------------------------------------------------------

    def slot_feature(self, index: int, value: Any) -> SlotFeature | None:
        """Featurization of ``value`` for the ``index``-th featurized slot.

        ``None`` when the slot contributes nothing (all features zero), the
        ``should_not_be_set`` marker when a rule requires the slot unset.
        """
        key = (index, _value_key(value))
        try:
            return self._feature_cache[key]
        except KeyError:
            pass
        except TypeError:  # unhashable key part: do not cache
            return self._featurize(index, value)
        feature = self._featurize(index, value)
        if len(self._feature_cache) > _MAX_CACHED_SLOT_VALUES:
            self._feature_cache.clear()
        self._feature_cache[key] = feature
        return feature

    def _featurize(self, index: int, value: Any) -> SlotFeature | None:
        # Featurize on a private copy: slots normalize values (a list slot wraps
        # a single value), and Rasa compares the *stored* value with the marker.
        template = self._templates[index].copy()
        template.value = value
        stored = template.value
        if isinstance(stored, str) and stored == SHOULD_NOT_BE_SET:
            return SHOULD_NOT_BE_SET
        features = tuple(float(f) for f in template.as_feature())
        return features if any(features) else None

    # --- user messages -----------------------------------------------------------

    def user_sub_state(self, message: UserUttered | None) -> SubState | None:
        """The ``user`` part for the latest message: intent + wanted entities, else text."""
        if message is None or message.is_empty():
            return None
        use_text = message.use_text_for_featurization
        intent = message.intent_name
        if intent and not use_text:
            items: list[tuple[str, Any]] = []
            entities = self._featurized_entities(message, intent)
            if entities:
                items.append((ENTITIES, entities))
            items.append((INTENT, intent))
            return tuple(items)
        if message.text:
            return ((TEXT, message.text),)
        return None

    @staticmethod
    def text_sub_state(message: UserUttered | None) -> SubState | None:
        """The ``user`` part when the text (not the intent) is featurized."""
        if message is None or not message.text:
            return None
        return ((TEXT, message.text),)

    def _featurized_entities(self, message: UserUttered, intent: str) -> tuple[str, ...]:
        labels = entity_labels(message.entities)
        if not labels:
            return ()
        wanted = self._used_entities.get(intent)
        if wanted is not None:
            labels &= wanted
        return tuple(sorted(labels))

    # --- whole states --------------------------------------------------------------

    def build_state(
        self,
        user: SubState | None,
        prev_action: SubState | None,
        loop: str | None,
        slots: Sequence[SlotFeature | None],
        slot_mask: int | None = None,
    ) -> FrozenState:
        """A frozen state from its parts.

        Args:
            user: the ``user`` part.
            prev_action: the ``prev_action`` part.
            loop: active loop name (may be ``should_not_be_set``).
            slots: featurization of every featurized slot, in ``slot_names`` order.
            slot_mask: if given, only slots whose bit is set are included
                (Rasa's ``omit_unset_slots``).
        """
        items: list[tuple[str, SubState]] = []
        if loop:
            items.append((ACTIVE_LOOP, ((LOOP_NAME, loop),)))
        if prev_action:
            items.append((PREVIOUS_ACTION, prev_action))
        slot_items = self._slot_items(slots, slot_mask)
        if slot_items:
            items.append((SLOTS, slot_items))
        if user:
            items.append((USER, user))
        return tuple(items)

    def _slot_items(self, slots: Sequence[SlotFeature | None], slot_mask: int | None) -> SubState:
        # Consecutive states usually share the same slots tuple: remember the last one.
        cached_slots, cached_mask, cached_items = self._last_slot_items
        if cached_slots is slots and cached_mask == slot_mask:
            return cached_items
        items = tuple(
            (name, feature)
            for i, (name, feature) in enumerate(zip(self.slot_names, slots, strict=True))
            if feature is not None and (slot_mask is None or slot_mask >> i & 1)
        )
        self._last_slot_items = (slots, slot_mask, items)
        return items


def entity_labels(entities: Iterable[dict[str, Any]]) -> set[str]:
    """Entity labels of a message: ``entity`` plus ``entity#role`` / ``entity#group``."""
    labels: set[str] = set()
    for entity in entities:
        name = entity.get(ENTITY_ATTRIBUTE_TYPE)
        if name is None:
            continue
        labels.add(str(name))
        for attribute in (ENTITY_ATTRIBUTE_ROLE, ENTITY_ATTRIBUTE_GROUP):
            if attribute in entity:
                labels.add(f"{name}{ENTITY_LABEL_SEPARATOR}{entity[attribute]}")
    return labels


def _value_key(value: Any) -> Any:
    """A hashable cache key for a slot value that keeps ``1``/``True``/``1.0`` apart."""
    if isinstance(value, list | dict | tuple | set):
        return ("json", json.dumps(value, sort_keys=True, default=repr))
    return (type(value).__name__, value)
