"""Slots, forms and responses: mappings that point nowhere, forms that cannot work."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from palaver.core.constants import (
    MAPPING_CONDITIONS,
    MAPPING_CUSTOM,
    MAPPING_FROM_ENTITY,
    REQUESTED_SLOT,
)
from palaver.core.domain import Domain
from palaver.core.slots import Slot
from palaver.data.domain_reader import KEY_FORMS, KEY_RESPONSES, KEY_SLOTS
from palaver.quality.issues import Issue, Level
from palaver.quality.locations import SourceIndex
from palaver.quality.usage import Usage

ERROR, WARNING = Level.ERROR, Level.WARNING
# Same tokens as palaver.nlg.interpolation: escaped braces or a ``{name}`` placeholder.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^\n{}]+?)\}")


def check_slots(domain: Domain, index: SourceIndex) -> list[Issue]:
    """Slot mappings naming undeclared entities, intents, forms or slots."""
    issues = []
    for slot in domain.slots:
        where = index.domain_item(KEY_SLOTS, slot.name)
        for problem in _mapping_problems(domain, slot):
            issues.append(Issue.at(ERROR, "slot-mapping-invalid", problem, where))
        # Rasa accepts these (the intent can never be predicted, so the filter
        # has no effect): worth a look, not a reason to fail.
        for problem in _unknown_mapping_intents(domain, slot):
            issues.append(Issue.at(WARNING, "slot-mapping-unknown-intent", problem, where))
    return issues


def _unknown_mapping_intents(domain: Domain, slot: Slot) -> Iterator[str]:
    intents = set(domain.intents)
    for number, mapping in enumerate(slot.mappings, start=1):
        for key in ("intent", "not_intent"):
            for intent in _names(mapping.get(key)):
                if intent not in intents:
                    yield (
                        f"slot '{slot.name}' mapping {number} names intent '{intent}' "
                        f"in '{key}', which is not in the domain"
                    )


def _mapping_problems(domain: Domain, slot: Slot) -> Iterator[str]:
    slots = {s.name for s in domain.slots}
    for number, mapping in enumerate(slot.mappings, start=1):
        prefix = f"slot '{slot.name}' mapping {number}"
        entity = mapping.get("entity")
        if mapping.get("type") == MAPPING_FROM_ENTITY and entity not in domain.entities:
            yield f"{prefix} reads entity '{entity}', which is not declared in the domain"
        for condition in mapping.get(MAPPING_CONDITIONS) or []:
            loop = condition.get("active_loop")
            if loop is not None and loop not in domain.forms and loop not in domain.user_actions:
                yield f"{prefix} has a condition on loop '{loop}', which is not a form"
            requested = condition.get(REQUESTED_SLOT)
            if requested is not None and requested not in slots:
                yield f"{prefix} has a condition on requested slot '{requested}', not a slot"


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


# --- forms -----------------------------------------------------------------------------


def check_forms(domain: Domain, training: Usage, index: SourceIndex) -> list[Issue]:
    """Forms no story or rule runs, and required slots a form can neither ask nor fill."""
    slots = {slot.name: slot for slot in domain.slots}
    actions = set(domain.action_names_or_texts)
    issues = []
    for form, definition in domain.forms.items():
        where = index.domain_item(KEY_FORMS, form)
        if form not in training.actions:
            issues.append(
                Issue.at(
                    WARNING,
                    "form-never-activated",
                    f"form '{form}' is unreachable: no story or rule runs 'action: {form}'",
                    where,
                )
            )
        for slot_name in definition["required_slots"]:
            slot = slots.get(slot_name)
            if slot is None:
                continue  # the domain loader already refuses this
            issues.extend(_required_slot_issues(domain, form, slot, actions, where))
    return issues


def _required_slot_issues(
    domain: Domain, form: str, slot: Slot, actions: set[str], where: tuple[str | None, int | None]
) -> list[Issue]:
    issues = []
    questions = [
        f"action_ask_{form}_{slot.name}",
        f"utter_ask_{form}_{slot.name}",
        f"action_ask_{slot.name}",
        f"utter_ask_{slot.name}",
    ]
    if not any(name in actions for name in questions):
        issues.append(
            Issue.at(
                ERROR,
                "form-slot-no-question",
                f"form '{form}' cannot ask for slot '{slot.name}': add a response "
                f"'utter_ask_{slot.name}' (or 'utter_ask_{form}_{slot.name}')",
                where,
            )
        )
    if not _fillable_in(domain, form, slot):
        issues.append(
            Issue.at(
                ERROR,
                "form-slot-unfillable",
                f"form '{form}' requires slot '{slot.name}', but none of its mappings "
                f"applies while '{form}' is active (and there is no 'validate_{form}' action)",
                where,
            )
        )
    return issues


def _fillable_in(domain: Domain, form: str, slot: Slot) -> bool:
    if f"validate_{form}" in domain.user_actions:
        return True  # a validation action may fill anything
    for mapping in slot.mappings:
        if mapping.get("type") == MAPPING_CUSTOM and mapping.get("action"):
            return True
        conditions = mapping.get(MAPPING_CONDITIONS) or []
        if mapping.get("type") != MAPPING_CUSTOM and (
            not conditions or any(c.get("active_loop") in (form, None) for c in conditions)
        ):
            return True
    return False


# --- responses ---------------------------------------------------------------------------


def check_responses(domain: Domain, index: SourceIndex) -> list[Issue]:
    """``{placeholders}`` in responses that name no slot."""
    slots = {slot.name for slot in domain.slots}
    issues = []
    for name, variations in sorted(domain.responses.items()):
        unknown = sorted(
            {
                placeholder
                for variation in variations
                if not _is_jinja(variation)
                for placeholder in _placeholders(variation)
                if placeholder not in slots
            }
        )
        if unknown:
            listed = ", ".join(f"'{{{p}}}'" for p in unknown)
            issues.append(
                Issue.at(
                    WARNING,
                    "response-unknown-placeholder",
                    f"response '{name}' uses {listed}, which name no slot "
                    f"(fine only if a custom action passes them)",
                    index.domain_item(KEY_RESPONSES, name),
                )
            )
    return issues


def _is_jinja(variation: Mapping[str, Any]) -> bool:
    metadata = variation.get("metadata")
    return isinstance(metadata, Mapping) and metadata.get("template") == "jinja"


def _placeholders(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        for match in _TOKEN.finditer(value):
            if match.group(1):
                yield match.group(1).strip()
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key != "condition":
                yield from _placeholders(item)
    elif isinstance(value, list):
        for item in value:
            yield from _placeholders(item)
