"""Regex patterns from the training data's ``regex`` and ``lookup`` entries.

Shared by the RegexFeaturizer (all patterns) and the RegexEntityExtractor
(only patterns named like an entity), following Rasa's ``pattern_utils``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from palaver.errors import ProjectDataError
from palaver.nlu.training_data import LookupTable, NLUTrainingData


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    pattern: str


def extract_patterns(
    data: NLUTrainingData,
    *,
    use_regexes: bool = True,
    use_lookup_tables: bool = True,
    only_entities: bool = False,
    use_word_boundaries: bool = True,
) -> list[Pattern]:
    """Patterns in Rasa's order: regexes first, then lookup tables."""
    entities = set(data.entity_types)
    patterns: list[Pattern] = []
    if use_regexes:
        patterns.extend(
            Pattern(r.name, r.pattern)
            for r in data.regexes
            if not only_entities or r.name in entities
        )
    if use_lookup_tables:
        patterns.extend(
            Pattern(t.name, lookup_regex(t, use_word_boundaries))
            for t in data.lookups
            if t.elements and (not only_entities or t.name in entities)
        )
    return patterns


def lookup_regex(table: LookupTable, use_word_boundaries: bool) -> str:
    """One alternation of the escaped elements, with ``\\b`` around each."""
    escaped = [re.escape(e) for e in table.elements]
    if use_word_boundaries:
        return "(\\b" + "\\b|\\b".join(escaped) + "\\b)"
    return "(" + "|".join(escaped) + ")"


def compile_patterns(
    patterns: list[Pattern], case_sensitive: bool, component: str
) -> list[tuple[str, re.Pattern[str]]]:
    """Compile ``patterns``; a bad regex is a ConfigError naming it."""
    flags = 0 if case_sensitive else re.IGNORECASE
    compiled: list[tuple[str, re.Pattern[str]]] = []
    for p in patterns:
        try:
            compiled.append((p.name, re.compile(p.pattern, flags)))
        except re.error as exc:
            raise ProjectDataError(
                f"{component}: regex '{p.name}' has an invalid pattern {p.pattern!r}: {exc}"
            ) from exc
    return compiled
