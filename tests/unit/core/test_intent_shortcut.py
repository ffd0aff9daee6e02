"""``/intent@confidence{entities}`` messages, parsed as Rasa 3.6 parses them."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from palaver.core.intent_shortcut import parse_intent_shortcut


def intent_of(parsed: dict[str, Any] | None) -> tuple[str, float]:
    assert parsed is not None
    return parsed["intent"]["name"], parsed["intent"]["confidence"]


def test_plain_intent_with_confidence_and_entities() -> None:
    text = '/inform@0.7{"cuisine": "thai", "number": [2, 3]}'
    parsed = parse_intent_shortcut(text)
    assert intent_of(parsed) == ("inform", 0.7)
    assert parsed is not None
    assert parsed["intent_ranking"] == [{"name": "inform", "confidence": 0.7}]
    start = text.index("{")
    assert parsed["entities"] == [
        {"entity": "cuisine", "value": "thai", "start": start, "end": len(text)},
        {"entity": "number", "value": 2, "start": start, "end": len(text)},
        {"entity": "number", "value": 3, "start": start, "end": len(text)},
    ]


@pytest.mark.parametrize("text", ["hello", "", "  ", "/", "/{}", "/@0.5", "a /greet"])
def test_texts_that_are_not_shortcuts_go_to_nlu(text: str) -> None:
    assert parse_intent_shortcut(text) is None


def test_surrounding_whitespace_is_stripped_first() -> None:
    parsed = parse_intent_shortcut("  /greet \n")
    assert intent_of(parsed) == ("greet", 1.0)
    assert parsed is not None
    assert parsed["text"] == "/greet"


@pytest.mark.parametrize(
    ("text", "confidence", "warning"),
    [
        ("/inform@2", 1.0, "above 1.0"),
        ("/inform@1.2.3", 0.0, "not a number"),
        ("/inform@0.25", 0.25, None),
    ],
)
def test_confidence_is_capped_or_zero_when_unusable(
    text: str, confidence: float, warning: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="palaver.core.intent_shortcut"):
        assert intent_of(parse_intent_shortcut(text)) == ("inform", confidence)
    if warning is None:
        assert not caplog.records
    else:
        assert warning in caplog.text


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        ("/inform{bad", "ignoring '{bad'"),
        ("/inform{not json}", "not valid JSON"),
        ('/inform{"a": 1} trailing', "ignoring ' trailing'"),
    ],
)
def test_broken_parts_are_dropped_with_a_warning_and_the_intent_kept(
    text: str, warning: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="palaver.core.intent_shortcut"):
        parsed = parse_intent_shortcut(text)
    assert intent_of(parsed) == ("inform", 1.0)
    assert warning in caplog.text
    if "trailing" in text:
        assert parsed is not None
        assert parsed["entities"][0]["value"] == 1


def test_entities_that_are_not_an_object_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="palaver.core.intent_shortcut"):
        parsed = parse_intent_shortcut('/inform{"a": 1}x{"b": 2}')
    # ``{.+}`` is greedy, as in Rasa: the whole tail is one (invalid) JSON text.
    assert parsed is not None
    assert parsed["entities"] == []
    assert "not valid JSON" in caplog.text
