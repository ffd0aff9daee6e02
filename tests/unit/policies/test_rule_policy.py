"""RulePolicy (palaver.policies.rule)."""

from __future__ import annotations

import pytest

from palaver.core.constants import ACTION_LISTEN_NAME
from palaver.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    LoopInterrupted,
    SlotSet,
)
from palaver.data.stories import ActionStep, ActiveLoopStep, SlotStep, UserStep
from palaver.errors import TrainingError
from palaver.policies.ensemble import PolicyEnsemble
from palaver.policies.rule import RulePolicy
from tests.unit.policies.helpers import domain, respond, rule, started, story, train, user

RULES_ONLY = [{"name": "RulePolicy"}]

FORM_RULES = [
    rule(
        "activate form",
        UserStep("request_restaurant"),
        ActionStep("restaurant_form"),
        ActiveLoopStep("restaurant_form"),
    ),
    rule(
        "submit form",
        ActionStep("restaurant_form"),
        ActiveLoopStep(None),
        SlotStep("requested_slot", None),
        ActionStep("utter_submit"),
        conditions=[ActiveLoopStep("restaurant_form")],
    ),
    rule(
        "chitchat inside the form",
        UserStep("chitchat"),
        ActionStep("utter_chitchat"),
        ActionStep("restaurant_form"),
        ActiveLoopStep("restaurant_form"),
        conditions=[ActiveLoopStep("restaurant_form")],
    ),
]


def _rule_policy(ensemble: PolicyEnsemble) -> RulePolicy:
    policy = ensemble.policies[0]
    assert isinstance(policy, RulePolicy)
    return policy


def test_simple_rule_then_listen() -> None:
    dom = domain()
    ensemble = train(
        dom, rules=[rule("greet", UserStep("greet"), ActionStep("utter_greet"))], config=RULES_ONLY
    )
    tracker = started(dom, events=[user("greet")])
    prediction = ensemble.predict(tracker, dom)
    assert (prediction.action_name, prediction.confidence) == ("utter_greet", 1.0)
    assert prediction.policy_name == "RulePolicy"
    assert respond(ensemble, tracker, dom) == ["utter_greet", ACTION_LISTEN_NAME]


def test_rule_with_slot_condition() -> None:
    dom = domain()
    rules = [
        rule(
            "gold price",
            UserStep("ask_price"),
            ActionStep("utter_price"),
            conditions=[SlotStep("tier", "gold")],
        ),
        rule(
            "no tier",
            UserStep("ask_price"),
            ActionStep("utter_ask_continue"),
            conditions=[SlotStep("tier", None)],
        ),
    ]
    ensemble = train(dom, rules=rules, config=RULES_ONLY)
    gold = started(dom, events=[SlotSet("tier", "gold"), user("ask_price")])
    assert ensemble.predict(gold, dom).action_name == "utter_price"
    unset = started(dom, events=[user("ask_price")])
    assert ensemble.predict(unset, dom).action_name == "utter_ask_continue"
    silver = started(dom, events=[SlotSet("tier", "silver"), user("ask_price")])
    assert ensemble.predict(silver, dom).action_name == "action_default_fallback"


def test_conversation_start_rule_only_applies_at_the_start() -> None:
    dom = domain()
    rules = [
        rule("welcome", UserStep("greet"), ActionStep("utter_welcome"), conversation_start=True)
    ]
    ensemble = train(dom, rules=rules, config=RULES_ONLY)
    tracker = started(dom, events=[user("greet")])
    assert respond(ensemble, tracker, dom) == ["utter_welcome", ACTION_LISTEN_NAME]
    tracker.update(user("greet"))
    assert ensemble.predict(tracker, dom).action_name == "action_default_fallback"


def test_wait_for_user_input_false_lets_other_policies_continue() -> None:
    dom = domain()
    rules = [
        rule(
            "greet then continue",
            UserStep("greet"),
            ActionStep("utter_greet"),
            wait_for_user_input=False,
        ),
        rule("plain", UserStep("bye"), ActionStep("utter_bye")),
    ]
    ensemble = train(dom, rules=rules, config=RULES_ONLY)
    tracker = started(dom, events=[user("greet"), ActionExecuted("utter_greet")])
    # No rule says action_listen after utter_greet: the fallback score is all there is.
    prediction = ensemble.predict(tracker, dom)
    assert (prediction.action_name, prediction.confidence) == ("action_default_fallback", 0.3)
    bye = started(dom, events=[user("bye"), ActionExecuted("utter_bye")])
    assert ensemble.predict(bye, dom).action_name == ACTION_LISTEN_NAME


def test_form_activation_continuation_unhappy_path_and_submit() -> None:
    dom = domain()
    ensemble = train(dom, rules=FORM_RULES, config=RULES_ONLY)
    tracker = started(dom, events=[user("request_restaurant")])
    form_effects = {
        "restaurant_form": [ActiveLoop("restaurant_form"), SlotSet("requested_slot", "cuisine")]
    }
    assert respond(ensemble, tracker, dom, form_effects) == ["restaurant_form", ACTION_LISTEN_NAME]

    # Chitchat: the loop runs first (happy path), rejects, then the rule takes over
    # and returns to the loop, which is told it was interrupted.
    tracker.update(user("chitchat"))
    first = ensemble.predict(tracker, dom)
    assert first.action_name == "restaurant_form" and first.is_no_user_prediction
    rejected = {"restaurant_form": [ActionExecutionRejected("restaurant_form")]}
    actions = respond(ensemble, tracker, dom, rejected)
    assert actions == ["restaurant_form", "utter_chitchat", "restaurant_form", ACTION_LISTEN_NAME]

    tracker.update(user("inform", [{"entity": "cuisine", "value": "thai"}]))
    done = {
        "restaurant_form": [
            SlotSet("cuisine", "thai"),
            SlotSet("requested_slot", None),
            ActiveLoop(None),
        ]
    }
    assert respond(ensemble, tracker, dom, done) == [
        "restaurant_form",
        "utter_submit",
        ACTION_LISTEN_NAME,
    ]


def test_returning_to_the_loop_after_a_story_unhappy_path_interrupts_it() -> None:
    dom = domain()
    stories = [
        story(
            "stop and continue",
            UserStep("request_restaurant"),
            ActionStep("restaurant_form"),
            ActiveLoopStep("restaurant_form"),
            UserStep("deny"),
            ActionStep("utter_ask_continue"),
            UserStep("affirm"),
            ActionStep("restaurant_form"),
        )
    ]
    config = [{"name": "RulePolicy"}, {"name": "MemoizationPolicy"}]
    ensemble = train(dom, stories=stories, rules=FORM_RULES[:1], config=config)
    tracker = started(
        dom,
        events=[
            user("request_restaurant"),
            ActionExecuted("restaurant_form"),
            ActiveLoop("restaurant_form"),
            ActionExecuted(ACTION_LISTEN_NAME),
            user("deny"),
            ActionExecutionRejected("restaurant_form"),
            ActionExecuted("utter_ask_continue"),
            ActionExecuted(ACTION_LISTEN_NAME),
            user("affirm"),
        ],
    )
    prediction = ensemble.predict(tracker, dom)
    # Memoization knows the story; the rule policy adds the interruption notice.
    assert (prediction.action_name, prediction.policy_name) == (
        "restaurant_form",
        "MemoizationPolicy",
    )
    assert any(isinstance(e, LoopInterrupted) and e.is_interrupted for e in prediction.events)


def test_default_intents_map_to_default_actions() -> None:
    dom = domain()
    ensemble = train(
        dom, rules=[rule("greet", UserStep("greet"), ActionStep("utter_greet"))], config=RULES_ONLY
    )
    for intent, action in [
        ("restart", "action_restart"),
        ("back", "action_back"),
        ("session_start", "action_session_start"),
    ]:
        tracker = started(dom, events=[user(intent)])
        assert ensemble.predict(tracker, dom).action_name == action


def test_nlu_fallback_intent_is_handled_by_user_rules() -> None:
    dom = domain()
    rules = [rule("fallback", UserStep("nlu_fallback"), ActionStep("action_default_fallback"))]
    ensemble = train(dom, rules=rules, config=RULES_ONLY)
    tracker = started(dom, events=[user("nlu_fallback")])
    prediction = ensemble.predict(tracker, dom)
    assert (prediction.action_name, prediction.confidence) == ("action_default_fallback", 1.0)


def test_fallback_below_threshold_and_configuration() -> None:
    dom = domain()
    config = [
        {
            "name": "RulePolicy",
            "core_fallback_threshold": 0.4,
            "core_fallback_action_name": "utter_ask_continue",
        }
    ]
    ensemble = train(
        dom, rules=[rule("greet", UserStep("greet"), ActionStep("utter_greet"))], config=config
    )
    prediction = ensemble.predict(started(dom, events=[user("bye")]), dom)
    assert (prediction.action_name, prediction.confidence) == ("utter_ask_continue", 0.4)

    disabled = train(
        dom,
        rules=[rule("greet", UserStep("greet"), ActionStep("utter_greet"))],
        config=[{"name": "RulePolicy", "enable_fallback_prediction": False}],
    )
    prediction = disabled.predict(started(dom, events=[user("bye")]), dom)
    assert (prediction.action_name, prediction.confidence) == (ACTION_LISTEN_NAME, 0.0)


def test_unknown_fallback_action_fails_training() -> None:
    dom = domain()
    with pytest.raises(TrainingError, match="utter_missing"):
        train(
            dom,
            rules=[],
            config=[{"name": "RulePolicy", "core_fallback_action_name": "utter_missing"}],
        )


def test_contradicting_rules_fail_training_naming_them() -> None:
    dom = domain()
    rules = [
        rule("greet one way", UserStep("greet"), ActionStep("utter_greet")),
        rule("greet another way", UserStep("greet"), ActionStep("utter_welcome")),
    ]
    with pytest.raises(TrainingError, match=r"greet one way|greet another way"):
        train(dom, rules=rules, config=RULES_ONLY)


def test_story_contradicting_a_rule_fails_training() -> None:
    dom = domain()
    rules = [rule("greet", UserStep("greet"), ActionStep("utter_greet"))]
    stories = [story("other greeting", UserStep("greet"), ActionStep("utter_welcome"))]
    with pytest.raises(TrainingError) as error:
        train(dom, stories=stories, rules=rules, config=RULES_ONLY)
    message = str(error.value)
    assert "story 'other greeting'" in message and "rule(s) 'greet'" in message
    # The check can be switched off.
    train(
        dom,
        stories=stories,
        rules=rules,
        config=[{"name": "RulePolicy", "check_for_contradictions": False}],
    )


def test_rules_with_two_user_turns_are_rejected_unless_unrestricted() -> None:
    dom = domain()
    long_rule = rule(
        "too long",
        UserStep("greet"),
        ActionStep("utter_greet"),
        UserStep("bye"),
        ActionStep("utter_bye"),
    )
    with pytest.raises(TrainingError, match="too long"):
        train(dom, rules=[long_rule], config=RULES_ONLY)
    train(dom, rules=[long_rule], config=[{"name": "RulePolicy", "restrict_rules": False}])


def test_rule_turns_not_in_stories_are_hidden_from_ml_policies() -> None:
    dom = domain()
    rules = [
        rule("faq", UserStep("ask_price"), ActionStep("utter_price")),
        rule("greet", UserStep("greet"), ActionStep("utter_greet")),
    ]
    stories = [story("greet story", UserStep("greet"), ActionStep("utter_greet"))]
    ensemble = train(dom, stories=stories, rules=rules, config=RULES_ONLY)
    faq = ensemble.predict(started(dom, events=[user("ask_price")]), dom)
    greet = ensemble.predict(started(dom, events=[user("greet")]), dom)
    assert faq.hide_rule_turn and not greet.hide_rule_turn
    assert _rule_policy(ensemble).rules_not_in_stories


def test_end_to_end_rule_matches_the_user_text_first() -> None:
    dom = domain()
    rules = [
        rule("by text", UserStep(None, text="open sesame"), ActionStep("utter_welcome")),
        rule("by intent", UserStep("greet"), ActionStep("utter_greet")),
    ]
    ensemble = train(dom, rules=rules, config=RULES_ONLY)
    by_text = ensemble.predict(started(dom, events=[user("greet", text="open sesame")]), dom)
    assert (by_text.action_name, by_text.is_end_to_end) == ("utter_welcome", True)
    by_intent = ensemble.predict(started(dom, events=[user("greet", text="hello")]), dom)
    assert (by_intent.action_name, by_intent.is_end_to_end) == ("utter_greet", False)


def test_predictions_expose_scores() -> None:
    dom = domain()
    ensemble = train(
        dom, rules=[rule("greet", UserStep("greet"), ActionStep("utter_greet"))], config=RULES_ONLY
    )
    prediction = ensemble.predict(started(dom, events=[user("greet")]), dom)
    assert prediction.scores == {"utter_greet": 1.0, "action_default_fallback": 0.3}
