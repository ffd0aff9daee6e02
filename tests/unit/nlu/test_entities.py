from __future__ import annotations

from typing import Any

import pytest

from palaver.nlu import NLUPipeline
from palaver.nlu.synonyms import EntitySynonymMapper
from palaver.nlu.training_data import (
    EntitySpan,
    LookupTable,
    NLUTrainingData,
    RegexFeature,
    TrainingExample,
)
from tests.unit.nlu.datasets import example, flight_examples, simple_examples

CRF_PIPELINE: list[dict[str, Any]] = [
    {"name": "WhitespaceTokenizer"},
    {"name": "LexicalSyntacticFeaturizer"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "LogisticRegressionClassifier"},
    {"name": "CRFEntityExtractor"},
    {"name": "EntitySynonymMapper"},
]


@pytest.fixture(scope="module")
def crf_pipeline() -> NLUPipeline:
    data = NLUTrainingData(examples=[*simple_examples(), *flight_examples()])
    return NLUPipeline.train(data, CRF_PIPELINE)


def _by_role(entities: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e.get("role", ""): e for e in entities}


def test_crf_extracts_entities_with_roles(crf_pipeline: NLUPipeline) -> None:
    text = "I want to fly from Amsterdam to Berlin"
    result = crf_pipeline.parse(text)
    entities = _by_role(result["entities"])
    assert set(entities) == {"from", "to"}
    departure = entities["from"]
    assert departure["value"] == "Amsterdam"
    assert text[departure["start"] : departure["end"]] == "Amsterdam"
    assert departure["entity"] == "city"
    assert departure["extractor"] == "CRFEntityExtractor"
    assert 0.0 < departure["confidence_entity"] <= 1.0
    assert 0.0 < departure["confidence_role"] <= 1.0
    assert entities["to"]["value"] == "Berlin"
    assert crf_pipeline.entity_types == ["city"]


def test_crf_without_entities_in_data_extracts_nothing() -> None:
    pipeline = NLUPipeline.train(NLUTrainingData(examples=simple_examples()), CRF_PIPELINE)
    assert pipeline.parse("hello Berlin")["entities"] == []


def test_crf_splits_entities_on_commas() -> None:
    texts = ["I like apples", "I like pears", "I like plums", "get me apples", "get me pears"]
    examples = [example(t, "fruit", (t.split()[-1], "fruit", None)) for t in texts] + [
        example("I like apples pears", "fruit", ("apples pears", "fruit", None)),
        example("get me plums pears", "fruit", ("plums pears", "fruit", None)),
    ]
    data = NLUTrainingData(examples=[*examples, *simple_examples()])
    pipeline = NLUPipeline.train(data, CRF_PIPELINE)
    values = [e["value"] for e in pipeline.parse("I like apples, pears")["entities"]]
    assert values == ["apples", "pears"]


def test_regex_and_lookup_extraction() -> None:
    data = NLUTrainingData(
        examples=[
            example("my zip is 12345", "inform", ("12345", "zipcode", None)),
            example("I want a latte", "order", ("latte", "drink", None)),
            *simple_examples(),
        ],
        regexes=[RegexFeature("zipcode", r"\b\d{5}\b"), RegexFeature("not_an_entity", r"\d+")],
        lookups=[LookupTable("drink", ("latte", "flat white", "tea"))],
    )
    pipeline = NLUPipeline.train(
        data,
        [
            {"name": "WhitespaceTokenizer"},
            {"name": "RegexFeaturizer"},
            {"name": "CountVectorsFeaturizer"},
            {"name": "LogisticRegressionClassifier"},
            {"name": "RegexEntityExtractor"},
        ],
    )
    entities = pipeline.parse("A Flat White to 54321 please")["entities"]
    assert entities == [
        {
            "entity": "zipcode",
            "start": 16,
            "end": 21,
            "value": "54321",
            "extractor": "RegexEntityExtractor",
        },
        {
            "entity": "drink",
            "start": 2,
            "end": 12,
            "value": "Flat White",
            "extractor": "RegexEntityExtractor",
        },
    ]
    # lookups match on word boundaries only
    assert pipeline.parse("teapot")["entities"] == []


def test_synonyms_replace_values() -> None:
    examples = [
        *flight_examples(),
        *simple_examples(),
        TrainingExample(
            "I want to fly from NYC to Paris",
            "book_flight",
            (
                EntitySpan(19, 22, "city", "New York", role="from"),
                EntitySpan(26, 31, "city", "Paris", role="to"),
            ),
        ),
    ]
    data = NLUTrainingData(examples=examples, synonyms={"big apple": "New York"})
    pipeline = NLUPipeline.train(data, CRF_PIPELINE)
    entities = _by_role(pipeline.parse("I want to fly from NYC to Rome")["entities"])
    assert entities["from"]["value"] == "New York"
    assert entities["from"]["processors"] == ["EntitySynonymMapper"]
    assert "processors" not in entities["to"]
    mapper = pipeline.components[-1]
    assert isinstance(mapper, EntitySynonymMapper)
    assert mapper.synonyms == {"big apple": "New York", "nyc": "New York"}
