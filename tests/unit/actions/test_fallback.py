"""The two-stage fallback loop and its helper actions (Rasa 3.6 behaviour)."""

from __future__ import annotations

from palaver.actions import action_for_name
from palaver.core.domain import Domain
from palaver.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Event,
    UserUtteranceReverted,
    UserUttered,
)
from tests.unit.actions.helpers import context, listen, make_tracker, user

DOMAIN = Domain.from_dict(
    {
        "intents": ["greet"],
        "responses": {
            "utter_ask_rephrase": [{"text": "Please rephrase"}],
            "utter_default": [{"text": "I give up"}],
        },
    }
)
TSF = "action_two_stage_fallback"
GIVE_UP = BotUttered("I give up", metadata={"utter_action": "utter_default"})


async def run(events: list[Event], name: str = TSF) -> list[Event]:
    tracker = make_tracker(DOMAIN, events)
    return await action_for_name(name, DOMAIN).run(tracker, DOMAIN, context(DOMAIN))


def bot_texts(events: list[Event]) -> list[str | None]:
    return [e.text for e in events if isinstance(e, BotUttered)]


def loop_turn(*bot: str) -> list[Event]:
    return [ActionExecuted(TSF), ActiveLoop(TSF), *(BotUttered(t) for t in bot), listen()]


async def test_activation_asks_for_affirmation() -> None:
    events = await run([listen(), user("nlu_fallback")])
    assert events[0] == ActiveLoop(TSF)
    assert bot_texts(events) == ["Did you mean 'nlu_fallback'?"]
    assert len(events) == 2


async def test_affirmation_replays_the_clarified_message() -> None:
    history = [listen(), user("nlu_fallback"), *loop_turn("Did you mean?"), user("greet", "/greet")]
    events = await run(history)
    assert events[:3] == [
        ActiveLoop(None),
        UserUtteranceReverted(),
        ActionExecuted("action_listen"),
    ]
    replay = events[3]
    assert isinstance(replay, UserUttered)
    assert replay.intent_name == "greet"
    assert replay.intent["confidence"] == 1.0
    assert replay.parse_data["intent"]["confidence"] == 1.0
    assert len(events) == 4


async def test_deny_asks_to_rephrase() -> None:
    history = [listen(), user("nlu_fallback"), *loop_turn("Did you mean?"), user("out_of_scope")]
    events = await run(history)
    assert bot_texts(events) == ["Please rephrase"]
    assert not any(isinstance(e, ActiveLoop) for e in events)


async def test_second_fallback_after_rephrase_asks_affirmation_again() -> None:
    history = [
        listen(),
        user("nlu_fallback"),
        *loop_turn("Did you mean?"),
        user("out_of_scope"),
        ActionExecuted(TSF),
        BotUttered("Please rephrase"),
        listen(),
        user("nlu_fallback"),
    ]
    assert bot_texts(await run(history)) == ["Did you mean 'nlu_fallback'?"]


async def test_second_deny_gives_up_with_the_default_fallback() -> None:
    history = [
        listen(),
        user("nlu_fallback"),
        *loop_turn("Did you mean?"),
        user("out_of_scope"),
        ActionExecuted(TSF),
        BotUttered("Please rephrase"),
        listen(),
        user("nlu_fallback"),
        ActionExecuted(TSF),
        BotUttered("Did you mean?"),
        listen(),
        user("out_of_scope"),
    ]
    events = await run(history)
    assert events == [ActiveLoop(None), GIVE_UP, UserUtteranceReverted()]


async def test_two_fallbacks_in_a_row_give_up() -> None:
    history = [listen(), user("nlu_fallback"), *loop_turn("Did you mean?"), user("nlu_fallback")]
    events = await run(history)
    assert events == [ActiveLoop(None), GIVE_UP, UserUtteranceReverted()]


async def test_revert_fallback_events_after_affirmation() -> None:
    history = [
        listen(),
        user("greet"),
        ActionExecuted("action_default_ask_affirmation"),
        BotUttered("Did you mean?"),
        listen(),
        user("greet", "/greet"),
    ]
    events = await run(history, "action_revert_fallback_events")
    assert events[:3] == [
        UserUtteranceReverted(),
        UserUtteranceReverted(),
        ActionExecuted("action_listen"),
    ]
    assert isinstance(events[3], UserUttered)
    assert events[3].intent["confidence"] == 1.0


async def test_revert_fallback_events_after_rephrasing() -> None:
    history = [
        listen(),
        user("nlu_fallback"),
        ActionExecuted("action_default_ask_rephrase"),
        listen(),
        user("greet", "hello there"),
    ]
    events = await run(history, "action_revert_fallback_events")
    assert events[:4] == [
        UserUtteranceReverted(),
        UserUtteranceReverted(),
        UserUtteranceReverted(),
        ActionExecuted("action_listen"),
    ]
    assert isinstance(events[4], UserUttered)
    assert events[4].text == "hello there"


async def test_revert_fallback_events_does_nothing_otherwise() -> None:
    assert await run([listen(), user("greet")], "action_revert_fallback_events") == []
