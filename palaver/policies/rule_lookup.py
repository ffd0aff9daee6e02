"""Rule keys and their matching against a conversation (Rasa's RulePolicy lookup).

A rule key is the JSON of the states that lead to an action, cut after the
rule's snippet action ``...`` (what happened before is irrelevant). A key
matches a conversation when, walking back from the latest state, every rule
state's features are present in the conversation state (``should_not_be_set``
requires absence), and both are or are not conversation starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from palaver.core.constants import (
    ACTION_NAME,
    ACTION_TEXT,
    INTENT,
    PREVIOUS_ACTION,
    RULE_SNIPPET_ACTION_NAME,
    SHOULD_NOT_BE_SET,
    USER,
)
from palaver.policies.policy import Example
from palaver.policies.states import FrozenState, State, prev_action_name, rasa_key

IndexKey = tuple[str | None, str | None]


def rule_feature_key(states: Sequence[FrozenState]) -> str | None:
    """Rasa's rule key: JSON of the states after the latest snippet-action state."""
    kept: list[FrozenState] = []
    for state in reversed(states):
        if prev_action_name(state) == RULE_SNIPPET_ACTION_NAME:
            break
        kept.append(state)
    if not kept:
        return None
    kept.reverse()
    return rasa_key(kept)


def lookup_from_examples(examples: Iterable[Example]) -> dict[str, str]:
    """Key -> action; keys seen with different actions are dropped (Rasa's memoization)."""
    lookup: dict[str, str] = {}
    ambiguous: set[str] = set()
    for states, action in examples:
        key = rule_feature_key(states)
        if key is None or key in ambiguous:
            continue
        if key in lookup and lookup[key] != action:
            ambiguous.add(key)
            del lookup[key]
        elif key not in lookup:
            lookup[key] = action
    return lookup


def _state_value(value: Any) -> Any:
    # JSON turns tuples into lists; compare as tuples again.
    return tuple(_state_value(v) for v in value) if isinstance(value, list) else value


def parse_key(key: str) -> tuple[State, ...]:
    """The states of a rule key (tuples restored)."""
    raw: list[dict[str, dict[str, Any]]] = json.loads(key)
    return tuple(
        {kind: {k: _state_value(v) for k, v in sub.items()} for kind, sub in state.items()}
        for state in raw
    )


def state_matches(rule_state: State, state: State) -> bool:
    """Rasa's ``_is_rule_applicable`` for one turn."""
    rule_prev = rule_state.get(PREVIOUS_ACTION)
    prev = state.get(PREVIOUS_ACTION)
    if not rule_prev and not prev:
        return True
    if not rule_prev or not prev:
        return False
    for kind, rule_sub in rule_state.items():
        sub = state.get(kind, {})
        for key, expected in rule_sub.items():
            actual = sub.get(key)
            if expected == SHOULD_NOT_BE_SET:
                if actual and actual != SHOULD_NOT_BE_SET:
                    return False
            elif expected and actual != expected:
                return False
    return True


@dataclass(frozen=True, slots=True)
class Rule:
    """One learned key with its parsed states and the value it maps to."""

    key: str
    states: tuple[State, ...]
    value: str

    def matches(self, conversation: Sequence[State]) -> bool:
        """Whether the rule applies to the conversation's latest states."""
        n = min(len(self.states), len(conversation))
        rule_states = self.states
        return all(state_matches(rule_states[-1 - i], conversation[-1 - i]) for i in range(n))


def _index_key(state: State) -> IndexKey:
    prev = state.get(PREVIOUS_ACTION, {})
    action = prev.get(ACTION_NAME) or prev.get(ACTION_TEXT)
    intent = state.get(USER, {}).get(INTENT)
    return action, intent


class RuleIndex:
    """Rules bucketed by the latest state's previous action and intent.

    Args:
        lookup: rule key -> predicted value.
    """

    def __init__(self, lookup: Mapping[str, str]) -> None:
        self.lookup = dict(lookup)
        self._buckets: dict[IndexKey, list[Rule]] = {}
        self.max_length = 0
        self.uses_text = False
        for key, value in self.lookup.items():
            rule = Rule(key, parse_key(key), value)
            if not rule.states:
                continue
            self.max_length = max(self.max_length, len(rule.states))
            self.uses_text = self.uses_text or '"text":' in key
            self._buckets.setdefault(_index_key(rule.states[-1]), []).append(rule)

    def remove(self, key: str) -> None:
        """Forgets one key (used when the contradiction check drops a rule turn)."""
        self.lookup.pop(key, None)
        for bucket in self._buckets.values():
            bucket[:] = [rule for rule in bucket if rule.key != key]

    def matching(self, conversation: Sequence[State]) -> list[Rule]:
        """Every rule applicable to the conversation's latest states."""
        if not conversation:
            return []
        action, intent = _index_key(conversation[-1])
        candidates = self._buckets.get((action, None), [])
        if intent is not None:
            candidates = candidates + self._buckets.get((action, intent), [])
        return [rule for rule in candidates if rule.matches(conversation)]

    @staticmethod
    def best(rules: Sequence[Rule]) -> Rule | None:
        """Rasa picks the longest key (most specific rule); ties by key for determinism."""
        if not rules:
            return None
        return max(rules, key=lambda rule: (len(rule.key), rule.key))
