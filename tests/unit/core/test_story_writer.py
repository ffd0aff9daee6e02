"""Conversations as YAML test stories (``GET /conversations/{id}/story``)."""

from __future__ import annotations

import pytest

from palaver.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from palaver.core.story_writer import (
    conversation_stories_yaml,
    format_message,
    split_sessions,
    story_from_tracker,
)
from palaver.core.tracker import DialogueStateTracker
from palaver.data.stories import ActionStep, ActiveLoopStep, SlotStep, UserStep
from palaver.data.stories_reader import StoryReader
from palaver.data.yaml_io import read_yaml


def _session_start() -> list[object]:
    return [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
    ]


def _user(text: str, intent: str, entities: list[dict[str, object]] | None = None) -> UserUttered:
    return UserUttered(text, {"name": intent, "confidence": 0.99}, entities or [])


def _tracker(*events: object, sender: str = "alice") -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, None)
    tracker.update_with_events(events)  # type: ignore[arg-type]
    return tracker


def test_story_matches_rasa_test_story_format() -> None:
    tracker = _tracker(
        *_session_start(),
        _user("hello", "greet"),
        ActionExecuted("utter_greet"),
        BotUttered("Hey!"),
        ActionExecuted("action_listen"),
    )
    assert conversation_stories_yaml([tracker], "alice") == (
        'version: "3.1"\n'
        "stories:\n"
        "- story: alice\n"
        "  steps:\n"
        "  - intent: greet\n"
        "    user: |-\n"
        "      hello\n"
        "  - action: utter_greet\n"
    )


def test_entities_are_annotated_inline() -> None:
    text = "a table in Berlin for two"
    entities = [
        {"entity": "city", "value": "Berlin", "start": 11, "end": 17},
        {"entity": "people", "value": 2, "start": 22, "end": 25},
    ]
    assert format_message(text, entities) == (
        'a table in [Berlin](city) for [two]{"entity": "people", "value": 2}'
    )


def test_roles_groups_and_missing_offsets() -> None:
    text = "fly from Paris"
    entities = [
        {"entity": "city", "value": "Paris", "start": 9, "end": 14, "role": "departure"},
        {"entity": "mood", "value": "happy"},  # no offsets: not annotated
    ]
    assert format_message(text, entities) == (
        'fly from [Paris]{"entity": "city", "role": "departure"}'
    )


def test_overlapping_entities_keep_the_first() -> None:
    text = "New York"
    entities = [
        {"entity": "city", "value": "New York", "start": 0, "end": 8},
        {"entity": "state", "value": "York", "start": 4, "end": 8},
    ]
    assert format_message(text, entities) == "[New York](city)"


def test_slots_loops_and_end_to_end_bot_texts() -> None:
    tracker = _tracker(
        *_session_start(),
        _user("book it", "request_booking"),
        ActionExecuted("booking_form"),
        ActiveLoop("booking_form"),
        SlotSet("requested_slot", "city"),
        SlotSet("city", "Berlin"),
        ActiveLoop(None),
        ActionExecuted(action_text="Booked!"),
    )
    story = story_from_tracker(tracker)
    assert story["steps"][1:] == [
        {"action": "booking_form"},
        {"active_loop": "booking_form"},
        {"slot_was_set": [{"requested_slot": "city"}]},
        {"slot_was_set": [{"city": "Berlin"}]},
        {"active_loop": None},
        {"bot": "Booked!"},
    ]
    assert "- active_loop: null\n" in conversation_stories_yaml([tracker], "alice")


def test_loop_turns_collapse_as_in_rasa_applied_events() -> None:
    tracker = _tracker(
        *_session_start(),
        _user("book it", "request_booking"),
        ActionExecuted("booking_form"),
        ActiveLoop("booking_form"),
        ActionExecuted("action_listen"),
        _user("Berlin", "inform"),
        ActionExecuted("booking_form"),
        SlotSet("city", "Berlin"),
    )
    steps = story_from_tracker(tracker)["steps"]
    assert {"intent": "inform", "user": "Berlin"} not in steps
    assert steps[-1] == {"slot_was_set": [{"city": "Berlin"}]}


def test_retrieval_intents_use_the_full_name() -> None:
    event = UserUttered(
        "what is your name",
        {"name": "faq", "confidence": 1.0, "full_retrieval_intent_name": "faq/ask_name"},
    )
    tracker = _tracker(*_session_start(), event)
    assert story_from_tracker(tracker)["steps"] == [
        {"intent": "faq/ask_name", "user": "what is your name"}
    ]


def test_only_applied_events_are_written() -> None:
    tracker = _tracker(
        *_session_start(),
        _user("hi", "greet"),
        ActionExecuted("utter_greet"),
        Restarted(),
        *_session_start(),
        _user("bye", "goodbye"),
    )
    assert story_from_tracker(tracker)["steps"] == [{"intent": "goodbye", "user": "bye"}]


def test_sessions_are_split_and_named_like_rasa() -> None:
    tracker = _tracker(
        *_session_start(),
        _user("hi", "greet"),
        *_session_start(),
        _user("bye", "goodbye"),
        sender="bob",
    )
    sessions = split_sessions(tracker)
    assert [len(s.events) for s in sessions] == [4, 4]
    text = conversation_stories_yaml(sessions, "bob")
    assert "- story: bob, story 1\n" in text
    assert "- story: bob, story 2\n" in text


def test_events_before_the_first_session_form_a_session() -> None:
    tracker = _tracker(_user("hi", "greet"), *_session_start(), _user("bye", "goodbye"))
    assert [len(s.events) for s in split_sessions(tracker)] == [1, 4]


def test_no_trackers_give_an_empty_document() -> None:
    assert conversation_stories_yaml([], "x") == 'version: "3.1"\n'


@pytest.mark.parametrize("text", ["multi\nline message", "quotes \" and 'single'", "a: b # c"])
def test_output_reads_back_as_the_same_story(text: str) -> None:
    entities = [{"entity": "thing", "value": "multi", "start": 0, "end": 5}]
    tracker = _tracker(
        *_session_start(),
        _user(text, "inform", entities if text.startswith("multi") else []),
        ActionExecuted("utter_ok"),
        SlotSet("thing", "multi"),
        ActiveLoop("a_form"),
    )
    content = read_yaml(conversation_stories_yaml([tracker], "alice"))
    (story,) = StoryReader({"thing": "text"}).read(content["stories"], is_rule=False)
    user, action, slot, loop = story.steps
    assert isinstance(user, UserStep)
    assert user.intent == "inform" and user.text == text
    if text.startswith("multi"):
        assert [(e["entity"], e["start"], e["end"]) for e in user.entities] == [("thing", 0, 5)]
    assert action == ActionStep("utter_ok")
    assert slot == SlotStep("thing", "multi")
    assert loop == ActiveLoopStep("a_form")
