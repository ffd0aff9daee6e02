"""States of a tracker (palaver.policies.states / replay / cache.past_states)."""

from __future__ import annotations

from typing import Any

import pytest

from palaver.core.constants import ACTION_LISTEN_NAME, SHOULD_NOT_BE_SET
from palaver.core.domain import Domain
from palaver.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    AllSlotsReset,
    EntitiesAdded,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
)
from palaver.core.tracker import DialogueStateTracker
from palaver.policies.cache import ReplayCache, past_states
from palaver.policies.replay import Replay, RuleOnlyData
from palaver.policies.states import StateFeaturizer, freeze, rasa_key, thaw
from tests.unit.policies.helpers import domain, started, user

ENTITY_DOMAIN = """
version: "3.1"
intents:
  - greet
  - book:
      use_entities: [city]
  - inform:
      ignore_entities: [cuisine]
entities:
  - cuisine
  - city:
      roles: [from, to]
responses:
  utter_greet: [{text: hi}]
"""


def test_first_state_is_empty_and_states_follow_each_action() -> None:
    dom = domain()
    tracker = started(dom, events=[user("greet"), ActionExecuted("utter_greet")])
    assert past_states(tracker, dom) == [
        {},
        {"user": {"intent": "greet"}, "prev_action": {"action_name": ACTION_LISTEN_NAME}},
        {"user": {"intent": "greet"}, "prev_action": {"action_name": "utter_greet"}},
    ]


@pytest.mark.parametrize(
    ("intent", "expected"),
    [
        ("greet", ("city", "city#from", "cuisine")),
        ("book", ("city", "city#from")),
        ("inform", ("city", "city#from")),
    ],
)
def test_entities_are_filtered_by_the_intents_entity_settings(
    intent: str, expected: tuple[str, ...]
) -> None:
    dom = Domain.from_yaml(ENTITY_DOMAIN)
    entities = [
        {"entity": "cuisine", "value": "thai"},
        {"entity": "city", "value": "Paris", "role": "from"},
    ]
    tracker = started(dom, events=[user(intent, entities)])
    assert past_states(tracker, dom)[-1]["user"] == {"intent": intent, "entities": expected}


def test_featurized_slots_only_and_categorical_one_hot() -> None:
    dom = domain()
    tracker = started(
        dom,
        events=[
            user("inform"),
            SlotSet("cuisine", "thai"),
            SlotSet("tier", "silver"),
            SlotSet("note", "not featurized"),
        ],
    )
    slots = past_states(tracker, dom)[-1]["slots"]
    assert slots["cuisine"] == (1.0,)
    assert slots["tier"][:2] == (0.0, 1.0)
    assert "note" not in slots


def test_unset_slots_are_left_out_and_omit_unset_slots() -> None:
    dom = domain()
    tracker = started(dom, events=[user("inform"), SlotSet("cuisine", None)])
    assert "slots" not in past_states(tracker, dom)[-1]
    tracker.update(SlotSet("cuisine", SHOULD_NOT_BE_SET))
    assert past_states(tracker, dom, omit_unset_slots=True)[-1]["slots"] == {
        "cuisine": SHOULD_NOT_BE_SET
    }


def test_active_loop_and_prev_action() -> None:
    dom = domain()
    tracker = started(
        dom,
        events=[
            user("request_restaurant"),
            ActionExecuted("restaurant_form"),
            ActiveLoop("restaurant_form"),
        ],
    )
    assert past_states(tracker, dom)[-1] == {
        "user": {"intent": "request_restaurant"},
        "prev_action": {"action_name": "restaurant_form"},
        "active_loop": {"name": "restaurant_form"},
    }


def test_end_to_end_action_text_and_user_text() -> None:
    dom = domain()
    tracker = started(dom, events=[user("greet"), ActionExecuted(action_text="Hello!")])
    assert past_states(tracker, dom)[-1]["prev_action"] == {"action_text": "Hello!"}


def test_session_start_and_restart_reset_the_state() -> None:
    dom = domain()
    tracker = started(dom, events=[user("greet"), SlotSet("cuisine", "x"), ActionExecuted("a")])
    for reset in (SessionStarted(), Restarted()):
        tracker.update(reset)
        assert past_states(tracker, dom) == [{}]


def test_rewinds_drop_the_reverted_turns() -> None:
    dom = domain()
    tracker = started(dom, events=[user("greet"), ActionExecuted("utter_greet")])
    tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
    tracker.update(user("bye"))
    tracker.update(UserUtteranceReverted())
    assert past_states(tracker, dom)[-1]["prev_action"] == {"action_name": "utter_greet"}
    tracker.update(ActionReverted())
    assert past_states(tracker, dom)[-1]["prev_action"] == {"action_name": ACTION_LISTEN_NAME}


def test_happy_loop_executions_collapse_but_unhappy_paths_stay() -> None:
    dom = domain()
    tracker = started(
        dom,
        events=[
            user("request_restaurant"),
            ActionExecuted("restaurant_form"),
            ActiveLoop("restaurant_form"),
            ActionExecuted(ACTION_LISTEN_NAME),
            user("inform"),
            ActionExecuted("restaurant_form"),
            SlotSet("cuisine", "thai"),
        ],
    )
    states = past_states(tracker, dom)
    # The second execution collapsed onto the first (the listen and the user turn
    # in between are gone); the slot it set stays.
    assert len(states) == 3
    assert states[-1]["prev_action"] == {"action_name": "restaurant_form"}
    assert states[-1]["slots"] == {"cuisine": (1.0,)}
    assert states[-1]["user"] == {"intent": "request_restaurant"}

    tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
    tracker.update(user("chitchat"))
    tracker.update(ActionExecutionRejected("restaurant_form"))
    tracker.update(ActionExecuted("utter_chitchat"))
    tracker.update(ActionExecuted("restaurant_form"))
    states = past_states(tracker, dom)
    assert states[-1]["prev_action"] == {"action_name": "restaurant_form"}
    assert states[-2]["prev_action"] == {"action_name": "utter_chitchat"}
    assert len(states) == 6
    assert states == _reference_states(tracker, dom)


def test_entities_added_after_the_message_count() -> None:
    dom = domain()
    tracker = started(dom, events=[user("greet")])
    tracker.update(EntitiesAdded([{"entity": "cuisine", "value": "thai"}]))
    assert past_states(tracker, dom)[-1]["user"]["entities"] == ("cuisine",)


def test_ml_states_hide_rule_only_turns() -> None:
    dom = domain()
    tracker = started(
        dom,
        events=[
            user("greet"),
            ActionExecuted("utter_greet"),
            ActionExecuted(ACTION_LISTEN_NAME),
            user("chitchat"),
            ActionExecuted("utter_chitchat", hide_rule_turn=True),
            ActionExecuted(ACTION_LISTEN_NAME, hide_rule_turn=True),
            user("bye"),
        ],
    )
    ml = past_states(tracker, dom, ignore_rule_only_turns=True)
    plain = past_states(tracker, dom)
    assert len(plain) == 6
    # The chitchat turn is invisible: "bye" follows "utter_greet" for ML policies.
    assert ml == [
        {},
        {"user": {"intent": "greet"}, "prev_action": {"action_name": ACTION_LISTEN_NAME}},
        {"user": {"intent": "greet"}, "prev_action": {"action_name": "utter_greet"}},
        {"user": {"intent": "bye"}, "prev_action": {"action_name": ACTION_LISTEN_NAME}},
    ]


def test_rule_only_slots_and_loops_are_removed_from_ml_states() -> None:
    dom = domain()
    tracker = started(dom, events=[user("inform"), SlotSet("cuisine", "x"), ActiveLoop("f")])
    rule_only = RuleOnlyData(frozenset({"cuisine"}), frozenset({"f"}))
    ml = past_states(tracker, dom, ignore_rule_only_turns=True, rule_only_data=rule_only)
    assert "slots" not in ml[-1] and "active_loop" not in ml[-1]


def test_freeze_thaw_and_rasa_key() -> None:
    state: dict[str, dict[str, Any]] = {
        "user": {"intent": "greet", "entities": ["a"]},
        "slots": {"s": [1.0]},
    }
    frozen = freeze(state)
    assert thaw(frozen) == {"slots": {"s": (1.0,)}, "user": {"entities": ("a",), "intent": "greet"}}
    assert rasa_key([frozen]) == (
        '[{"slots": {"s": [1.0]}, "user": {"entities": ["a"], "intent": "greet"}}]'
    )


# --- cross-check against the tracker's own applied events --------------------------------


def _reference_states(tracker: DialogueStateTracker, dom: Domain) -> list[dict[str, Any]]:
    """States computed the slow way, from ``generate_all_prior_trackers``."""
    featurizer = StateFeaturizer(dom)
    out = []
    for prior, _ in tracker.generate_all_prior_trackers():
        slots = [
            featurizer.slot_feature(i, prior.slots[name].value)
            for i, name in enumerate(featurizer.slot_names)
        ]
        loop = prior.active_loop.get("name")
        prev = dict(prior.latest_action or {})
        state = featurizer.build_state(
            featurizer.user_sub_state(prior.latest_message),
            tuple(prev.items()) or None,
            loop,
            slots,
        )
        out.append(thaw(state))
    return out


SCENARIOS: list[list[Event]] = [
    [user("greet"), ActionExecuted("utter_greet"), ActionExecuted(ACTION_LISTEN_NAME)],
    [
        user("request_restaurant"),
        ActionExecuted("restaurant_form"),
        ActiveLoop("restaurant_form"),
        SlotSet("requested_slot", "cuisine"),
        ActionExecuted(ACTION_LISTEN_NAME),
        user("inform", [{"entity": "cuisine", "value": "x"}]),
        ActionExecuted("restaurant_form"),
        SlotSet("cuisine", "x"),
        ActiveLoop(None),
        ActionExecuted("utter_submit"),
        ActionExecuted(ACTION_LISTEN_NAME),
        user("bye"),
        UserUtteranceReverted(),
        user("thanks"),
        ActionExecuted("utter_thanks"),
        ActionReverted(),
        ActionExecuted("utter_welcome"),
        AllSlotsReset(),
        SlotSet("tier", "gold"),
    ],
]


@pytest.mark.parametrize("events", SCENARIOS)
def test_replay_matches_the_trackers_applied_events(events: list[Event]) -> None:
    dom = domain()
    tracker = started(dom, events=events)
    assert past_states(tracker, dom) == _reference_states(tracker, dom)


def test_cache_is_incremental_and_survives_a_rebuilt_tracker() -> None:
    dom = domain()
    cache = ReplayCache(StateFeaturizer(dom), RuleOnlyData())
    tracker = started(dom, events=[user("greet")])
    first = cache.replay_for(tracker)
    tracker.update(ActionExecuted("utter_greet"))
    assert cache.replay_for(tracker) is first
    rebuilt = DialogueStateTracker.from_dicts(
        "u1", [e.as_dict() for e in tracker.events], dom.slots
    )
    assert cache.replay_for(rebuilt) is first
    assert first.states() == Replay(StateFeaturizer(dom)).feed_all(tracker.events).states()


def test_cache_rebuilds_when_history_differs() -> None:
    dom = domain()
    cache = ReplayCache(StateFeaturizer(dom), RuleOnlyData(), max_conversations=1)
    tracker = started(dom, events=[user("greet")])
    first = cache.replay_for(tracker)
    other = started(dom, sender="u1", events=[user("bye")])
    assert cache.replay_for(other) is not first
    cache.replay_for(started(dom, sender="u2"))
    assert len(cache._entries) == 1
