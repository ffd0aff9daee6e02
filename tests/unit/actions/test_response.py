from __future__ import annotations

import logging
from typing import Any

import pytest

from palaver.actions import action_for_name
from palaver.actions.response import (
    ActionBotResponse,
    ActionEndToEndResponse,
    ActionRetrieveResponse,
    bot_uttered_from_message,
)
from palaver.core.domain import Domain
from palaver.core.events import BotUttered
from tests.unit.actions.helpers import context, make_tracker, user

DOMAIN = Domain.from_dict(
    {
        "intents": ["greet", {"faq": {"is_retrieval_intent": True}}],
        "responses": {
            "utter_greet": [
                {
                    "text": "Hello!",
                    "buttons": [{"title": "Hi", "payload": "/greet"}],
                    "image": "https://example.com/x.png",
                }
            ],
            "utter_faq/ask_name": [{"text": "I am Palaver."}],
        },
        "e2e_actions": ["Hello, end to end"],
    }
)


async def test_bot_response_renders_the_domain_response() -> None:
    tracker = make_tracker(DOMAIN, [])
    events = await ActionBotResponse("utter_greet").run(tracker, DOMAIN, context(DOMAIN))
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, BotUttered)
    assert event.text == "Hello!"
    assert event.data == {
        "elements": None,
        "quick_replies": None,
        "buttons": [{"title": "Hi", "payload": "/greet"}],
        "attachment": "https://example.com/x.png",
        "image": "https://example.com/x.png",
        "custom": None,
    }
    assert event.metadata == {"utter_action": "utter_greet"}


async def test_missing_response_logs_and_returns_no_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = make_tracker(DOMAIN, [])
    with caplog.at_level(logging.ERROR):
        assert await ActionBotResponse("utter_nope").run(tracker, DOMAIN, context(DOMAIN)) == []
    assert "utter_nope" in caplog.text


def test_factory_maps_retrieval_and_e2e_actions() -> None:
    domain = Domain.from_dict(
        {
            "intents": [{"faq": {"is_retrieval_intent": True}}],
            "responses": {"utter_faq": [{"text": "x"}], "utter_greet": [{"text": "y"}]},
            "e2e_actions": ["Hello, end to end"],
        }
    )
    assert isinstance(action_for_name("utter_faq", domain), ActionRetrieveResponse)
    assert isinstance(action_for_name("utter_greet", domain), ActionBotResponse)
    assert isinstance(action_for_name("Hello, end to end", domain), ActionEndToEndResponse)


def _selector(key: str) -> dict[str, Any]:
    return {
        "response_selector": {
            key: {
                "response": {
                    "utter_action": "utter_faq/ask_name",
                    "responses": [{"text": "Selector text"}],
                    "confidence": 0.9,
                },
                "ranking": [],
            }
        }
    }


@pytest.mark.parametrize("key", ["faq", "default"])
async def test_retrieval_response_uses_the_response_selector(key: str) -> None:
    tracker = make_tracker(DOMAIN, [user("faq", **_selector(key))])
    events = await ActionRetrieveResponse("utter_faq").run(tracker, DOMAIN, context(DOMAIN))
    assert [(e.text, e.metadata) for e in events if isinstance(e, BotUttered)] == [
        ("I am Palaver.", {"utter_action": "utter_faq/ask_name"})
    ]


async def test_retrieval_response_falls_back_to_the_selector_responses() -> None:
    domain = Domain.from_dict({"intents": [{"faq": {"is_retrieval_intent": True}}]})
    tracker = make_tracker(domain, [user("faq", **_selector("faq"))])
    events = await ActionRetrieveResponse("utter_faq").run(tracker, domain, context(domain))
    assert [e.text for e in events if isinstance(e, BotUttered)] == ["Selector text"]


async def test_retrieval_response_without_selector_output_is_silent() -> None:
    tracker = make_tracker(DOMAIN, [user("faq")])
    assert await ActionRetrieveResponse("utter_faq").run(tracker, DOMAIN, context(DOMAIN)) == []


async def test_end_to_end_response_utters_its_text() -> None:
    action = ActionEndToEndResponse("Hello, end to end")
    events = await action.run(make_tracker(DOMAIN, []), DOMAIN, context(DOMAIN))
    assert events == [BotUttered("Hello, end to end")]
    assert action.name == "Hello, end to end"


def test_bot_uttered_from_message_puts_unknown_keys_into_metadata() -> None:
    event = bot_uttered_from_message({"text": "t", "custom": {"a": 1}, "foo": "bar"})
    assert event.text == "t"
    assert event.data["custom"] == {"a": 1}
    assert event.metadata == {"foo": "bar"}
