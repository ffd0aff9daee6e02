"""The dialogue state tracker: replay semantics and Rasa tracker JSON."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from palaver.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    DefinePrevUserUtteredFeaturization,
    EntitiesAdded,
    Event,
    FollowupAction,
    LoopInterrupted,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from palaver.core.slots import Slot, slot_from_definition
from palaver.core.tracker import AnySlotDict, DialogueStateTracker, EventVerbosity
from palaver.errors import InvalidEventError

LISTEN = "action_listen"


def _slots() -> list[Slot]:
    return [
        slot_from_definition("city", {"type": "text", "mappings": []}),
        slot_from_definition("count", {"type": "float", "initial_value": 0.0, "max_value": 10}),
        slot_from_definition("requested_slot", {"type": "text", "influence_conversation": False}),
    ]


def _user(text: str, intent: str, ts: float, **kwargs: Any) -> UserUttered:
    return UserUttered(text, {"name": intent, "confidence": 1.0}, timestamp=ts, **kwargs)


def _action(name: str, ts: float) -> ActionExecuted:
    return ActionExecuted(name, timestamp=ts)


def _session_start(ts: float = 1.0) -> list[Event]:
    return [
        _action("action_session_start", ts),
        SessionStarted(timestamp=ts),
        _action(LISTEN, ts),
    ]


def _tracker(events: list[Event], slots: list[Slot] | None = None) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("conv", events, _slots() if slots is None else slots)


def test_fresh_tracker_state_is_rasas() -> None:
    tracker = DialogueStateTracker("conv", _slots())
    assert tracker.current_state() == {
        "sender_id": "conv",
        "slots": {"city": None, "count": 0.0, "requested_slot": None},
        "latest_message": {
            "intent": {},
            "entities": [],
            "text": None,
            "message_id": None,
            "metadata": {},
        },
        "latest_event_time": None,
        "followup_action": "action_listen",
        "paused": False,
        "events": None,
        "latest_input_channel": None,
        "active_loop": {},
        "latest_action": {},
        "latest_action_name": None,
    }
    assert tracker.current_state(EventVerbosity.ALL)["events"] == []


def test_conversation_state_json() -> None:
    user = UserUttered(
        "in Berlin",
        parse_data={
            "intent": {"name": "inform", "confidence": 0.9},
            "entities": [{"entity": "city", "value": "Berlin"}],
            "intent_ranking": [{"name": "inform", "confidence": 0.9}],
        },
        input_channel="rest",
        message_id="m1",
        timestamp=2.0,
    )
    events = [
        *_session_start(),
        user,
        ActionExecuted("action_extract_slots", timestamp=3.0),
        SlotSet("city", "Berlin", timestamp=3.0),
        ActionExecuted("utter_ok", "policy_0_RulePolicy", 1.0, timestamp=4.0),
        BotUttered("ok", {"custom": None}, timestamp=4.0),
        ActionExecuted(LISTEN, timestamp=5.0),
    ]
    tracker = _tracker(events)
    state = tracker.current_state(EventVerbosity.APPLIED)
    assert state == {
        "sender_id": "conv",
        "slots": {"city": "Berlin", "count": 0.0, "requested_slot": None},
        "latest_message": {
            "intent": {"name": "inform", "confidence": 0.9},
            "entities": [{"entity": "city", "value": "Berlin"}],
            "text": "in Berlin",
            "message_id": "m1",
            "metadata": {},
            "intent_ranking": [{"name": "inform", "confidence": 0.9}],
        },
        "latest_event_time": 5.0,
        "followup_action": None,
        "paused": False,
        "events": [e.as_dict() for e in events[2:]],
        "latest_input_channel": "rest",
        "active_loop": {},
        "latest_action": {"action_name": LISTEN},
        "latest_action_name": LISTEN,
    }
    assert json.loads(json.dumps(state)) == state
    assert tracker.latest_bot_utterance == BotUttered("ok")
    assert tracker.latest_message is user
    assert tracker.get_slot("city") == "Berlin"
    assert tracker.get_slot("missing") is None
    assert tracker.number_of_events == len(events)


def test_rebuilding_from_dicts_gives_the_same_state() -> None:
    events = [
        *_session_start(),
        _user("hi", "greet", 2.0, input_channel="rest"),
        ActiveLoop("form", timestamp=3.0),
        SlotSet("requested_slot", "city", timestamp=3.0),
        ConversationPaused(timestamp=3.5),
        FollowupAction("utter_x", timestamp=4.0),
    ]
    tracker = _tracker(events)
    dicts = tracker.current_state(EventVerbosity.ALL)["events"]
    rebuilt = DialogueStateTracker.from_dicts("conv", json.loads(json.dumps(dicts)), _slots())
    assert rebuilt.current_state(EventVerbosity.ALL) == tracker.current_state(EventVerbosity.ALL)
    assert rebuilt == tracker


def test_from_dicts_reports_the_bad_event() -> None:
    with pytest.raises(InvalidEventError, match=r"events\[1\]"):
        DialogueStateTracker.from_dicts("c", [{"event": "restart"}, {"event": "nope"}])


def test_restart_resets_state_and_schedules_session_start() -> None:
    events = [
        *_session_start(),
        _user("hi", "greet", 2.0),
        SlotSet("city", "Berlin", timestamp=2.1),
        ActiveLoop("form", timestamp=2.2),
        ConversationPaused(timestamp=2.3),
        ActionExecuted("action_restart", timestamp=3.0),
        Restarted(timestamp=3.0),
    ]
    tracker = _tracker(events)
    assert tracker.get_slot("city") is None
    assert tracker.active_loop == {}
    assert not tracker.is_paused()
    assert tracker.followup_action == "action_session_start"
    assert tracker.latest_action == {}
    assert tracker.latest_message is not None and tracker.latest_message.is_empty()
    assert tracker.applied_events() == []
    assert tracker.idx_after_latest_restart() == len(events)
    assert tracker.events_after_latest_restart() == []
    assert tracker.current_state(EventVerbosity.AFTER_RESTART)["events"] == []
    assert len(tracker.current_state(EventVerbosity.ALL)["events"]) == len(events)
    # Events after a restart count again.
    tracker.update(_action("action_session_start", 4.0))
    tracker.update(SessionStarted(timestamp=4.0))
    tracker.update(_user("again", "greet", 5.0, input_channel="socketio"))
    assert tracker.events_after_latest_restart() == tracker.events[-3:]
    assert tracker.applied_events() == [tracker.events[-1]]
    assert tracker.get_latest_input_channel() == "socketio"


def test_session_start_with_carried_over_slots() -> None:
    events = [
        *_session_start(),
        _user("in Berlin", "inform", 2.0),
        SlotSet("city", "Berlin", timestamp=2.1),
        SlotSet("count", 3.0, timestamp=2.1),
        _action(LISTEN, 2.2),
        # New session; action_session_start carries the slots over.
        _action("action_session_start", 10.0),
        SessionStarted(timestamp=10.0),
        SlotSet("city", "Berlin", timestamp=10.0),
        _action(LISTEN, 10.0),
    ]
    tracker = _tracker(events)
    assert tracker.current_slot_values() == {"city": "Berlin", "count": 0.0, "requested_slot": None}
    assert tracker.applied_events() == events[-2:]
    assert tracker.latest_message is not None and tracker.latest_message.is_empty()
    assert tracker.followup_action is None
    # Restart-based views ignore session starts.
    assert tracker.events_after_latest_restart() == events


def test_session_started_alone_resets_followup_to_listen() -> None:
    tracker = _tracker([_action("action_session_start", 1.0), SessionStarted(timestamp=1.0)])
    assert tracker.followup_action == LISTEN
    assert tracker.latest_action_name is None


def test_rewind_drops_the_user_message_and_the_listen_before_it() -> None:
    events = [
        *_session_start(),
        _user("hi", "greet", 2.0),
        _action("utter_greet", 2.1),
        _action(LISTEN, 2.2),
        _user("blah", "nonsense", 3.0),
        SlotSet("city", "Nowhere", timestamp=3.1),
        UserUtteranceReverted(timestamp=3.2),
    ]
    tracker = _tracker(events)
    assert tracker.applied_events() == events[2:5]
    assert tracker.get_slot("city") is None
    assert tracker.latest_message == events[3]
    assert tracker.latest_action_name == "utter_greet"
    assert tracker.current_state(EventVerbosity.AFTER_RESTART)["events"] == [
        e.as_dict() for e in events
    ]


def test_undo_drops_the_last_action_and_its_events() -> None:
    events = [
        *_session_start(),
        _user("hi", "greet", 2.0),
        _action("action_fill", 2.1),
        SlotSet("city", "Berlin", timestamp=2.2),
        ActionReverted(timestamp=2.3),
    ]
    tracker = _tracker(events)
    assert tracker.applied_events() == events[2:4]
    assert tracker.get_slot("city") is None
    assert tracker.latest_action_name == LISTEN


def test_undo_and_rewind_in_sequence() -> None:
    events = [
        *_session_start(),
        _user("hi", "greet", 2.0),
        _action("utter_a", 2.1),
        SlotSet("city", "A", timestamp=2.1),
        ActionReverted(timestamp=2.2),
        _action("utter_b", 2.3),
        _action(LISTEN, 2.4),
        _user("x", "y", 3.0),
        UserUtteranceReverted(timestamp=3.1),
        SlotSet("count", 2.0, timestamp=3.2),
    ]
    tracker = _tracker(events)
    assert tracker.applied_events() == [*events[2:4], events[7], events[-1]]
    assert tracker.current_slot_values()["city"] is None
    assert tracker.current_slot_values()["count"] == 2.0


def _form_events() -> list[Event]:
    return [
        *_session_start(),
        _user("book", "request_restaurant", 2.0),
        _action("restaurant_form", 2.1),
        ActiveLoop("restaurant_form", timestamp=2.1),
        SlotSet("requested_slot", "city", timestamp=2.1),
        _action(LISTEN, 2.2),
        _user("Berlin", "inform", 3.0),
        _action("restaurant_form", 3.1),
        SlotSet("city", "Berlin", timestamp=3.1),
        SlotSet("requested_slot", "count", timestamp=3.1),
        _action(LISTEN, 3.2),
    ]


def test_loop_activation_state() -> None:
    tracker = _tracker(_form_events())
    assert tracker.active_loop_name == "restaurant_form"
    assert tracker.active_loop == {
        "name": "restaurant_form",
        "is_interrupted": False,
        "rejected": False,
        "trigger_message": tracker.events[3].parse_data,  # type: ignore[attr-defined]
    }
    assert tracker.current_state()["active_loop"]["trigger_message"]["text"] == "book"


def test_repeated_loop_executions_collapse_in_applied_events() -> None:
    events = _form_events()
    tracker = _tracker(events)
    applied = tracker.applied_events()
    # The second execution undoes the listen + user message since the first one.
    assert applied == [*events[2:7], events[10], events[11], events[12]]
    assert tracker.current_slot_values()["city"] == "Berlin"


def test_unhappy_path_keeps_every_loop_execution() -> None:
    events = [
        *_form_events(),
        _user("why?", "explain", 4.0),
        ActionExecutionRejected("restaurant_form", timestamp=4.1),
        _action("utter_explain", 4.2),
        _action("restaurant_form", 4.3),
        LoopInterrupted(False, timestamp=4.3),
    ]
    tracker = _tracker(events)
    applied = tracker.applied_events()
    assert applied[-5:] == events[-5:]


def test_training_style_unhappy_path_is_detected() -> None:
    events = [
        *_form_events(),
        _user("why?", "explain", 4.0),
        _action("utter_explain", 4.2),
        _action("restaurant_form", 4.3),
    ]
    assert _tracker(events).applied_events()[-3:] == events[-3:]


def test_loop_after_deactivation_runs_for_the_first_time() -> None:
    events = [
        *_form_events(),
        ActiveLoop(None, timestamp=4.0),
        _action(LISTEN, 4.1),
        _user("book", "request_restaurant", 5.0),
        _action("restaurant_form", 5.1),
    ]
    tracker = _tracker(events)
    assert tracker.applied_events()[-4:] == events[-4:]
    assert tracker.active_loop == {}
    assert tracker.active_loop_name is None


def test_interrupt_and_reject_flags() -> None:
    tracker = _tracker(_form_events())
    tracker.update(_user("why?", "explain", 4.0))
    tracker.update(ActionExecutionRejected("other_action", timestamp=4.05))
    assert tracker.active_loop["rejected"] is False
    tracker.update(ActionExecutionRejected("restaurant_form", timestamp=4.1))
    assert tracker.active_loop["rejected"] is True
    assert tracker.is_active_loop_rejected
    tracker.update(LoopInterrupted(True, timestamp=4.2))
    assert tracker.active_loop["is_interrupted"] is True
    assert tracker.is_active_loop_interrupted
    tracker.update(_action("utter_explain", 4.3))
    # Any action clears the interruption; only the loop itself un-rejects it.
    assert tracker.active_loop["is_interrupted"] is False
    assert tracker.active_loop["rejected"] is True
    tracker.update(_action("restaurant_form", 4.4))
    assert tracker.active_loop["rejected"] is False
    assert not tracker.is_active_loop_rejected
    assert not tracker.is_active_loop_interrupted


def test_loop_events_without_active_loop_are_ignored() -> None:
    tracker = _tracker(
        [
            LoopInterrupted(True, timestamp=1.0),
            ActionExecutionRejected("f", timestamp=1.0),
            ActionExecuted(action_text="e2e", timestamp=1.0),
        ]
    )
    assert tracker.active_loop == {}
    assert tracker.latest_action == {"action_text": "e2e"}
    assert tracker.latest_action_name == "e2e"


def test_pause_resume_and_followup() -> None:
    tracker = _tracker([*_session_start(), ConversationPaused(timestamp=2.0)])
    assert tracker.is_paused()
    assert tracker.current_state()["paused"] is True
    tracker.update(ConversationResumed(timestamp=3.0))
    assert not tracker.is_paused()
    tracker.update(FollowupAction("utter_hello", timestamp=4.0))
    assert tracker.followup_action == "utter_hello"
    assert tracker.current_state()["followup_action"] == "utter_hello"
    tracker.update(_action("utter_hello", 5.0))
    assert tracker.followup_action is None
    tracker.update(FollowupAction("utter_bye", timestamp=6.0))
    tracker.update(_user("hi", "greet", 7.0))
    assert tracker.followup_action is None


def test_all_slots_reset() -> None:
    tracker = _tracker([SlotSet("city", "Berlin"), SlotSet("count", 5.0), AllSlotsReset()])
    assert tracker.current_slot_values() == {"city": None, "count": 0.0, "requested_slot": None}


def test_unknown_slot_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    tracker = _tracker([SlotSet("nope", 1)])
    assert "nope" not in tracker.slots
    assert "unknown slot 'nope'" in caplog.text


def test_tracker_without_domain_accepts_any_slot() -> None:
    tracker = DialogueStateTracker.from_events("c", [SlotSet("anything", {"a": 1})])
    assert isinstance(tracker.slots, AnySlotDict)
    assert tracker.get_slot("anything") == {"a": 1}
    assert tracker.current_state()["slots"] == {"anything": {"a": 1}}
    assert isinstance(tracker.copy().slots, AnySlotDict)


def test_tracker_slots_are_copies() -> None:
    slots = _slots()
    tracker = DialogueStateTracker.from_events("c", [SlotSet("city", "Berlin")], slots)
    assert slots[0].value is None
    assert tracker.slots["city"] is not slots[0]


def test_entities_added_extend_the_latest_message() -> None:
    user = _user("to Paris", "inform", 2.0, entities=[{"entity": "city", "value": "Paris"}])
    tracker = _tracker([*_session_start(), user])
    tracker.update(
        EntitiesAdded([{"entity": "city", "value": "Paris"}, {"entity": "x", "value": 1}])
    )
    assert tracker.latest_message is user
    assert user.entities == [{"entity": "city", "value": "Paris"}, {"entity": "x", "value": 1}]
    assert tracker.current_state()["latest_message"]["entities"] == user.entities
    assert user.as_dict()["parse_data"]["entities"] == [{"entity": "city", "value": "Paris"}]
    assert list(tracker.get_latest_entity_values("x")) == [1]
    # After an action the entities no longer belong to the user message.
    tracker.update(_action("utter_x", 3.0))
    tracker.update(EntitiesAdded([{"entity": "late", "value": 2}]))
    assert {"entity": "late", "value": 2} not in user.entities


def test_define_prev_user_uttered_featurization() -> None:
    user = _user("hi", "greet", 2.0)
    tracker = _tracker([*_session_start(), user, DefinePrevUserUtteredFeaturization(True)])
    assert user.use_text_for_featurization is True
    tracker.update(_action("utter_x", 3.0))
    tracker.update(DefinePrevUserUtteredFeaturization(False))
    assert user.use_text_for_featurization is True


def test_latest_entity_values_with_roles_and_groups() -> None:
    entities = [
        {"entity": "city", "value": "Berlin", "role": "from"},
        {"entity": "city", "value": "Paris", "role": "to"},
        {"entity": "city", "value": "Rome"},
        {"entity": "city", "value": "Oslo", "group": "2"},
    ]
    tracker = _tracker([_user("x", "travel", 1.0, entities=entities)])
    assert list(tracker.get_latest_entity_values("city")) == ["Rome"]
    assert list(tracker.get_latest_entity_values("city", entity_role="to")) == ["Paris"]
    assert list(tracker.get_latest_entity_values("city", entity_group="2")) == ["Oslo"]
    assert list(DialogueStateTracker("c", None).get_latest_entity_values("city")) == []
    tracker.latest_message = None
    assert list(tracker.get_latest_entity_values("city")) == []
    assert tracker.current_state()["latest_message"] is None


def test_travel_back_in_time() -> None:
    events = _form_events()
    tracker = _tracker(events)
    past = tracker.travel_back_in_time(2.1)
    assert past.events == events[:7]
    assert past.active_loop_name == "restaurant_form"
    assert past.get_slot("city") is None
    assert past.get_slot("requested_slot") == "city"
    assert tracker.get_slot("city") == "Berlin"
    assert tracker.travel_back_in_time(0.0).events == []


def test_copy_is_independent_and_equal() -> None:
    tracker = _tracker(_form_events())
    clone = tracker.copy()
    assert clone == tracker
    assert clone.current_state(EventVerbosity.ALL) == tracker.current_state(EventVerbosity.ALL)
    clone.update(SlotSet("city", "Rome", timestamp=9.0))
    clone.update(ActiveLoop(None, timestamp=9.0))
    assert tracker.get_slot("city") == "Berlin"
    assert tracker.active_loop_name == "restaurant_form"
    assert len(tracker.events) == len(clone.events) - 2
    assert clone != tracker
    # The copy keeps indexing: a restart in the copy does not leak back.
    clone.update(Restarted(timestamp=10.0))
    assert clone.applied_events() == []
    assert tracker.applied_events() != []


def test_copy_matches_a_full_replay() -> None:
    events = [*_form_events(), Restarted(timestamp=5.0), *_session_start(6.0)]
    tracker = _tracker(events)
    replayed = tracker.travel_back_in_time(float("inf"))
    assert tracker.copy().current_state(EventVerbosity.APPLIED) == replayed.current_state(
        EventVerbosity.APPLIED
    )


def test_get_last_event_for() -> None:
    events = [
        *_session_start(),
        _user("hi", "greet", 2.0),
        _action("utter_a", 2.1),
        _action("utter_b", 2.2),
        _action(LISTEN, 2.3),
    ]
    tracker = _tracker(events)
    assert tracker.get_last_event_for(ActionExecuted) == events[-1]
    assert tracker.get_last_event_for(ActionExecuted, [LISTEN]) == events[-2]
    assert tracker.get_last_event_for(ActionExecuted, [LISTEN], skip=1) == events[-3]
    assert tracker.get_last_event_for((UserUttered, BotUttered)) == events[3]
    assert tracker.get_last_event_for(BotUttered) is None
    assert tracker.get_last_event_for(SessionStarted) is None  # not applied
    assert (
        tracker.get_last_event_for(SessionStarted, event_verbosity=EventVerbosity.ALL) == events[1]
    )
    assert tracker.last_executed_action_has("utter_b")
    assert tracker.last_executed_action_has("utter_a", skip=1)
    assert not tracker.last_executed_action_has(LISTEN)


def test_has_bot_message_after_latest_user_message() -> None:
    tracker = _tracker([*_session_start(), _user("hi", "greet", 2.0)])
    assert not tracker.has_bot_message_after_latest_user_message()
    tracker.update(BotUttered("hello"))
    assert tracker.has_bot_message_after_latest_user_message()
    assert not DialogueStateTracker("c", None).has_bot_message_after_latest_user_message()


def test_generate_all_prior_trackers() -> None:
    events = [
        *_session_start(),
        _user("hi", "greet", 2.0),
        ActionExecuted("utter_x", hide_rule_turn=True),
    ]
    # The same tracker object is yielded at each step (as in Rasa): read it right away.
    seen = [(len(t.events), flag) for t, flag in _tracker(events).generate_all_prior_trackers()]
    assert seen == [(0, False), (2, True), (3, False)]


def test_max_event_history() -> None:
    tracker = DialogueStateTracker("c", _slots(), max_event_history=3)
    for index in range(5):
        tracker.update(SlotSet("count", float(index)))
    assert [e.value for e in tracker.events] == [2.0, 3.0, 4.0]  # type: ignore[attr-defined]
    tracker.update(Restarted())
    tracker.update(SlotSet("city", "x"))
    assert tracker.applied_events() == [SlotSet("city", "x")]
    for _ in range(3):
        tracker.update(SlotSet("city", "y"))
    assert tracker.applied_events() == [SlotSet("city", "y")] * 3


def test_model_and_assistant_ids_are_stamped() -> None:
    tracker = DialogueStateTracker("c", None)
    tracker.model_id = "model-1"
    tracker.assistant_id = "bot"
    tracker.update(SlotSet("a", 1))
    tracker.update(SlotSet("a", 2, metadata={"model_id": "other"}))
    assert tracker.events[0].metadata == {"model_id": "model-1", "assistant_id": "bot"}
    assert tracker.events[1].metadata == {"model_id": "other", "assistant_id": "bot"}


def test_update_with_events_overrides_timestamps() -> None:
    tracker = DialogueStateTracker("c", None)
    before = time.time()
    tracker.update_with_events([SlotSet("a", 1, timestamp=1.0)])
    tracker.update_with_events([SlotSet("b", 1, timestamp=1.0)], override_timestamp=False)
    assert tracker.events[0].timestamp >= before
    assert tracker.events[1].timestamp == 1.0


def test_update_rejects_non_events() -> None:
    with pytest.raises(TypeError, match="Expected an Event"):
        DialogueStateTracker("c", None).update({"event": "slot"})  # type: ignore[arg-type]


def test_events_appended_directly_are_reindexed() -> None:
    tracker = _tracker([SlotSet("city", "a")])
    tracker.events.append(Restarted())
    tracker.events.append(SlotSet("city", "b"))
    assert tracker.applied_events() == [SlotSet("city", "b")]
    tracker.events = [SlotSet("city", "c")]
    assert tracker.applied_events() == [SlotSet("city", "c")]


def test_equality() -> None:
    assert _tracker([SlotSet("a", 1)]) == _tracker([SlotSet("a", 1)])
    assert _tracker([SlotSet("a", 1)]) != _tracker([SlotSet("a", 2)])
    assert DialogueStateTracker("a", None) != DialogueStateTracker("b", None)
    assert DialogueStateTracker("a", None) != "a"
    assert "3 events" in repr(_tracker(_session_start()))


def test_from_dicts_on_a_long_conversation() -> None:
    """10,000 events replay correctly (their speed is measured in bench/, not here)."""
    turn = [
        UserUttered("hello", {"name": "greet", "confidence": 0.9}, input_channel="rest").as_dict(),
        ActionExecuted("utter_greet", "policy_0_TEDPolicy", 0.98).as_dict(),
        BotUttered("hi", {"buttons": None}, {"utter_action": "utter_greet"}).as_dict(),
        SlotSet("city", "Berlin").as_dict(),
        ActionExecuted(LISTEN).as_dict(),
    ]
    dicts = json.loads(json.dumps(turn * 2000))
    tracker = DialogueStateTracker.from_dicts("c", dicts, _slots())
    assert tracker.number_of_events == 10_000
    assert len(tracker.applied_events()) == 10_000
