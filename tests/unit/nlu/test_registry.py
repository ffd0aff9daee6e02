from __future__ import annotations

import logging
from typing import Any

import pytest

from palaver.errors import ConfigError
from palaver.nlu.registry import (
    COMPONENT_SUBSTITUTIONS,
    COMPONENTS,
    DEFAULT_PIPELINE,
    resolve_pipeline,
)

RASA_DEFAULT: list[dict[str, Any]] = [
    {"name": "WhitespaceTokenizer"},
    {"name": "RegexFeaturizer"},
    {"name": "LexicalSyntacticFeaturizer"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
    {"name": "DIETClassifier", "epochs": 100, "constrain_similarities": True},
    {"name": "EntitySynonymMapper"},
    {"name": "ResponseSelector", "epochs": 100},
    {"name": "FallbackClassifier", "threshold": 0.3},
]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize("config", [None, []])
def test_empty_pipeline_is_the_default(config: list[dict[str, object]] | None) -> None:
    assert resolve_pipeline(config) == [dict(c) for c in DEFAULT_PIPELINE]


def test_diet_becomes_classifier_and_crf(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        resolved = resolve_pipeline(RASA_DEFAULT)
    names = [c["name"] for c in resolved]
    assert names[5:7] == ["LogisticRegressionClassifier", "CRFEntityExtractor"]
    assert "DIETClassifier" not in names
    (warning,) = _warnings(caplog)
    assert "DIETClassifier" in warning
    assert "LogisticRegressionClassifier + CRFEntityExtractor" in warning


def test_diet_without_entity_recognition_has_no_crf() -> None:
    resolved = resolve_pipeline(
        [
            {"name": "WhitespaceTokenizer"},
            {"name": "CountVectorsFeaturizer"},
            {"name": "DIETClassifier", "entity_recognition": False},
        ]
    )
    assert [c["name"] for c in resolved][-1] == "LogisticRegressionClassifier"


def test_spacy_pipeline_is_substituted_once_per_entry(caplog: pytest.LogCaptureFixture) -> None:
    config = [
        {"name": "SpacyNLP", "model": "en_core_web_md"},
        {"name": "SpacyTokenizer"},
        {"name": "SpacyFeaturizer"},
        {"name": "SklearnIntentClassifier"},
    ]
    with caplog.at_level(logging.WARNING):
        resolved = resolve_pipeline(config)
    assert [c["name"] for c in resolved] == [
        "WhitespaceTokenizer",
        "CountVectorsFeaturizer",
        "CountVectorsFeaturizer",
        "LogisticRegressionClassifier",
    ]
    warnings = _warnings(caplog)
    assert len(warnings) == 4
    for name, warning in zip(
        ["SpacyNLP", "SpacyTokenizer", "SpacyFeaturizer", "SklearnIntentClassifier"],
        warnings,
        strict=True,
    ):
        assert name in warning
    assert "nothing" in warnings[0]


def test_dense_featurizer_adds_nothing_next_to_count_vectors() -> None:
    config = [
        {"name": "WhitespaceTokenizer"},
        {"name": "LanguageModelFeaturizer", "model_name": "bert"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "ConveRTFeaturizer"},
        {"name": "DIETClassifier"},
    ]
    names = [c["name"] for c in resolve_pipeline(config)]
    assert names == [
        "WhitespaceTokenizer",
        "CountVectorsFeaturizer",
        "LogisticRegressionClassifier",
        "CRFEntityExtractor",
    ]


def test_unknown_component_lists_known_names() -> None:
    with pytest.raises(ConfigError) as excinfo:
        resolve_pipeline([{"name": "WhitespaceTokenizer"}, {"name": "MagicClassifier"}])
    message = str(excinfo.value)
    assert "Unknown NLU component 'MagicClassifier'" in message
    assert "CountVectorsFeaturizer" in message and "DIETClassifier" in message


def test_entry_without_a_name_is_an_error() -> None:
    with pytest.raises(ConfigError, match="entry 0 has no component 'name'"):
        resolve_pipeline([{"analyzer": "word"}])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([{"name": "CountVectorsFeaturizer"}], "needs a tokenizer"),
        ([{"name": "WhitespaceTokenizer"}, {"name": "LogisticRegressionClassifier"}], "featurizer"),
        ([{"name": "WhitespaceTokenizer"}, {"name": "FallbackClassifier"}], "intent classifier"),
        ([{"name": "WhitespaceTokenizer"}, {"name": "SpacyTokenizer"}], "more than one tokenizer"),
    ],
)
def test_impossible_orders_are_errors(config: list[dict[str, object]], message: str) -> None:
    if config[-1]["name"] == "SpacyTokenizer":
        # a substituted tokenizer next to an explicit one is dropped, not an error
        assert resolve_pipeline(config) == [{"name": "WhitespaceTokenizer"}]
        config = [{"name": "WhitespaceTokenizer"}, {"name": "WhitespaceTokenizer"}]
    with pytest.raises(ConfigError, match=message):
        resolve_pipeline(config)


def test_no_name_is_both_implemented_and_substituted() -> None:
    assert not set(COMPONENTS) & set(COMPONENT_SUBSTITUTIONS)
