from __future__ import annotations

from typing import Any

import pytest

from palaver.actions import DEFAULT_ACTIONS, action_for_name
from palaver.actions.errors import UnknownActionError
from palaver.actions.remote import RemoteAction
from palaver.core.constants import DEFAULT_ACTION_NAMES, RULE_SNIPPET_ACTION_NAME
from palaver.core.domain import Domain
from palaver.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
)
from tests.unit.actions.helpers import context, make_tracker, user

RESPONSES = {
    "utter_restart": [{"text": "restarted"}],
    "utter_default": [{"text": "sorry?"}],
    "utter_back": [{"text": "going back"}],
    "utter_ask_rephrase": [{"text": "rephrase please"}],
}
WITH = Domain.from_dict({"responses": RESPONSES})
WITHOUT = Domain.from_dict({})


async def run(
    name: str, domain: Domain, events: list[Event] | None = None, **ctx: Any
) -> list[Event]:
    tracker = make_tracker(domain, events or [])
    return await action_for_name(name, domain).run(tracker, domain, context(domain, **ctx))


def texts(events: list[Event]) -> list[str | None]:
    return [e.text for e in events if isinstance(e, BotUttered)]


def test_every_default_action_resolves_to_its_builtin() -> None:
    for name in DEFAULT_ACTION_NAMES:
        if name == RULE_SNIPPET_ACTION_NAME:
            continue
        assert action_for_name(name, WITHOUT) is DEFAULT_ACTIONS[name]


def test_custom_action_overrides_default_and_unknown_names_fail() -> None:
    domain = Domain.from_dict({"actions": ["action_session_start", "action_custom"]})
    assert isinstance(action_for_name("action_session_start", domain), RemoteAction)
    assert isinstance(action_for_name("action_custom", domain), RemoteAction)
    with pytest.raises(UnknownActionError, match="action_other"):
        action_for_name("action_other", domain)


async def test_listen_and_unlikely_intent_do_nothing() -> None:
    assert await run("action_listen", WITH) == []
    assert await run("action_unlikely_intent", WITH) == []


@pytest.mark.parametrize(
    ("name", "text", "tail"),
    [
        ("action_restart", "restarted", [Restarted()]),
        ("action_default_fallback", "sorry?", [UserUtteranceReverted()]),
        ("action_back", "going back", [UserUtteranceReverted(), UserUtteranceReverted()]),
        ("action_default_ask_rephrase", "rephrase please", []),
    ],
)
async def test_response_then_events(name: str, text: str, tail: list[Event]) -> None:
    with_response = await run(name, WITH)
    assert texts(with_response) == [text]
    assert with_response[0].metadata == {"utter_action": RESPONSES_NAME[name]}
    assert with_response[1:] == tail
    # Without the response the action is silent but still returns its events.
    assert await run(name, WITHOUT) == tail


RESPONSES_NAME = {
    "action_restart": "utter_restart",
    "action_default_fallback": "utter_default",
    "action_back": "utter_back",
    "action_default_ask_rephrase": "utter_ask_rephrase",
}


async def test_deactivate_loop() -> None:
    assert await run("action_deactivate_loop", WITH) == [
        ActiveLoop(None),
        SlotSet("requested_slot", None),
    ]


SLOT_DOMAIN = {"slots": {"name": {"type": "text", "mappings": [{"type": "custom"}]}}}


@pytest.mark.parametrize("carry_over", [True, False])
async def test_session_start(carry_over: bool) -> None:
    domain = Domain.from_dict(
        {**SLOT_DOMAIN, "session_config": {"carry_over_slots_to_new_session": carry_over}}
    )
    events = await run("action_session_start", domain, [SlotSet("name", "Ada")])
    carried = [SlotSet("name", "Ada")] if carry_over else []
    assert events == [SessionStarted(), *carried, ActionExecuted("action_listen")]


async def test_session_start_stores_the_message_metadata() -> None:
    domain = Domain.from_dict(
        {**SLOT_DOMAIN, "session_config": {"carry_over_slots_to_new_session": False}}
    )
    events = await run("action_session_start", domain, message_metadata={"lang": "de"})
    assert events == [
        SessionStarted(),
        SlotSet("session_started_metadata", {"lang": "de"}),
        ActionExecuted("action_listen"),
    ]


async def test_session_start_does_not_duplicate_metadata_already_set() -> None:
    domain = Domain.from_dict(SLOT_DOMAIN)
    metadata = {"lang": "de"}
    events = await run(
        "action_session_start",
        domain,
        [SlotSet("session_started_metadata", metadata)],
        message_metadata=metadata,
    )
    assert events == [
        SessionStarted(),
        SlotSet("session_started_metadata", metadata),
        ActionExecuted("action_listen"),
    ]


async def test_send_text_sends_the_prediction_metadata_message() -> None:
    events = await run(
        "action_send_text", WITH, action_metadata={"message": {"text": "hi", "custom": {"a": 1}}}
    )
    assert texts(events) == ["hi"]
    assert isinstance(events[0], BotUttered)
    assert events[0].data["custom"] == {"a": 1}
    assert texts(await run("action_send_text", WITH)) == [""]


async def test_ask_affirmation_offers_the_top_intent() -> None:
    domain = Domain.from_dict({"intents": ["greet"]})
    events = await run("action_default_ask_affirmation", domain, [user("greet")])
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, BotUttered)
    assert event.text == "Did you mean 'greet'?"
    assert event.data["buttons"] == [
        {"title": "Yes", "payload": "/greet"},
        {"title": "No", "payload": "/out_of_scope"},
    ]
    assert event.metadata == {"utter_action": "action_default_ask_affirmation"}


async def test_ask_affirmation_skips_nlu_fallback_in_the_ranking() -> None:
    domain = Domain.from_dict({"intents": ["greet"]})
    message = user(
        "nlu_fallback",
        intent_ranking=[
            {"name": "nlu_fallback", "confidence": 0.3},
            {"name": "greet", "confidence": 0.2},
        ],
    )
    events = await run("action_default_ask_affirmation", domain, [message])
    assert texts(events) == ["Did you mean 'greet'?"]


def test_resolved_actions_follow_the_domain_they_were_asked_for() -> None:
    """The identity fast path of the last domain never answers for another domain."""
    custom = Domain.from_dict({"actions": ["action_session_start"]})
    for _ in range(3):  # alternate, so each call misses the single-entry fast path
        assert (
            action_for_name("action_session_start", WITHOUT)
            is DEFAULT_ACTIONS["action_session_start"]
        )
        assert isinstance(action_for_name("action_session_start", custom), RemoteAction)
    first = action_for_name("action_session_start", custom)
    assert action_for_name("action_session_start", custom) is first  # cached per domain
