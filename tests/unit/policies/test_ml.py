"""LinearSequencePolicy and its trainer (palaver.policies.ml, palaver.policies.softmax)."""

from __future__ import annotations

import numpy as np

from palaver.core.constants import ACTION_LISTEN_NAME
from palaver.core.events import (
    ActionExecuted,
    DefinePrevUserUtteredFeaturization,
    Event,
    SlotSet,
    UserUttered,
)
from palaver.data.stories import ActionStep, SlotStep, UserStep
from palaver.policies.ml import LinearSequencePolicy, state_features
from palaver.policies.softmax import SparseRows, fit_softmax
from palaver.policies.states import freeze
from tests.unit.policies.helpers import domain, started, story, train, user

ML_ONLY = [{"name": "LinearSequencePolicy"}]

STORIES = [
    story(
        "gold customer asks the price",
        UserStep("greet"),
        SlotStep("tier", "gold"),
        ActionStep("utter_greet"),
        UserStep("ask_price"),
        ActionStep("utter_price"),
        UserStep("thanks"),
        ActionStep("utter_thanks"),
    ),
    story(
        "silver customer leaves",
        UserStep("greet"),
        SlotStep("tier", "silver"),
        ActionStep("utter_greet"),
        UserStep("bye"),
        ActionStep("utter_bye"),
    ),
]


def test_generalizes_to_an_unseen_slot_value_combination() -> None:
    dom = domain()
    ensemble = train(dom, stories=STORIES, config=ML_ONLY)
    # A silver customer asking the price never occurs in the stories.
    tracker = started(
        dom,
        events=[
            user("greet"),
            SlotSet("tier", "silver"),
            ActionExecuted("utter_greet"),
            ActionExecuted(ACTION_LISTEN_NAME),
            user("ask_price"),
        ],
    )
    prediction = ensemble.predict(tracker, dom)
    assert prediction.action_name == "utter_price"
    assert prediction.confidence > 0.5
    assert prediction.policy_name == "LinearSequencePolicy"
    # ... and listens afterwards.
    tracker.update(ActionExecuted("utter_price"))
    assert ensemble.predict(tracker, dom).action_name == ACTION_LISTEN_NAME


def test_memoization_alone_cannot_do_that() -> None:
    dom = domain()
    ensemble = train(dom, stories=STORIES, config=[{"name": "MemoizationPolicy"}])
    tracker = started(
        dom,
        events=[
            user("greet"),
            SlotSet("tier", "silver"),
            ActionExecuted("utter_greet"),
            ActionExecuted(ACTION_LISTEN_NAME),
            user("ask_price"),
        ],
    )
    assert ensemble.predict(tracker, dom).confidence == 0.0


def test_seen_patterns_are_predicted_confidently() -> None:
    dom = domain()
    ensemble = train(dom, stories=STORIES, config=ML_ONLY)
    tracker = started(dom, events=[user("greet"), SlotSet("tier", "gold")])
    prediction = ensemble.predict(tracker, dom)
    assert prediction.action_name == "utter_greet"
    assert prediction.confidence > 0.8


def test_state_features_cover_every_state_part() -> None:
    state = freeze(
        {
            "user": {"intent": "greet", "entities": ["city", "city#from"]},
            "prev_action": {"action_name": "action_listen"},
            "active_loop": {"name": "form"},
            "slots": {"tier": [0.0, 1.0, 0.0]},
        }
    )
    assert sorted(state_features(state)) == [
        ("action:action_listen", 1.0),
        ("entity:city", 1.0),
        ("entity:city#from", 1.0),
        ("intent:greet", 1.0),
        ("loop:form", 1.0),
        ("slot:tier:1", 1.0),
    ]


def test_softmax_trainer_fits_a_separable_problem() -> None:
    rows = SparseRows.from_lists([([0], [1.0]), ([1], [1.0]), ([], []), ([0, 1], [1.0, 1.0])], 2)
    targets = np.array([0, 1, 2, 1], dtype=np.int64)
    weights, bias = fit_softmax(rows, targets, 3, c=100.0)
    assert weights.shape == (2, 3) and bias.shape == (3,)
    logits = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]) @ weights + bias
    assert list(logits.argmax(axis=1)) == [0, 1, 2]


def test_unbounded_history_uses_a_window_and_untrained_predicts_nothing() -> None:
    policy = LinearSequencePolicy({"max_history": None})
    assert policy.max_history == 10
    dom = domain()
    ensemble = train(dom, stories=[], config=ML_ONLY)
    assert ensemble.predict(started(dom, events=[user("greet")]), dom).confidence == 0.0


E2E_STORIES = [
    story(
        "accepts",
        UserStep("greet"),
        ActionStep("utter_greet"),
        UserStep("ask_price"),
        ActionStep("utter_price"),
        UserStep("affirm"),
        ActionStep("utter_thanks"),
    ),
    story(
        "accepts in own words",
        UserStep("greet"),
        ActionStep("utter_greet"),
        UserStep("ask_price"),
        ActionStep("utter_price"),
        UserStep(None, text="I can always go for that"),
        ActionStep("utter_thanks"),
    ),
    story(
        "declines",
        UserStep("greet"),
        ActionStep("utter_greet"),
        UserStep("ask_price"),
        ActionStep("utter_price"),
        UserStep("deny"),
        ActionStep("utter_bye"),
    ),
]


def _after_price(message: UserUttered) -> list[Event]:
    return [
        user("greet"),
        ActionExecuted("utter_greet"),
        ActionExecuted(ACTION_LISTEN_NAME),
        user("ask_price"),
        ActionExecuted("utter_price"),
        ActionExecuted(ACTION_LISTEN_NAME),
        message,
    ]


def test_a_text_taught_by_an_end_to_end_story_is_predicted_from_the_text() -> None:
    # As TED: the user's words beat the (here misleading) intent when they were trained.
    dom = domain()
    ensemble = train(dom, stories=E2E_STORIES, config=ML_ONLY)
    tracker = started(dom, events=_after_price(user("deny", text="I can always go for that")))
    prediction = ensemble.predict(tracker, dom)
    assert (prediction.action_name, prediction.is_end_to_end) == ("utter_thanks", True)
    featurization = [
        e for e in prediction.events if isinstance(e, DefinePrevUserUtteredFeaturization)
    ]
    assert [e.use_text_for_featurization for e in featurization] == [True]


def test_an_untrained_text_is_predicted_from_the_intent() -> None:
    dom = domain()
    ensemble = train(dom, stories=E2E_STORIES, config=ML_ONLY)
    tracker = started(dom, events=_after_price(user("deny", text="no thanks")))
    prediction = ensemble.predict(tracker, dom)
    assert (prediction.action_name, prediction.is_end_to_end) == ("utter_bye", False)
