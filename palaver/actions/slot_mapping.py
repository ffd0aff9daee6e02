"""Slot mappings (domain ``slots.<name>.mappings``) applied to the latest user message.

Rasa 3.6 rules: a mapping applies when its ``intent`` / ``not_intent`` (plus
the active form's ``ignored_intents``) allow the latest intent and its
``conditions`` (``active_loop``, ``requested_slot``) match. The predefined
types extract a value: ``from_entity`` (entity with role and group),
``from_intent`` / ``from_trigger_intent`` (``value``) and ``from_text``;
``custom`` mappings are filled by a custom action.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from palaver.core.constants import (
    ACTIVE_LOOP,
    ENTITY_ATTRIBUTE_GROUP,
    ENTITY_ATTRIBUTE_ROLE,
    ENTITY_ATTRIBUTE_TYPE,
    MAPPING_CONDITIONS,
    MAPPING_CUSTOM,
    MAPPING_FROM_ENTITY,
    MAPPING_FROM_INTENT,
    MAPPING_FROM_TEXT,
    MAPPING_FROM_TRIGGER_INTENT,
    REQUESTED_SLOT,
)

if TYPE_CHECKING:
    from palaver.core.domain import Domain
    from palaver.core.tracker import DialogueStateTracker

logger = logging.getLogger(__name__)

SlotMapping = Mapping[str, Any]
PREDEFINED_MAPPING_TYPES = frozenset(
    {MAPPING_FROM_ENTITY, MAPPING_FROM_INTENT, MAPPING_FROM_TRIGGER_INTENT, MAPPING_FROM_TEXT}
)


def to_list(value: Any) -> list[Any]:
    """``None`` -> ``[]``, a scalar -> ``[scalar]``, a list stays."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def latest_intent(tracker: DialogueStateTracker) -> str | None:
    latest = tracker.latest_message
    return None if latest is None else latest.intent_name


# (slot, problem) pairs already logged: the check runs after every message.
_WARNED: set[tuple[str, str]] = set()


def _warn_once(slot_name: str, problem: str) -> None:
    if (slot_name, problem) not in _WARNED:
        _WARNED.add((slot_name, problem))
        logger.warning(
            "Slot '%s' uses %s. Skipping slot extraction because of invalid mapping.",
            slot_name,
            problem,
        )


def mapping_is_valid(slot_name: str, mapping: SlotMapping, domain: Domain) -> bool:
    """False (with a warning, once) for mappings that name unknown entities or intents."""
    mapping_type = mapping.get("type")
    entity = mapping.get(ENTITY_ATTRIBUTE_TYPE)
    if mapping_type == MAPPING_FROM_ENTITY and entity not in domain.entities:
        _warn_once(slot_name, f"a 'from_entity' mapping for a non-existent entity '{entity}'")
        return False
    if mapping_type == MAPPING_FROM_INTENT:
        unknown = [i for i in to_list(mapping.get("intent")) if i not in domain.intents]
        if unknown:
            _warn_once(slot_name, f"a 'from_intent' mapping for non-existent intent(s) {unknown}")
            return False
    return True


def _ignored_intents_of_active_loop(
    mapping: SlotMapping, domain: Domain, active_loop_name: str
) -> list[Any]:
    conditions = mapping.get(MAPPING_CONDITIONS)
    if conditions and not any(c.get(ACTIVE_LOOP) == active_loop_name for c in conditions):
        return []
    form = domain.forms.get(active_loop_name) or {}
    return to_list(form.get("ignored_intents"))


def intent_is_desired(mapping: SlotMapping, tracker: DialogueStateTracker, domain: Domain) -> bool:
    """Whether the latest intent passes the mapping's ``intent`` / ``not_intent`` filters."""
    intents = to_list(mapping.get("intent"))
    not_intents = to_list(mapping.get("not_intent"))
    active_loop_name = tracker.active_loop_name
    if active_loop_name:
        not_intents = not_intents + _ignored_intents_of_active_loop(
            mapping, domain, active_loop_name
        )
    intent = latest_intent(tracker)
    if intents:
        return intent in intents
    return intent not in not_intents


def entity_is_desired(mapping: SlotMapping, tracker: DialogueStateTracker) -> bool:
    """Whether the latest message has an entity of the mapping's type, role and group."""
    latest = tracker.latest_message
    if latest is None:
        return False
    return any(
        mapping.get(ENTITY_ATTRIBUTE_TYPE) == entity.get(ENTITY_ATTRIBUTE_TYPE)
        and mapping.get(ENTITY_ATTRIBUTE_ROLE) == entity.get(ENTITY_ATTRIBUTE_ROLE)
        and mapping.get(ENTITY_ATTRIBUTE_GROUP) == entity.get(ENTITY_ATTRIBUTE_GROUP)
        for entity in latest.entities
    )


def matches_mapping_conditions(
    mapping: SlotMapping, tracker: DialogueStateTracker, slot_name: str
) -> bool:
    """Whether the mapping's ``conditions`` allow filling ``slot_name`` now.

    ``from_trigger_intent`` mappings check their conditions at extraction
    instead. A requested slot whose form just rejected the input is not filled.
    """
    conditions = mapping.get(MAPPING_CONDITIONS)
    if not conditions or mapping.get("type") == MAPPING_FROM_TRIGGER_INTENT:
        return True
    if tracker.is_active_loop_rejected and tracker.get_slot(REQUESTED_SLOT) == slot_name:
        return False
    active_loop_name = tracker.active_loop_name
    for condition in conditions:
        loop = condition.get(ACTIVE_LOOP)
        if loop and loop == active_loop_name:
            wanted_slot = condition.get(REQUESTED_SLOT)
            if not wanted_slot or wanted_slot == tracker.get_slot(REQUESTED_SLOT):
                return True
        if loop is None and active_loop_name is None:
            return True
    return False


def _trigger_condition_met(mapping: SlotMapping, tracker: DialogueStateTracker) -> bool:
    active_loop_name = tracker.active_loop_name
    if active_loop_name is None:
        return False
    loops = [c.get(ACTIVE_LOOP) for c in mapping.get(MAPPING_CONDITIONS) or []]
    return not loops or active_loop_name in loops


def extract_predefined_value(mapping: SlotMapping, tracker: DialogueStateTracker) -> list[Any]:
    """Candidate values of a predefined mapping (empty list: nothing extracted)."""
    mapping_type = mapping.get("type")
    if mapping_type == MAPPING_FROM_ENTITY:
        if not entity_is_desired(mapping, tracker):
            return []
        return list(
            tracker.get_latest_entity_values(
                mapping[ENTITY_ATTRIBUTE_TYPE],
                mapping.get(ENTITY_ATTRIBUTE_ROLE),
                mapping.get(ENTITY_ATTRIBUTE_GROUP),
            )
        )
    if mapping_type == MAPPING_FROM_INTENT:
        return [mapping.get("value")]
    if mapping_type == MAPPING_FROM_TRIGGER_INTENT:
        return [mapping.get("value")] if _trigger_condition_met(mapping, tracker) else []
    if mapping_type == MAPPING_FROM_TEXT:
        latest = tracker.latest_message
        return [None if latest is None else latest.text]
    return []


def is_custom(mapping: SlotMapping) -> bool:
    return mapping.get("type") == MAPPING_CUSTOM


def required_slots_of_form(form_name: str, domain: Domain) -> list[str]:
    """The form's ``required_slots`` from the domain (empty for unknown forms)."""
    form = domain.forms.get(form_name) or {}
    return list(form.get("required_slots") or [])


def mappings_of_slot(slot_name: str, domain: Domain) -> list[dict[str, Any]]:
    for slot in domain.slots:
        if slot.name == slot_name:
            return list(slot.mappings)
    return []


def mapping_key(mapping: SlotMapping) -> str:
    """A stable string for comparing mappings."""
    return json.dumps(mapping, sort_keys=True, default=str)


def unique_entity_mappings(form_name: str, domain: Domain) -> frozenset[str]:
    """Keys of the ``from_entity`` mappings that fill exactly one required slot of a form.

    An entity ``city`` with role ``from`` may uniquely fill ``departure``,
    while ``city`` without a role may fill several slots and is not unique.
    """
    seen: set[str] = set()
    duplicated: set[str] = set()
    for slot_name in required_slots_of_form(form_name, domain):
        for mapping in mappings_of_slot(slot_name, domain):
            if mapping.get("type") != MAPPING_FROM_ENTITY:
                continue
            key = mapping_key(mapping)
            if key in seen:
                duplicated.add(key)
            seen.add(key)
    return frozenset(seen - duplicated)


def entity_mapping_is_unique(mapping: SlotMapping, form_name: str, domain: Domain) -> bool:
    return mapping_key(mapping) in unique_entity_mappings(form_name, domain)


def fails_unique_entity_mapping_check(
    slot_name: str,
    mapping: SlotMapping,
    tracker: DialogueStateTracker,
    domain: Domain,
    unique_mappings: frozenset[str] | None = None,
) -> bool:
    """True when a non-unique entity mapping would fill a form slot that is not requested.

    While a form is active, an ambiguous entity only fills the slot the form
    asked for, never other required slots of that form.

    Args:
        unique_mappings: ``unique_entity_mappings()`` of the active form, if
            already computed (saves work when checking many slots).
    """
    if mapping.get("type") != MAPPING_FROM_ENTITY:
        return False
    form_name = tracker.active_loop_name
    if not form_name or tracker.get_slot(REQUESTED_SLOT) == slot_name:
        return False
    if slot_name not in required_slots_of_form(form_name, domain):
        return False
    if unique_mappings is None:
        unique_mappings = unique_entity_mappings(form_name, domain)
    return mapping_key(mapping) not in unique_mappings
