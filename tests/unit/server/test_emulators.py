"""``/model/parse?emulation_mode=``: Rasa 3's wit, LUIS and Dialogflow formats."""

from __future__ import annotations

from typing import Any

import pytest

from palaver.server import emulators

PARSED: dict[str, Any] = {
    "text": "fly from Berlin to Paris",
    "intent": {"name": "book_flight", "confidence": 0.9},
    "intent_ranking": [
        {"name": "book_flight", "confidence": 0.9},
        {"name": "greet", "confidence": 0.1},
    ],
    "entities": [
        {
            "entity": "city",
            "value": "Berlin",
            "start": 9,
            "end": 15,
            "role": "departure",
            "confidence_entity": 0.8,
            "extractor": "CRFEntityExtractor",
        },
        {"entity": "city", "value": "Paris", "start": 19, "end": 24, "confidence": 0.7},
    ],
}


def test_no_mode_returns_rasa_format() -> None:
    assert emulators.emulator_for(None)(PARSED) == PARSED


@pytest.mark.parametrize("mode", ["WIT", "wit", "LUIS", "luis", "DialogFlow"])
def test_modes_are_case_insensitive(mode: str) -> None:
    assert emulators.emulator_for(mode) is emulators.EMULATORS[mode.lower()]


def test_unknown_mode() -> None:
    with pytest.raises(KeyError):
        emulators.emulator_for("watson")


def test_wit() -> None:
    result = emulators.wit(PARSED)
    assert result["text"] == PARSED["text"]
    assert result["intents"] == [{"name": "book_flight", "confidence": 0.9}]
    assert result["entities"] == {
        "city:departure": [
            {
                "confidence": 0.8,
                "name": "city",
                "value": "Berlin",
                "body": "Berlin",
                "start": 9,
                "end": 15,
                "role": "departure",
                "entities": [],
            }
        ],
        "city:city": [
            {
                "confidence": 1,
                "name": "city",
                "value": "Paris",
                "body": "Paris",
                "start": 19,
                "end": 24,
                "role": "city",
                "entities": [],
            }
        ],
    }


def test_luis() -> None:
    result = emulators.luis(PARSED)
    prediction = result["prediction"]
    assert result["query"] == prediction["normalizedQuery"] == PARSED["text"]
    assert prediction["topIntent"] == "book_flight"
    assert prediction["intents"] == {"book_flight": {"score": 0.9}, "greet": {"score": 0.1}}
    entities = prediction["entities"]
    assert entities["departure"] == ["Berlin"]
    assert entities["city"] == ["Paris"]
    assert entities["$instance"]["departure"] == [
        {
            "role": "departure",
            "type": "city",
            "text": "Berlin",
            "startIndex": 9,
            "length": 6,
            "score": None,
            "modelType": "CRFEntityExtractor",
        }
    ]
    assert entities["$instance"]["city"][0]["score"] == 0.7


def test_luis_without_ranking_uses_the_top_intent() -> None:
    data = {"text": "hi", "intent": {"name": "greet", "confidence": 1.0}, "entities": []}
    assert emulators.luis(data)["prediction"]["intents"] == {"greet": {"score": 1.0}}
    assert emulators.luis({"text": "hi", "intent": {}})["prediction"]["topIntent"] is None


def test_dialogflow() -> None:
    result = emulators.dialogflow(PARSED)
    query = result["queryResult"]
    assert isinstance(result["responseId"], str) and result["responseId"]
    assert query == {
        "queryText": PARSED["text"],
        "action": "book_flight",
        "parameters": {"city": ["Berlin", "Paris"]},
        "fulfillmentText": "",
        "fulfillmentMessages": [],
        "outputContexts": [],
        "intent": {"name": "book_flight", "displayName": "book_flight"},
        "intentDetectionConfidence": 0.9,
    }


def test_request_text_accepts_a_one_element_list() -> None:
    assert emulators.request_text({"text": ["hello"]}) == "hello"
    assert emulators.request_text({"text": "hello"}) == "hello"
    assert emulators.request_text({}) is None
