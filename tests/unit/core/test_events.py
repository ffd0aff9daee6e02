"""Events: Rasa JSON, round trips, validation, equality."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from palaver.core import constants
from palaver.core.events import (
    EVENT_TYPES,
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    AgentUttered,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    DefinePrevUserUtteredFeaturization,
    EntitiesAdded,
    Event,
    FollowupAction,
    LoopInterrupted,
    ReminderCancelled,
    ReminderScheduled,
    Restarted,
    SessionStarted,
    SlotSet,
    StoryExported,
    UserUtteranceReverted,
    UserUttered,
    do_events_begin_with_session_start,
    event_from_dict,
    events_from_dicts,
)
from palaver.errors import InvalidEventError

TS = 1_700_000_000.5
META = {"model_id": "m1"}
PARSE = {
    "intent": {"name": "inform", "confidence": 0.93},
    "entities": [{"entity": "city", "value": "Berlin", "start": 8, "end": 14}],
    "text": "I'm in Berlin",
    "message_id": "mid-1",
    "metadata": {},
    "intent_ranking": [
        {"name": "inform", "confidence": 0.93},
        {"name": "greet", "confidence": 0.07},
    ],
    "response_selector": {"all_retrieval_intents": [], "default": {"response": {}, "ranking": []}},
}
WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def _samples() -> list[Event]:
    return [
        UserUttered("I'm in Berlin", parse_data=PARSE, input_channel="rest", message_id="mid-1"),
        UserUttered("hi", {"name": "greet", "confidence": 1.0}, metadata=META, timestamp=TS),
        UserUttered.create_external("EXTERNAL_dry_plant", [{"entity": "plant", "value": "x"}]),
        BotUttered("hello", {"buttons": [{"title": "a", "payload": "/a"}]}, {"utter_action": "u"}),
        BotUttered(),
        ActionExecuted("utter_greet", "policy_1_RulePolicy", 1.0, timestamp=TS),
        ActionExecuted(action_text="e2e bot text", hide_rule_turn=True, metadata=META),
        SlotSet("city", "Berlin"),
        SlotSet("numbers", [1, 2, {"a": None}], metadata=META),
        AllSlotsReset(),
        Restarted(metadata=META),
        UserUtteranceReverted(),
        ActionReverted(),
        ConversationPaused(),
        ConversationResumed(),
        FollowupAction("action_x"),
        ReminderScheduled("remind", WHEN, [{"entity": "e", "value": 1}], "r1", False),
        ReminderScheduled("remind", datetime(2024, 1, 1, 8, 0), name="naive"),
        ReminderCancelled("r1", "remind", [{"entity": "e"}]),
        ReminderCancelled(),
        ActiveLoop("restaurant_form"),
        ActiveLoop(None),
        LoopInterrupted(True),
        LoopInterrupted(False, metadata=META),
        ActionExecutionRejected("restaurant_form", "policy_2_RulePolicy", 0.7),
        SessionStarted(),
        EntitiesAdded([{"entity": "city", "value": "Paris"}]),
        DefinePrevUserUtteredFeaturization(True),
        AgentUttered("agent text", {"any": ["thing"]}),
        StoryExported("stories.yml"),
    ]


@pytest.mark.parametrize("event", _samples(), ids=lambda e: type(e).__name__)
def test_round_trip_through_json(event: Event) -> None:
    as_json = json.loads(json.dumps(event.as_dict()))
    restored = event_from_dict(as_json)
    assert type(restored) is type(event)
    assert restored == event
    assert restored.timestamp == event.timestamp
    assert restored.metadata == event.metadata
    assert restored.as_dict() == as_json


def test_every_event_type_has_a_sample() -> None:
    assert {type(e) for e in _samples()} == set(EVENT_TYPES.values())
    assert set(EVENT_TYPES) == {
        "user", "bot", "action", "slot", "reset_slots", "restart", "rewind", "undo",
        "pause", "resume", "followup", "reminder", "cancel_reminder", "active_loop",
        "loop_interrupted", "action_execution_rejected", "session_started", "entities",
        "user_featurization", "agent", "export",
    }  # fmt: skip


def test_user_json_is_rasas() -> None:
    event = UserUttered(
        "I'm in Berlin", parse_data=PARSE, input_channel="rest", message_id="mid-1", timestamp=TS
    )
    assert event.as_dict() == {
        "event": "user",
        "timestamp": TS,
        "text": "I'm in Berlin",
        "parse_data": {
            "intent": {"name": "inform", "confidence": 0.93},
            "entities": [{"entity": "city", "value": "Berlin", "start": 8, "end": 14}],
            "text": "I'm in Berlin",
            "message_id": "mid-1",
            "metadata": {},
            "intent_ranking": PARSE["intent_ranking"],
            "response_selector": PARSE["response_selector"],
        },
        "input_channel": "rest",
        "message_id": "mid-1",
        "metadata": {},
    }
    assert event.intent_name == "inform"
    assert event.entities == PARSE["entities"]


def test_user_json_without_parse_data() -> None:
    event = UserUttered("hi", {"name": "greet"}, timestamp=TS, message_id="x", metadata=META)
    assert list(event.as_dict()) == [
        "event", "timestamp", "metadata", "text", "parse_data", "input_channel", "message_id",
    ]  # fmt: skip
    assert event.as_dict()["parse_data"] == {
        "intent": {"name": "greet"},
        "entities": [],
        "text": "hi",
        "message_id": "x",
        "metadata": META,
    }


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            BotUttered("hi", {"buttons": None, "custom": {"a": 1}}, {"k": "v"}, TS),
            {
                "event": "bot",
                "timestamp": TS,
                "metadata": {"k": "v"},
                "text": "hi",
                "data": {"buttons": None, "custom": {"a": 1}},
            },
        ),
        (
            BotUttered("hi", timestamp=TS),
            {"event": "bot", "timestamp": TS, "text": "hi", "data": {}, "metadata": {}},
        ),
        (
            ActionExecuted("action_listen", "policy_0_MemoizationPolicy", 1.0, timestamp=TS),
            {
                "event": "action",
                "timestamp": TS,
                "name": "action_listen",
                "policy": "policy_0_MemoizationPolicy",
                "confidence": 1.0,
                "action_text": None,
                "hide_rule_turn": False,
            },
        ),
        (
            SlotSet("city", "Berlin", timestamp=TS),
            {"event": "slot", "timestamp": TS, "name": "city", "value": "Berlin"},
        ),
        (
            SlotSet("city", None, timestamp=TS, metadata=META),
            {"event": "slot", "timestamp": TS, "metadata": META, "name": "city", "value": None},
        ),
        (Restarted(timestamp=TS), {"event": "restart", "timestamp": TS}),
        (SessionStarted(timestamp=TS), {"event": "session_started", "timestamp": TS}),
        (
            ReminderScheduled("remind", WHEN, None, "r1", timestamp=TS),
            {
                "event": "reminder",
                "timestamp": TS,
                "intent": "remind",
                "date_time": "2024-05-01T12:30:00+00:00",
                "entities": None,
                "name": "r1",
                "kill_on_user_msg": True,
            },
        ),
        (FollowupAction("a", timestamp=TS), {"event": "followup", "timestamp": TS, "name": "a"}),
        (ActiveLoop("f", timestamp=TS), {"event": "active_loop", "timestamp": TS, "name": "f"}),
        (
            LoopInterrupted(True, timestamp=TS),
            {"event": "loop_interrupted", "timestamp": TS, "is_interrupted": True},
        ),
        (
            ActionExecutionRejected("f", timestamp=TS),
            {
                "event": "action_execution_rejected",
                "timestamp": TS,
                "name": "f",
                "policy": None,
                "confidence": None,
            },
        ),
        (
            EntitiesAdded([{"entity": "e", "value": 1}], timestamp=TS),
            {"event": "entities", "timestamp": TS, "entities": [{"entity": "e", "value": 1}]},
        ),
        (
            DefinePrevUserUtteredFeaturization(False, timestamp=TS),
            {"event": "user_featurization", "timestamp": TS, "use_text_for_featurization": False},
        ),
        (
            AgentUttered("t", None, timestamp=TS),
            {"event": "agent", "timestamp": TS, "text": "t", "data": None},
        ),
    ],
    ids=lambda v: v["event"] if isinstance(v, dict) else "",
)
def test_rasa_json(event: Event, expected: dict[str, Any]) -> None:
    assert event.as_dict() == expected
    assert list(event.as_dict()) == list(expected)


def test_timestamp_defaults_to_now() -> None:
    before = time.time()
    event = SlotSet("a", 1)
    parsed = event_from_dict({"event": "slot", "name": "a", "timestamp": None})
    assert before <= event.timestamp <= time.time()
    assert before <= parsed.timestamp <= time.time()
    assert event_from_dict({"event": "slot", "name": "a", "timestamp": 3}).timestamp == 3


def test_legacy_form_events() -> None:
    form = event_from_dict({"event": "form", "name": "f", "timestamp": TS})
    assert form == ActiveLoop("f")
    assert form.as_dict() == {"event": "active_loop", "timestamp": TS, "name": "f"}
    validation = event_from_dict({"event": "form_validation", "validate": False})
    assert validation == LoopInterrupted(True)
    assert event_from_dict({"event": "form_validation"}) == LoopInterrupted(False)
    assert event_from_dict({"event": "form", "name": None}) == ActiveLoop(None)


# Event dicts exactly as rasa-sdk's helpers build them, made by a real rasa-sdk
# (in its own virtualenv, like an action server).
_RASA_SDK_EVENTS = """
import json
from datetime import UTC, datetime
from rasa_sdk import events as sdk
WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
print(json.dumps([
    sdk.UserUttered("hi", {"intent": {"name": "greet"}, "entities": []}, input_channel="x"),
    sdk.UserUttered("no parse data"),
    sdk.BotUttered("hello", {"custom": {"a": 1}}, {"m": 1}),
    sdk.SlotSet("city", "Berlin"),
    sdk.Restarted(),
    sdk.SessionStarted(),
    sdk.UserUtteranceReverted(),
    sdk.AllSlotsReset(),
    sdk.ReminderScheduled("remind", WHEN, {"city": "Berlin"}, "r", False),
    sdk.ReminderCancelled("r", "remind"),
    sdk.ActionReverted(),
    sdk.StoryExported(),
    sdk.FollowupAction("action_x"),
    sdk.ConversationPaused(),
    sdk.ConversationResumed(),
    sdk.ActionExecuted("action_x"),
    sdk.AgentUttered("agent"),
    sdk.ActiveLoop("form"),
    sdk.ActiveLoop(None),
    sdk.LoopInterrupted(True),
    sdk.ActionExecutionRejected("form"),
], default=str))
"""


def test_events_from_rasa_sdk(rasa_sdk_python: str) -> None:
    import subprocess

    made = subprocess.run(
        [rasa_sdk_python, "-c", _RASA_SDK_EVENTS],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    dicts = json.loads(made.stdout)
    events = events_from_dicts(dicts)
    first = events[0]
    assert first == UserUttered("hi", {"name": "greet"}, input_channel="x")
    assert isinstance(first, UserUttered)
    assert first.input_channel == "x"
    assert events[1] == UserUttered("no parse data")
    assert events[2] == BotUttered("hello", {"custom": {"a": 1}}, {"m": 1})
    assert events[3] == SlotSet("city", "Berlin")
    reminder = events[8]
    assert isinstance(reminder, ReminderScheduled)
    assert reminder.trigger_date_time == WHEN
    assert reminder.entities == {"city": "Berlin"}
    assert reminder.kill_on_user_message is False
    assert events[9] == ReminderCancelled("r", "remind")
    assert [type(e) for e in events[10:]] == [
        ActionReverted, StoryExported, FollowupAction, ConversationPaused, ConversationResumed,
        ActionExecuted, AgentUttered, ActiveLoop, ActiveLoop, LoopInterrupted,
        ActionExecutionRejected,
    ]  # fmt: skip
    assert all(isinstance(e.timestamp, float) for e in events)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"timestamp": 1.0}, "field 'event' is missing"),
        ({"event": "nope"}, "unknown event type 'nope'"),
        ({"event": 3}, "unknown event type 3"),
        ({"event": "slot", "timestamp": "yesterday", "name": "a"}, "field 'timestamp'"),
        ({"event": "slot", "timestamp": True, "name": "a"}, "field 'timestamp'"),
        ({"event": "slot", "metadata": [], "name": "a"}, "field 'metadata' must be an object"),
        ({"event": "slot", "value": 1}, "'slot' event: field 'name' is missing"),
        ({"event": "slot", "name": 5}, "field 'name' must be a string, got int 5"),
        ({"event": "user", "text": 5}, "field 'text' must be a string or null"),
        ({"event": "user", "parse_data": "x"}, "field 'parse_data' must be an object"),
        ({"event": "user", "parse_data": {"intent": "greet"}}, "'parse_data.intent'"),
        ({"event": "user", "parse_data": {"entities": {}}}, "'parse_data.entities'"),
        ({"event": "user", "parse_data": {"entities": ["x"]}}, "'parse_data.entities'"),
        ({"event": "user", "input_channel": 1}, "field 'input_channel'"),
        ({"event": "bot", "data": "x"}, "'bot' event: field 'data' must be an object"),
        ({"event": "action"}, "'action' event: field 'name' is required"),
        ({"event": "action", "name": "a", "confidence": "high"}, "field 'confidence'"),
        ({"event": "action", "name": "a", "hide_rule_turn": "yes"}, "field 'hide_rule_turn'"),
        ({"event": "action", "name": "a", "policy": 3}, "field 'policy'"),
        ({"event": "followup"}, "'followup' event: field 'name' is missing"),
        ({"event": "reminder", "date_time": "2024-01-01"}, "field 'intent' is missing"),
        ({"event": "reminder", "intent": "i"}, "field 'date_time' is missing"),
        ({"event": "reminder", "intent": "i", "date_time": "soon"}, "ISO 8601"),
        (
            {"event": "reminder", "intent": "i", "date_time": "2024-01-01", "entities": 3},
            "entities",
        ),
        ({"event": "cancel_reminder", "name": 3}, "field 'name'"),
        ({"event": "active_loop", "name": ["f"]}, "field 'name'"),
        ({"event": "form", "name": 1}, "'form' event: field 'name'"),
        ({"event": "loop_interrupted", "is_interrupted": "no"}, "field 'is_interrupted'"),
        ({"event": "form_validation", "validate": 0}, "field 'validate'"),
        ({"event": "action_execution_rejected"}, "field 'name' is missing"),
        ({"event": "entities", "entities": "city"}, "field 'entities'"),
        ({"event": "user_featurization"}, "field 'use_text_for_featurization'"),
        ({"event": "export", "path": 1}, "field 'path'"),
    ],
)
def test_invalid_event_names_the_problem(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEventError, match=re.escape(message)):
        event_from_dict(data)


def test_non_object_is_invalid() -> None:
    with pytest.raises(InvalidEventError, match="must be a JSON object, got list"):
        event_from_dict([])  # type: ignore[arg-type]


def test_events_from_dicts_names_the_index() -> None:
    with pytest.raises(InvalidEventError, match=r"^events\[1\]: .*field 'name'") as info:
        events_from_dicts([{"event": "restart"}, {"event": "slot"}])
    assert isinstance(info.value.__cause__, InvalidEventError)


def test_action_needs_name_or_text() -> None:
    with pytest.raises(InvalidEventError):
        ActionExecuted()
    assert ActionExecuted(action_text="t").as_sub_state() == {"action_text": "t"}
    assert ActionExecuted("a", action_text="t").as_sub_state() == {"action_name": "a"}


def test_equality_ignores_timestamps_and_compares_like_rasa() -> None:
    assert SlotSet("a", 1, timestamp=1) == SlotSet("a", 1, timestamp=2)
    assert SlotSet("a", 1) != SlotSet("a", 2)
    assert SlotSet("a", 1) != SlotSet("b", 1)
    assert Restarted(timestamp=1) == Restarted(timestamp=2)
    assert Restarted() != SessionStarted()
    assert ActionExecuted("a", "p1", 0.1) == ActionExecuted("a", "p2", 0.9)
    assert ActionExecuted("a", metadata={"x": 1}) != ActionExecuted("a")
    assert ActionExecuted("a", metadata={"x": None}) == ActionExecuted("a")
    assert BotUttered("t", {"buttons": None}) == BotUttered("t", {})
    assert BotUttered("t") != BotUttered("u")
    assert UserUttered("t", {"name": "a", "confidence": 0.1}) == UserUttered("t", {"name": "a"})
    assert UserUttered("t", {"name": "a"}) != UserUttered("t", {"name": "b"})
    assert ReminderScheduled("i", WHEN, name="x") == ReminderScheduled("j", WHEN, name="x")
    assert ActiveLoop("f") != ActiveLoop(None)
    assert SlotSet("a", 1) != "slot"


def test_events_are_hashable_consistently_with_equality() -> None:
    assert len({SlotSet("a", [1]), SlotSet("a", [1], timestamp=5), SlotSet("a", [2])}) == 2
    assert len({Restarted(), Restarted(), UserUttered("x", {"name": "i"})}) == 2


def test_reprs_are_readable() -> None:
    assert repr(SlotSet("a", 1)) == "SlotSet('a', 1)"
    assert repr(Restarted()) == "Restarted()"


def test_user_uttered_details() -> None:
    message = UserUttered("hi", parse_data=PARSE)
    assert message.intent == PARSE["intent"]
    message.entities.append({"entity": "extra"})
    assert len(message.parse_data["entities"]) == 1  # policies' entities are not persisted
    assert UserUttered("only text").use_text_for_featurization is True
    assert UserUttered(intent={"name": "greet"}).use_text_for_featurization is False
    assert UserUttered("t", {"name": "i"}).use_text_for_featurization is None
    assert UserUttered().is_empty()
    retrieval = UserUttered("q", {"name": "faq", "full_retrieval_intent_name": "faq/ask"})
    assert retrieval.full_retrieval_intent_name == "faq/ask"
    external = UserUttered.create_external("remind", input_channel="cron")
    assert external.text == "EXTERNAL: remind"
    assert external.metadata == {"is_external": True}
    assert external.intent_name == "remind"


def test_user_sub_state() -> None:
    entities = [
        {"entity": "city", "value": "B", "role": "from"},
        {"entity": "date", "value": "d", "group": "1"},
    ]
    message = UserUttered("t", {"name": "inform"}, entities)
    assert message.as_sub_state() == {
        "text": "t",
        "intent": "inform",
        "entities": ["city", "date", "city#from", "date#1"],
    }
    message.use_text_for_featurization = True
    assert message.as_sub_state() == {"text": "t"}
    message.use_text_for_featurization = False
    assert message.as_sub_state() == {
        "intent": "inform",
        "entities": ["city", "date", "city#from", "date#1"],
    }


def test_bot_uttered_from_message_and_message() -> None:
    bot = BotUttered.from_message(
        {"text": "hi", "image": "http://i", "buttons": [{"title": "t"}], "utter_action": "utter_x"}
    )
    assert bot.text == "hi"
    assert bot.data == {
        "elements": None,
        "quick_replies": None,
        "buttons": [{"title": "t"}],
        "attachment": "http://i",
        "image": "http://i",
        "custom": None,
    }
    assert bot.metadata == {"utter_action": "utter_x"}
    message = bot.message()
    assert message["attachment"] is None
    assert message["image"] == "http://i"
    assert message["utter_action"] == "utter_x"
    assert message["timestamp"] == bot.timestamp


def test_reminder_defaults() -> None:
    first = ReminderScheduled("i", WHEN)
    second = ReminderScheduled("i", WHEN)
    assert first.name != second.name
    assert first.kill_on_user_message is True
    parsed = event_from_dict(
        {"event": "reminder", "intent": "i", "date_time": "2024-05-01T12:30:00Z"}
    )
    assert isinstance(parsed, ReminderScheduled)
    assert parsed.trigger_date_time == WHEN


def test_aliases() -> None:
    assert SlotSet("a").name == "a"
    assert FollowupAction("f").name == "f"
    assert ActionExecutionRejected("f").name == "f"
    assert Event.from_dict({"event": "slot", "name": "a", "value": 1}) == SlotSet("a", 1)


def test_session_start_detection() -> None:
    assert do_events_begin_with_session_start(
        [ActionExecuted("action_session_start"), SessionStarted(), SlotSet("a")]
    )
    assert not do_events_begin_with_session_start([ActionExecuted("action_session_start")])
    assert not do_events_begin_with_session_start(
        [ActionExecuted("action_listen"), SessionStarted()]
    )


def test_default_names_match_rasa_3_6() -> None:
    assert constants.DEFAULT_ACTION_NAMES == (
        "action_listen",
        "action_restart",
        "action_session_start",
        "action_default_fallback",
        "action_deactivate_loop",
        "action_revert_fallback_events",
        "action_default_ask_affirmation",
        "action_default_ask_rephrase",
        "action_two_stage_fallback",
        "action_unlikely_intent",
        "action_back",
        "action_send_text",
        "...",
        "action_extract_slots",
    )
    assert constants.DEFAULT_INTENTS == (
        "restart",
        "back",
        "out_of_scope",
        "session_start",
        "nlu_fallback",
    )
    assert {"requested_slot", "session_started_metadata"} == constants.DEFAULT_SLOT_NAMES


def test_user_uttered_explicit_fields_win_over_parse_data() -> None:
    message = UserUttered("t", {"name": "explicit"}, [], parse_data=PARSE)
    assert message.intent_name == "explicit"
    assert message.entities == []
    assert message.parse_data["intent"] == PARSE["intent"]
