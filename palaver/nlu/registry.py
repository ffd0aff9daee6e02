"""Pipeline components by config name, Rasa substitutions and the default pipeline.

Palaver implements Rasa's classic components under their Rasa names. Rasa
components built on deep or pretrained models are *substituted*: each is
replaced by Palaver components doing the same job, with one warning per
substituted entry. Any other name is a ConfigError listing the valid ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from palaver.errors import ConfigError
from palaver.nlu.classifier import LogisticRegressionClassifier
from palaver.nlu.component import Component
from palaver.nlu.count_vectors import CountVectorsFeaturizer
from palaver.nlu.crf_extractor import CRFEntityExtractor
from palaver.nlu.duckling import DucklingEntityExtractor
from palaver.nlu.embeddings import PretrainedEmbeddingFeaturizer
from palaver.nlu.fallback import FallbackClassifier
from palaver.nlu.keyword_classifier import KeywordIntentClassifier
from palaver.nlu.lexical_syntactic import LexicalSyntacticFeaturizer
from palaver.nlu.regex_extractor import RegexEntityExtractor
from palaver.nlu.regex_featurizer import RegexFeaturizer
from palaver.nlu.response_selector import ResponseSelector
from palaver.nlu.synonyms import EntitySynonymMapper
from palaver.nlu.tokenizer import WhitespaceTokenizer

logger = logging.getLogger(__name__)

ComponentConfig = dict[str, Any]

COMPONENTS: Mapping[str, Callable[[ComponentConfig], Component]] = {
    cls.name: cls
    for cls in (
        WhitespaceTokenizer,
        RegexFeaturizer,
        LexicalSyntacticFeaturizer,
        CountVectorsFeaturizer,
        PretrainedEmbeddingFeaturizer,
        LogisticRegressionClassifier,
        KeywordIntentClassifier,
        CRFEntityExtractor,
        RegexEntityExtractor,
        DucklingEntityExtractor,
        EntitySynonymMapper,
        ResponseSelector,
        FallbackClassifier,
    )
}

TOKENIZERS = frozenset({"WhitespaceTokenizer"})
SENTENCE_FEATURIZERS = frozenset(
    {"CountVectorsFeaturizer", "RegexFeaturizer", "PretrainedEmbeddingFeaturizer"}
)
INTENT_CLASSIFIERS = frozenset({"LogisticRegressionClassifier", "KeywordIntentClassifier"})
_NEEDS_TOKENS = frozenset(
    {
        "RegexFeaturizer",
        "LexicalSyntacticFeaturizer",
        "CountVectorsFeaturizer",
        "PretrainedEmbeddingFeaturizer",
        "LogisticRegressionClassifier",
        "CRFEntityExtractor",
        "ResponseSelector",
    }
)
_NEEDS_FEATURES = frozenset({"LogisticRegressionClassifier", "ResponseSelector"})

# At most 10k n-grams each (the most frequent): no limit for a typical bot,
# but on large data (BANKING77: 34k n-grams) it halves the classifier's
# training time at no cost in accuracy.
DEFAULT_FEATURIZERS: tuple[ComponentConfig, ...] = (
    {"name": "CountVectorsFeaturizer", "analyzer": "word", "max_ngram": 2, "max_features": 10000},
    {
        "name": "CountVectorsFeaturizer",
        "analyzer": "char_wb",
        "max_ngram": 4,
        "max_features": 10000,
    },
)

DEFAULT_PIPELINE: tuple[ComponentConfig, ...] = (
    {"name": "WhitespaceTokenizer"},
    {"name": "RegexFeaturizer"},
    {"name": "LexicalSyntacticFeaturizer"},
    *DEFAULT_FEATURIZERS,
    {"name": "LogisticRegressionClassifier"},
    {"name": "CRFEntityExtractor"},
    {"name": "EntitySynonymMapper"},
    {"name": "ResponseSelector"},
    {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1},
)


@dataclass(frozen=True, slots=True)
class Substitution:
    """How Palaver stands in for a Rasa component it does not implement."""

    replace: Callable[[ComponentConfig], list[ComponentConfig]]
    reason: str


def _diet(entry: ComponentConfig) -> list[ComponentConfig]:
    result: list[ComponentConfig] = []
    if entry.get("intent_classification", True):
        classifier: ComponentConfig = {"name": "LogisticRegressionClassifier"}
        if "ranking_length" in entry:
            classifier["ranking_length"] = entry["ranking_length"]
        result.append(classifier)
    if entry.get("entity_recognition", True):
        result.append({"name": "CRFEntityExtractor", "BILOU_flag": entry.get("BILOU_flag", True)})
    return result


def _tokenizer(entry: ComponentConfig) -> list[ComponentConfig]:
    keys = ("intent_tokenization_flag", "intent_split_symbol", "token_pattern")
    return [{"name": "WhitespaceTokenizer", **{k: entry[k] for k in keys if k in entry}}]


def _featurizers(entry: ComponentConfig) -> list[ComponentConfig]:
    return [dict(c) for c in DEFAULT_FEATURIZERS]


def _fixed(*names: str) -> Callable[[ComponentConfig], list[ComponentConfig]]:
    return lambda entry: [{"name": n} for n in names]


_NO_LM = "Palaver loads no spaCy/MITIE/transformer models"
COMPONENT_SUBSTITUTIONS: Mapping[str, Substitution] = {
    "DIETClassifier": Substitution(
        _diet, "DIET's intent and entity heads are replaced by logistic regression and a CRF"
    ),
    "SklearnIntentClassifier": Substitution(
        _fixed("LogisticRegressionClassifier"), "Palaver's classifier is logistic regression"
    ),
    "MitieIntentClassifier": Substitution(_fixed("LogisticRegressionClassifier"), _NO_LM),
    "MitieEntityExtractor": Substitution(_fixed("CRFEntityExtractor"), _NO_LM),
    "SpacyNLP": Substitution(_fixed(), _NO_LM),
    "MitieNLP": Substitution(_fixed(), _NO_LM),
    "HFTransformersNLP": Substitution(_fixed(), _NO_LM),
    "SpacyTokenizer": Substitution(_tokenizer, _NO_LM),
    "MitieTokenizer": Substitution(_tokenizer, _NO_LM),
    "JiebaTokenizer": Substitution(_tokenizer, "Palaver has no Chinese word segmenter"),
    "ConveRTTokenizer": Substitution(_tokenizer, _NO_LM),
    "LanguageModelTokenizer": Substitution(_tokenizer, _NO_LM),
    "SpacyFeaturizer": Substitution(_featurizers, _NO_LM),
    "MitieFeaturizer": Substitution(_featurizers, _NO_LM),
    "ConveRTFeaturizer": Substitution(_featurizers, _NO_LM),
    "LanguageModelFeaturizer": Substitution(_featurizers, _NO_LM),
    "SpacyEntityExtractor": Substitution(
        _fixed(), "Palaver has no pretrained NER; annotate entities for CRFEntityExtractor"
    ),
}


def resolve_pipeline(config: Sequence[ComponentConfig | str] | None) -> list[ComponentConfig]:
    """The pipeline Palaver will train: defaults if empty, substitutions applied.

    Raises:
        ConfigError: an entry without a name, or an unknown component.
    """
    if not config:
        return [dict(c) for c in DEFAULT_PIPELINE]
    entries = [_entry(item, index) for index, item in enumerate(config)]
    explicit = {e["name"] for e in entries if e["name"] in COMPONENTS}
    resolved: list[ComponentConfig] = []
    for entry in entries:
        name = entry["name"]
        if name in COMPONENTS:
            resolved.append(entry)
            continue
        substitution = COMPONENT_SUBSTITUTIONS.get(name)
        if substitution is None:
            raise ConfigError(_unknown_message(name))
        added = [c for c in substitution.replace(entry) if not _redundant(c, resolved, explicit)]
        logger.warning(
            "NLU component %s is substituted by %s (%s).",
            name,
            " + ".join(_describe(c) for c in added) or "nothing",
            substitution.reason,
        )
        resolved.extend(added)
    validate_order(resolved)
    return resolved


def build_components(resolved: Sequence[ComponentConfig]) -> list[Component]:
    """Instantiate (untrained) components for a resolved pipeline."""
    return [COMPONENTS[entry["name"]](dict(entry)) for entry in resolved]


def validate_order(resolved: Sequence[ComponentConfig]) -> None:
    """Raise ConfigError when a component lacks what it needs earlier in the pipeline."""
    seen: list[str] = []
    for entry in resolved:
        name = entry["name"]
        if name in TOKENIZERS and TOKENIZERS & set(seen):
            raise ConfigError(f"The NLU pipeline has more than one tokenizer ('{name}').")
        if name in _NEEDS_TOKENS and not TOKENIZERS & set(seen):
            raise ConfigError(f"'{name}' needs a tokenizer (WhitespaceTokenizer) before it.")
        if name in _NEEDS_FEATURES and not SENTENCE_FEATURIZERS & set(seen):
            raise ConfigError(
                f"'{name}' needs a featurizer (e.g. CountVectorsFeaturizer) before it."
            )
        if name == "FallbackClassifier" and not INTENT_CLASSIFIERS & set(seen):
            raise ConfigError("'FallbackClassifier' needs an intent classifier before it.")
        seen.append(name)


def _entry(item: ComponentConfig | str, index: int) -> ComponentConfig:
    if isinstance(item, str):
        return {"name": item}
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise ConfigError(f"NLU pipeline entry {index} has no component 'name': {item!r}.")
    return dict(item)


def _redundant(
    candidate: ComponentConfig, resolved: list[ComponentConfig], explicit: set[str]
) -> bool:
    name = candidate["name"]
    present = explicit | {c["name"] for c in resolved}
    if name in TOKENIZERS or name in INTENT_CLASSIFIERS or name == "CRFEntityExtractor":
        return name in present
    if name == "CountVectorsFeaturizer" and name in explicit:
        return True
    return candidate in resolved


def _describe(config: ComponentConfig) -> str:
    params = ", ".join(f"{k}={v}" for k, v in config.items() if k != "name")
    return f"{config['name']}({params})" if params else str(config["name"])


def _unknown_message(name: str) -> str:
    return (
        f"Unknown NLU component '{name}'. Palaver implements: {', '.join(sorted(COMPONENTS))}; "
        f"and substitutes these Rasa components: {', '.join(sorted(COMPONENT_SUBSTITUTIONS))}."
    )
