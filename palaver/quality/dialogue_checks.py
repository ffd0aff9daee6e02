"""Stories, rules and test stories against the domain: undeclared and unused names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from palaver.core.constants import (
    ACTION_DEFAULT_FALLBACK_NAME,
    ACTION_TWO_STAGE_FALLBACK_NAME,
    DEFAULT_ACTION_NAMES,
    DEFAULT_CATEGORICAL_SLOT_VALUE,
    DEFAULT_INTENTS,
    MAPPING_FROM_ENTITY,
    UTTER_PREFIX,
)
from palaver.core.domain import Domain
from palaver.core.slots import BooleanSlot, CategoricalSlot, FloatSlot, Slot
from palaver.data.config import ProjectConfig
from palaver.data.domain_reader import KEY_ACTIONS, KEY_RESPONSES
from palaver.nlu.training_data import RESPONSE_IDENTIFIER_DELIMITER, NLUTrainingData
from palaver.quality.issues import Issue, Level
from palaver.quality.locations import SourceIndex
from palaver.quality.usage import Places, Usage

ERROR, WARNING = Level.ERROR, Level.WARNING
# Responses the default actions utter by themselves.
DEFAULT_ACTION_RESPONSES = frozenset(
    {"utter_default", "utter_ask_rephrase", "utter_restart", "utter_back"}
)
VALIDATE_SLOT_MAPPINGS = "action_validate_slot_mappings"


def check_undeclared(domain: Domain, usage: Usage, what: str, level: Level = ERROR) -> list[Issue]:
    """Names ``usage`` (of ``what``: "story", "test story") refers to that the domain lacks.

    ``level``: ERROR for training data (training would fail or learn nonsense);
    test stories only fail their own test, so they get WARNING there.
    """
    actions = set(domain.action_names_or_texts)
    # The two-stage fallback is a built-in loop (Rasa's rules activate it as one).
    loops = set(domain.forms) | set(domain.user_actions) | {ACTION_TWO_STAGE_FALLBACK_NAME}
    checks: list[tuple[Places, set[str], str, str]] = [
        (usage.intents, set(domain.intents), "intent", "intents"),
        (usage.entities, set(domain.entities), "entity", "entities"),
        (usage.actions, actions, "action", "actions (or responses)"),
        (usage.loops, loops, "form", "forms"),
        (
            {name: [w for _, w in uses] for name, uses in usage.slots.items()},
            {slot.name for slot in domain.slots},
            "slot",
            "slots",
        ),
    ]
    issues = []
    for places, declared, kind, section in checks:
        for name in sorted(places):
            if name not in declared:
                issues.append(
                    Issue.at(
                        level,
                        f"{kind}-not-in-domain",
                        f"{what} uses {kind} '{name}', which is not declared in the domain; "
                        f"add it under '{section.split()[0]}:'",
                        places[name][0],
                    )
                )
    issues.extend(_bad_slot_values(domain, usage, what, level))
    return issues


def _bad_slot_values(domain: Domain, usage: Usage, what: str, level: Level) -> list[Issue]:
    slots = {slot.name: slot for slot in domain.slots}
    issues = []
    for name, uses in sorted(usage.slots.items()):
        slot = slots.get(name)
        if slot is None:
            continue
        for value, where in uses:
            problem = _slot_value_problem(slot, value)
            if problem:
                issues.append(
                    Issue.at(
                        level,
                        "invalid-slot-value",
                        f"{what} sets slot '{name}' to {value!r}, but {problem}",
                        where,
                    )
                )
    return issues


def _slot_value_problem(slot: Slot, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(slot, CategoricalSlot) and str(value).lower() not in slot.values:
        values = [v for v in slot.values if v != DEFAULT_CATEGORICAL_SLOT_VALUE]
        return f"its values are {', '.join(values)}"
    if isinstance(slot, BooleanSlot) and not isinstance(value, bool):
        return "it is a bool slot (use true or false)"
    if isinstance(slot, FloatSlot) and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        return "it is a float slot (use a number)"
    return None


# --- unused names --------------------------------------------------------------------


def check_unused(
    domain: Domain,
    usage: Usage,
    nlu: NLUTrainingData,
    config: ProjectConfig,
    index: SourceIndex,
) -> list[Issue]:
    """Intents, responses and actions the training stories and rules never use."""
    return [
        *_unused_intents(domain, usage, nlu, index),
        *_unused_responses(domain, usage, index),
        *_unused_actions(domain, usage, config, index),
    ]


def _mapping_intents(slots: Iterable[Slot]) -> set[str]:
    found: set[str] = set()
    for slot in slots:
        for mapping in slot.mappings:
            for key in ("intent", "not_intent"):
                found.update(_names(mapping.get(key)))
    return found


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _form_entities(domain: Domain) -> set[str]:
    """Entities that fill slots required by some form."""
    required = {slot for form in domain.forms.values() for slot in form["required_slots"]}
    return {
        str(mapping.get("entity"))
        for slot in domain.slots
        if slot.name in required
        for mapping in slot.mappings
        if mapping.get("type") == MAPPING_FROM_ENTITY
    }


def _unused_intents(
    domain: Domain, usage: Usage, nlu: NLUTrainingData, index: SourceIndex
) -> list[Issue]:
    used = set(usage.intents) | _mapping_intents(domain.slots)
    form_entities = _form_entities(domain)
    # An intent whose examples carry entities that fill form slots is used by the form.
    used.update(
        ex.base_intent for ex in nlu.examples if {s.entity for s in ex.entities} & form_entities
    )
    return [
        Issue.at(
            WARNING,
            "intent-not-used",
            f"intent '{name}' is not used in any story, rule or slot mapping; "
            f"the bot has not learnt what to do after it",
            index.intent_declaration(name),
        )
        for name in domain.intents
        if name not in used and name not in DEFAULT_INTENTS
    ]


def _form_question_names(domain: Domain) -> set[str]:
    names: set[str] = set()
    for form, definition in domain.forms.items():
        for slot in definition["required_slots"]:
            for prefix in ("utter_ask_", "action_ask_"):
                names.update({f"{prefix}{slot}", f"{prefix}{form}_{slot}"})
    return names


def _unused_responses(domain: Domain, usage: Usage, index: SourceIndex) -> list[Issue]:
    exempt = DEFAULT_ACTION_RESPONSES | _form_question_names(domain)
    return [
        Issue.at(
            WARNING,
            "response-not-used",
            f"response '{name}' is not used in any story or rule",
            index.domain_item(KEY_RESPONSES, name),
        )
        for name in sorted(domain.responses)
        if name not in usage.actions
        and name not in exempt
        and RESPONSE_IDENTIFIER_DELIMITER not in name
    ]


def _fallback_actions(config: ProjectConfig) -> set[str]:
    names = {ACTION_DEFAULT_FALLBACK_NAME}
    for policy in config.policies:
        for key in ("core_fallback_action_name", "fallback_action_name"):
            if isinstance(policy.get(key), str):
                names.add(policy[key])
    return names


def _unused_actions(
    domain: Domain, usage: Usage, config: ProjectConfig, index: SourceIndex
) -> list[Issue]:
    exempt = (
        set(DEFAULT_ACTION_NAMES)
        | _form_question_names(domain)
        | {f"validate_{form}" for form in domain.forms}
        | {VALIDATE_SLOT_MAPPINGS}
        | _fallback_actions(config)
    )
    custom = [a for a in domain.user_actions if a not in domain.responses]
    return [
        Issue.at(
            WARNING,
            "action-not-used",
            f"action '{name}' is not used in any story or rule",
            index.domain_item(KEY_ACTIONS, name),
        )
        for name in custom
        if name not in usage.actions and name not in exempt and not _is_utter_action(name)
    ]


def _is_utter_action(name: str) -> bool:
    return name.startswith(UTTER_PREFIX)


def check_missing_responses(domain: Domain, usage: Usage, index: SourceIndex) -> list[Issue]:
    """``utter_`` actions without a response (retrieval actions like ``utter_faq`` aside)."""
    retrieval = set(domain.retrieval_intents)
    names = set(domain.user_actions) | set(usage.actions)
    issues = []
    for name in sorted(names):
        if (
            not _is_utter_action(name)
            or name in domain.responses
            or name.removeprefix(UTTER_PREFIX) in retrieval
        ):
            continue
        where = usage.actions[name][0] if name in usage.actions else None
        issues.append(
            Issue.at(
                ERROR,
                "response-missing",
                f"action '{name}' has no response; add '{name}' under 'responses:'",
                where or index.domain_item(KEY_ACTIONS, name),
            )
        )
    return issues
