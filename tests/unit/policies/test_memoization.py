"""MemoizationPolicy / AugmentedMemoizationPolicy (palaver.policies.memoization)."""

from __future__ import annotations

from palaver.core.constants import ACTION_LISTEN_NAME
from palaver.core.events import ActionExecuted, SlotSet
from palaver.data.stories import ActionStep, SlotStep, UserStep
from tests.unit.policies.helpers import domain, started, story, train, user

STORIES = [
    story(
        "greet then price",
        UserStep("greet"),
        ActionStep("utter_greet"),
        UserStep("ask_price"),
        ActionStep("utter_price"),
    ),
    story(
        "price directly",
        UserStep("ask_price"),
        ActionStep("utter_ask_continue"),
    ),
]


def test_exact_recall_of_story_windows() -> None:
    dom = domain()
    ensemble = train(dom, stories=STORIES, config=[{"name": "MemoizationPolicy"}])
    tracker = started(
        dom,
        events=[user("greet"), ActionExecuted("utter_greet"), ActionExecuted(ACTION_LISTEN_NAME)],
    )
    tracker.update(user("ask_price"))
    prediction = ensemble.predict(tracker, dom)
    assert (prediction.action_name, prediction.confidence) == ("utter_price", 1.0)
    assert prediction.policy_name == "MemoizationPolicy"

    direct = started(dom, events=[user("ask_price")])
    assert ensemble.predict(direct, dom).action_name == "utter_ask_continue"

    unknown = started(dom, events=[user("thanks")])
    assert ensemble.predict(unknown, dom).confidence == 0.0


def test_max_history_limits_the_window() -> None:
    dom = domain()
    # With max_history 1 only the latest state counts: both contexts look alike
    # and the ambiguous window is forgotten.
    short = train(dom, stories=STORIES, config=[{"name": "MemoizationPolicy", "max_history": 1}])
    tracker = started(dom, events=[user("ask_price")])
    assert short.predict(tracker, dom).confidence == 0.0
    # With the default (5) the contexts differ.
    default = train(dom, stories=STORIES, config=[{"name": "MemoizationPolicy"}])
    assert default.predict(tracker, dom).action_name == "utter_ask_continue"


def test_slots_set_earlier_break_exact_recall_but_not_augmented_recall() -> None:
    dom = domain()
    stories = [
        story("tier", UserStep("greet"), SlotStep("tier", "gold"), ActionStep("utter_greet")),
        story("thanks", UserStep("thanks"), ActionStep("utter_thanks")),
    ]
    events = [
        user("greet"),
        SlotSet("tier", "gold"),
        ActionExecuted("utter_greet"),
        ActionExecuted(ACTION_LISTEN_NAME),
        user("thanks"),
    ]
    plain = train(dom, stories=stories, config=[{"name": "MemoizationPolicy", "max_history": 2}])
    assert plain.predict(started(dom, events=events), dom).confidence == 0.0
    augmented = train(
        dom, stories=stories, config=[{"name": "AugmentedMemoizationPolicy", "max_history": 2}]
    )
    prediction = augmented.predict(started(dom, events=events), dom)
    assert (prediction.action_name, prediction.policy_name) == (
        "utter_thanks",
        "AugmentedMemoizationPolicy",
    )
