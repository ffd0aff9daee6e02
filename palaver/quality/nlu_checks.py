"""NLU data against the domain: undeclared intents and entities, duplicates, retrieval responses."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from palaver.core.constants import DEFAULT_INTENTS, UTTER_PREFIX
from palaver.core.domain import Domain
from palaver.data.config import ProjectConfig
from palaver.data.domain_reader import KEY_ENTITIES, KEY_RESPONSES
from palaver.nlu.training_data import (
    INTENT_SPLIT_SYMBOL,
    RESPONSE_IDENTIFIER_DELIMITER,
    NLUTrainingData,
    TrainingExample,
)
from palaver.quality.issues import Issue, Level
from palaver.quality.locations import SourceIndex

ERROR, WARNING = Level.ERROR, Level.WARNING
# Extractors that find entities without annotated examples.
PRETRAINED_EXTRACTORS = frozenset(
    {"DucklingEntityExtractor", "SpacyEntityExtractor", "MitieEntityExtractor"}
)


def check_nlu(
    domain: Domain, nlu: NLUTrainingData, config: ProjectConfig, index: SourceIndex
) -> list[Issue]:
    """All NLU-vs-domain findings."""
    return [
        *_undeclared_intents(domain, nlu, index),
        *_intents_without_examples(domain, nlu, index),
        *_undeclared_entities(domain, nlu, index),
        *_entities_never_annotated(domain, nlu, config, index),
        *duplicate_examples(nlu.examples, index),
        *_retrieval_responses(domain, nlu, index),
    ]


def _intent_parts(intent: str) -> list[str]:
    """Base intents of a label: ``faq/ask_x`` -> ``faq``; ``greet+inform`` -> both."""
    base = intent.split(RESPONSE_IDENTIFIER_DELIMITER, 1)[0]
    return base.split(INTENT_SPLIT_SYMBOL) if INTENT_SPLIT_SYMBOL in base else [base]


def _undeclared_intents(domain: Domain, nlu: NLUTrainingData, index: SourceIndex) -> list[Issue]:
    declared = set(domain.intents)
    issues = []
    for label in sorted({ex.intent for ex in nlu.examples if ex.intent}):
        for part in _intent_parts(label):
            if part in declared:
                continue
            issues.append(
                Issue.at(
                    ERROR,
                    "nlu-intent-not-in-domain",
                    f"intent '{part}' has NLU examples but is not declared in the domain; "
                    f"add it under 'intents:'",
                    index.intent(label),
                )
            )
    return issues


def _intents_without_examples(
    domain: Domain, nlu: NLUTrainingData, index: SourceIndex
) -> list[Issue]:
    trained = {part for ex in nlu.examples for part in _intent_parts(ex.intent)}
    return [
        Issue.at(
            WARNING,
            "intent-without-examples",
            f"intent '{name}' has no NLU examples, so the model never predicts it "
            f"(only '/{name}' payloads reach it)",
            index.intent_declaration(name),
        )
        for name in domain.intents
        if name not in trained and name not in DEFAULT_INTENTS
    ]


def _undeclared_entities(domain: Domain, nlu: NLUTrainingData, index: SourceIndex) -> list[Issue]:
    declared = set(domain.entities)
    issues = []
    reported: set[str] = set()
    for example in nlu.examples:
        for span in example.entities:
            if span.entity in declared or span.entity in reported:
                continue
            reported.add(span.entity)
            issues.append(
                Issue.at(
                    ERROR,
                    "nlu-entity-not-in-domain",
                    f"entity '{span.entity}' is annotated in NLU example '{example.text}' "
                    f"but not declared in the domain; add it under 'entities:'",
                    index.example(example.intent, example.text),
                )
            )
    return issues


def _entities_never_annotated(
    domain: Domain, nlu: NLUTrainingData, config: ProjectConfig, index: SourceIndex
) -> list[Issue]:
    components = {str(c.get("name", "")).rsplit(".", 1)[-1] for c in config.pipeline}
    if components & PRETRAINED_EXTRACTORS:
        return []
    found = {span.entity for ex in nlu.examples for span in ex.entities}
    found.update(r.name for r in nlu.regexes)
    found.update(t.name for t in nlu.lookups)
    return [
        Issue.at(
            WARNING,
            "entity-never-annotated",
            f"entity '{name}' is not annotated in any NLU example (nor a regex or lookup "
            f"name), so no trained extractor can find it",
            index.domain_item(KEY_ENTITIES, name),
        )
        for name in domain.entities
        if name not in found
    ]


def _normalized(text: str) -> str:
    return " ".join(text.casefold().split())


def duplicate_examples(examples: Sequence[TrainingExample], index: SourceIndex) -> list[Issue]:
    """The same text (ignoring case and spacing) twice, in two intents or in one: warnings,
    as in ``rasa data validate`` (Rasa's own example bots repeat examples across intents)."""
    seen: dict[str, list[TrainingExample]] = defaultdict(list)
    for example in examples:
        seen[_normalized(example.text)].append(example)
    issues = []
    for group in seen.values():
        if len(group) < 2:
            continue
        issues.extend(_duplicate_issues(group, index))
    return issues


def _duplicate_issues(group: list[TrainingExample], index: SourceIndex) -> list[Issue]:
    first = group[0]
    intents = sorted({ex.intent for ex in group})
    occurrences: dict[tuple[str, str], int] = defaultdict(int)
    occurrences[(first.intent, first.text)] += 1
    issues = []
    for example in group[1:]:
        key = (example.intent, example.text)
        where = index.example(example.intent, example.text, occurrences[key])
        occurrences[key] += 1
        if len(intents) > 1 and example.intent != first.intent:
            issues.append(
                Issue.at(
                    WARNING,
                    "duplicate-example",
                    f"example '{example.text}' of intent '{example.intent}' repeats "
                    f"{_same(first, example)} of intent '{first.intent}'; "
                    f"the classifier cannot learn both",
                    where,
                )
            )
        elif example.intent == first.intent:
            issues.append(
                Issue.at(
                    WARNING,
                    "repeated-example",
                    f"example '{example.text}' repeats {_same(first, example)} "
                    f"in intent '{example.intent}'",
                    where,
                )
            )
    return issues


def _same(first: TrainingExample, other: TrainingExample) -> str:
    if first.text == other.text:
        return "an earlier example"
    return f"'{first.text}' (ignoring case and spacing)"


def _retrieval_responses(domain: Domain, nlu: NLUTrainingData, index: SourceIndex) -> list[Issue]:
    labels = sorted(
        {ex.intent for ex in nlu.examples if RESPONSE_IDENTIFIER_DELIMITER in ex.intent}
    )
    issues = [
        Issue.at(
            ERROR,
            "retrieval-intent-without-response",
            f"retrieval intent '{label}' has no response '{UTTER_PREFIX}{label}'; "
            f"add it under 'responses:'",
            index.intent(label),
        )
        for label in labels
        if f"{UTTER_PREFIX}{label}" not in domain.responses
    ]
    issues.extend(
        Issue.at(
            WARNING,
            "retrieval-response-without-examples",
            f"response '{name}' belongs to retrieval intent "
            f"'{name.removeprefix(UTTER_PREFIX)}', which has no NLU examples",
            index.domain_item(KEY_RESPONSES, name),
        )
        for name in sorted(domain.retrieval_intent_responses)
        if name.removeprefix(UTTER_PREFIX) not in labels
    )
    return issues
