from __future__ import annotations

from palaver.nlu import NLUPipeline
from palaver.nlu.response_selector import label_id
from palaver.nlu.training_data import NLUTrainingData
from tests.unit.nlu.datasets import FAQ_RESPONSES, faq_examples, simple_examples


def test_default_selector_picks_the_sub_intent(default_pipeline: NLUPipeline) -> None:
    result = default_pipeline.parse("what is your name?")
    assert result["intent"]["name"] == "faq"
    assert result["intent"]["full_retrieval_intent_name"] is None  # no selector keyed "faq"
    selector = result["response_selector"]
    assert selector["all_retrieval_intents"] == ["faq"]
    response = selector["default"]["response"]
    assert response["intent_response_key"] == "faq/ask_name"
    assert response["utter_action"] == "utter_faq/ask_name"
    assert response["responses"] == [{"text": "I am Palaver."}]
    assert 0.5 < response["confidence"] <= 1.0
    ranking = selector["default"]["ranking"]
    assert [r["intent_response_key"] for r in ranking] == ["faq/ask_name", "faq/ask_age"]
    assert ranking[0]["id"] == label_id("faq/ask_name")
    assert "faq" in default_pipeline.intents
    assert "faq/ask_name" not in default_pipeline.intents


def test_selector_keyed_by_retrieval_intent() -> None:
    data = NLUTrainingData(examples=[*simple_examples(), *faq_examples()], responses=FAQ_RESPONSES)
    pipeline = NLUPipeline.train(
        data,
        [
            {"name": "WhitespaceTokenizer"},
            {"name": "CountVectorsFeaturizer"},
            {"name": "LogisticRegressionClassifier"},
            {"name": "ResponseSelector", "retrieval_intent": "faq"},
        ],
    )
    result = pipeline.parse("how old are you")
    assert result["intent"]["name"] == "faq"
    assert result["intent"]["full_retrieval_intent_name"] == "faq/ask_age"
    assert result["response_selector"]["faq"]["response"]["responses"] == [
        {"text": "Younger than Rasa."}
    ]


def test_missing_responses_use_the_key_as_text() -> None:
    data = NLUTrainingData(examples=[*simple_examples(), *faq_examples()])
    pipeline = NLUPipeline.train(data)
    response = pipeline.parse("who are you")["response_selector"]["default"]["response"]
    assert response["responses"] == [{"text": "faq/ask_name"}]


def test_without_retrieval_intents_the_selector_is_empty() -> None:
    pipeline = NLUPipeline.train(NLUTrainingData(examples=simple_examples()))
    assert pipeline.parse("hello")["response_selector"] == {
        "all_retrieval_intents": [],
        "default": {
            "response": {
                "responses": None,
                "confidence": 0.0,
                "intent_response_key": None,
                "utter_action": None,
            },
            "ranking": [],
        },
    }
