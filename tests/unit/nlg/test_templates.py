from __future__ import annotations

import random
from collections import Counter
from typing import Any

from palaver.core.domain import Domain
from palaver.core.events import SlotSet
from palaver.core.tracker import DialogueStateTracker
from palaver.nlg import TemplatedNaturalLanguageGenerator, create_nlg
from palaver.nlg.templates import candidate_variations

RESPONSES: dict[str, list[dict[str, Any]]] = {
    "utter_greet": [
        {"text": "default"},
        {"text": "on slack", "channel": "slack"},
        {"text": "vip", "condition": [{"type": "slot", "name": "vip", "value": True}]},
        {
            "text": "vip on slack",
            "channel": "slack",
            "condition": [{"type": "slot", "name": "vip", "value": True}],
        },
    ],
}


def texts(variations: list[dict[str, Any]]) -> list[str]:
    return [v["text"] for v in variations]


def test_channel_specific_variations_win_over_default_ones() -> None:
    variations = RESPONSES["utter_greet"]
    assert texts(candidate_variations(variations, "slack", {"vip": False})) == ["on slack"]
    assert texts(candidate_variations(variations, "rest", {"vip": False})) == ["default"]


def test_matching_conditions_win_and_channel_breaks_the_tie() -> None:
    variations = RESPONSES["utter_greet"]
    assert texts(candidate_variations(variations, "slack", {"vip": True})) == ["vip on slack"]
    assert texts(candidate_variations(variations, "rest", {"vip": True})) == ["vip"]


def test_other_channels_variations_are_never_used() -> None:
    only_slack = [{"text": "slack", "channel": "slack"}]
    assert candidate_variations(only_slack, "rest", {}) == []


def test_condition_compares_strings_case_insensitively_and_needs_all_constraints() -> None:
    variations: list[dict[str, Any]] = [
        {
            "text": "both",
            "condition": [
                {"type": "slot", "name": "a", "value": "Yes"},
                {"type": "slot", "name": "b", "value": 1},
            ],
        },
        {"text": "fallback"},
    ]
    assert texts(candidate_variations(variations, "rest", {"a": "yes", "b": 1})) == ["both"]
    assert texts(candidate_variations(variations, "rest", {"a": "yes", "b": 2})) == ["fallback"]


def test_random_choice_is_reproducible_with_an_injected_rng() -> None:
    responses = {"utter_x": [{"text": str(i)} for i in range(5)]}
    first = TemplatedNaturalLanguageGenerator(responses, rng=random.Random(7))
    second = TemplatedNaturalLanguageGenerator(responses, rng=random.Random(7))
    picks = [first.generate_from_slots("utter_x", {}, "rest") for _ in range(20)]
    assert picks == [second.generate_from_slots("utter_x", {}, "rest") for _ in range(20)]
    assert len(Counter(p["text"] for p in picks if p)) > 1


async def test_generate_interpolates_slots_and_kwargs_in_all_text_like_keys() -> None:
    domain = Domain.from_dict(
        {
            "slots": {"city": {"type": "text", "mappings": [{"type": "custom"}]}},
            "responses": {
                "utter_city": [
                    {
                        "text": "City {city}, {extra}",
                        "image": "https://img/{city}.png",
                        "buttons": [{"title": "Go {city}", "payload": '/go{{"c":"{city}"}}'}],
                        "custom": {"payload": {"city": "{city}"}, "list": ["{extra}"]},
                    }
                ]
            },
        }
    )
    tracker = DialogueStateTracker.from_events(
        "s", [SlotSet("city", "Oslo")], domain.create_slots()
    )
    nlg = create_nlg(None, domain)
    message = await nlg.generate("utter_city", tracker, "rest", extra="now")
    assert message == {
        "text": "City Oslo, now",
        "image": "https://img/Oslo.png",
        "buttons": [{"title": "Go Oslo", "payload": '/go{"c":"Oslo"}'}],
        "custom": {"payload": {"city": "Oslo"}, "list": ["now"]},
    }
    # The domain's response is not modified by rendering.
    assert domain.responses["utter_city"][0]["text"] == "City {city}, {extra}"


async def test_unknown_response_gives_none() -> None:
    domain = Domain.from_dict({})
    nlg = create_nlg({"type": "response"}, domain)
    tracker = DialogueStateTracker("s", domain.create_slots())
    assert await nlg.generate("utter_missing", tracker, "rest") is None
