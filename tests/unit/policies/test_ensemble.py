"""PolicyEnsemble: config, choosing, events, persistence (palaver.policies.ensemble)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from palaver.core.constants import ACTION_LISTEN_NAME
from palaver.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    DefinePrevUserUtteredFeaturization,
    Event,
    SlotSet,
)
from palaver.data.stories import ActionStep, ActiveLoopStep, SlotStep, UserStep
from palaver.errors import ConfigError, ModelError
from palaver.policies.config import build_policies
from palaver.policies.ensemble import PolicyEnsemble, choose_best
from palaver.policies.memoization import MemoizationPolicy
from palaver.policies.ml import LinearSequencePolicy
from palaver.policies.policy import PolicyPrediction
from palaver.policies.rule import RulePolicy
from tests.unit.policies.helpers import domain, respond, rule, started, story, train, user

STORIES = [
    story(
        "greet and price",
        UserStep("greet"),
        ActionStep("utter_greet"),
        UserStep("ask_price"),
        ActionStep("utter_price"),
    ),
    story("bye", UserStep("bye"), ActionStep("utter_bye")),
]
RULES = [
    rule("thanks", UserStep("thanks"), ActionStep("utter_thanks")),
    rule(
        "activate form",
        UserStep("request_restaurant"),
        ActionStep("restaurant_form"),
        ActiveLoopStep("restaurant_form"),
    ),
]


def _prediction(
    name: str, confidence: float, priority: int, *, no_user: bool = False, e2e: bool = False
) -> PolicyPrediction:
    return PolicyPrediction(
        name,
        confidence,
        f"p{priority}",
        policy_priority=priority,
        is_no_user_prediction=no_user,
        is_end_to_end=e2e,
    )


def test_choose_best_follows_rasa_order() -> None:
    assert choose_best([_prediction("a", 0.9, 1), _prediction("b", 0.8, 4)]) == 0
    assert choose_best([_prediction("a", 1.0, 3), _prediction("b", 1.0, 4)]) == 1
    assert choose_best([_prediction("a", 1.0, 4), _prediction("b", 1.0, 4)]) == 0
    no_user = _prediction("loop", 0.5, 1, no_user=True)
    assert choose_best([_prediction("a", 1.0, 4), no_user]) == 1
    e2e = _prediction("x", 0.2, 1, e2e=True)
    assert choose_best([_prediction("a", 1.0, 4), e2e]) == 1


def test_default_policies_and_priorities() -> None:
    policies, warnings = build_policies(None)
    assert [type(p) for p in policies] == [RulePolicy, MemoizationPolicy, LinearSequencePolicy]
    assert [p.priority for p in policies] == [4, 3, 1]
    assert warnings == []


def test_ted_is_substituted_with_one_warning_and_unexpected_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config: list[dict[str, Any]] = [
        {"name": "RulePolicy"},
        {"name": "TEDPolicy", "max_history": 3, "epochs": 100, "constrain_similarities": True},
        {"name": "UnexpecTEDIntentPolicy", "max_history": 5},
    ]
    with caplog.at_level(logging.WARNING, logger="palaver.policies.config"):
        policies, warnings = build_policies(config)
    assert [type(p) for p in policies] == [RulePolicy, LinearSequencePolicy]
    ted = policies[1]
    assert isinstance(ted, LinearSequencePolicy)
    assert (ted.name, ted.max_history) == ("TEDPolicy", 3)
    assert len(warnings) == 2
    assert "TEDPolicy" in warnings[0] and "substituted" in warnings[0]
    assert "UnexpecTEDIntentPolicy" in warnings[1] and "dropped" in warnings[1]
    assert sum("TEDPolicy" in r.getMessage() for r in caplog.records) == 1


def test_unknown_policies_and_bad_options_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"Unknown policy 'FormPolicy'.*RulePolicy"):
        build_policies([{"name": "FormPolicy"}])
    with pytest.raises(ConfigError, match=r"my_module\.MyPolicy"):
        build_policies([{"name": "my_module.MyPolicy"}])
    with pytest.raises(ConfigError, match="core_fallback_threshold"):
        build_policies([{"name": "RulePolicy", "core_fallback_threshold": 2}])
    with pytest.raises(ConfigError, match="name"):
        build_policies([{"max_history": 3}])
    with pytest.raises(ConfigError, match="No usable policy"):
        build_policies([{"name": "UnexpecTEDIntentPolicy"}])
    policies, _ = build_policies([{"name": "rasa.core.policies.rule_policy.RulePolicy"}])
    assert isinstance(policies[0], RulePolicy)


def test_rules_beat_stories_and_fallback_wins_when_nothing_is_sure() -> None:
    dom = domain()
    ensemble = train(dom, stories=STORIES, rules=RULES)
    thanks = ensemble.predict(started(dom, events=[user("thanks")]), dom)
    assert (thanks.action_name, thanks.policy_name) == ("utter_thanks", "RulePolicy")
    tracker = started(
        dom,
        events=[user("greet"), ActionExecuted("utter_greet"), ActionExecuted(ACTION_LISTEN_NAME)],
    )
    tracker.update(user("ask_price"))
    price = ensemble.predict(tracker, dom)
    assert (price.action_name, price.policy_name) == ("utter_price", "MemoizationPolicy")

    # The ML policy is never sure of anything it was not trained on: fallback.
    rules_and_ml = train(
        dom,
        stories=STORIES,
        rules=RULES,
        config=[
            {"name": "RulePolicy", "core_fallback_threshold": 0.99},
            {"name": "LinearSequencePolicy"},
        ],
    )
    unknown = rules_and_ml.predict(started(dom, events=[user("deny")]), dom)
    assert (unknown.action_name, unknown.policy_name) == ("action_default_fallback", "RulePolicy")


def test_prediction_after_a_user_message_defines_its_featurization() -> None:
    dom = domain()
    ensemble = train(dom, stories=STORIES, rules=RULES)
    tracker = started(dom, events=[user("thanks")])
    events = ensemble.predict(tracker, dom).events
    assert any(isinstance(e, DefinePrevUserUtteredFeaturization) for e in events)
    tracker.update(ActionExecuted("utter_thanks"))
    assert ensemble.predict(tracker, dom).events == []


def test_loop_happy_path_beats_everything() -> None:
    dom = domain()
    ensemble = train(dom, stories=STORIES, rules=RULES)
    tracker = started(dom, events=[user("request_restaurant")])
    effects = {
        "restaurant_form": [ActiveLoop("restaurant_form"), SlotSet("requested_slot", "cuisine")]
    }
    assert respond(ensemble, tracker, dom, effects) == ["restaurant_form", ACTION_LISTEN_NAME]
    tracker.update(user("greet"))  # a story would greet back; the loop goes first
    prediction = ensemble.predict(tracker, dom)
    assert prediction.action_name == "restaurant_form" and prediction.is_no_user_prediction


def test_persist_and_load_round_trip(tmp_path: Path) -> None:
    dom = domain()
    stories = [
        *STORIES,
        story("tier", UserStep("greet"), SlotStep("tier", "gold"), ActionStep("utter_greet")),
    ]
    ensemble = train(
        dom,
        stories=stories,
        rules=RULES,
        config=[
            {"name": "RulePolicy"},
            {"name": "AugmentedMemoizationPolicy"},
            {"name": "TEDPolicy"},
        ],
    )
    ensemble.persist(tmp_path / "core")
    loaded = PolicyEnsemble.load(tmp_path / "core")
    assert loaded.warnings == ensemble.warnings
    conversations: list[list[Event]] = [
        [user("thanks")],
        [user("greet")],
        [
            user("greet"),
            ActionExecuted("utter_greet"),
            ActionExecuted(ACTION_LISTEN_NAME),
            user("ask_price"),
        ],
        [user("deny")],
        [user("greet"), SlotSet("tier", "silver")],
    ]
    for events in conversations:
        a = ensemble.predict(started(dom, events=events), dom)
        b = loaded.predict(started(dom, events=events), dom)
        assert (a.action_name, a.confidence, a.policy_name, a.hide_rule_turn) == (
            b.action_name,
            b.confidence,
            b.policy_name,
            b.hide_rule_turn,
        )


def test_load_rejects_missing_or_foreign_directories(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        PolicyEnsemble.load(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format_version": 999}', encoding="utf-8")
    with pytest.raises(ModelError, match="format version"):
        PolicyEnsemble.load(tmp_path)


def test_fingerprint_inputs_change_with_the_config() -> None:
    a = PolicyEnsemble.fingerprint_inputs([{"name": "RulePolicy"}])
    assert a == PolicyEnsemble.fingerprint_inputs([{"name": "RulePolicy"}])
    assert a != PolicyEnsemble.fingerprint_inputs([{"name": "MemoizationPolicy"}])


def test_training_is_fast_for_a_small_bot() -> None:
    dom = domain()
    started_at = time.perf_counter()
    train(dom, stories=STORIES, rules=RULES)
    assert time.perf_counter() - started_at < 3.0


def test_prediction_cost_does_not_grow_with_the_conversation() -> None:
    dom = domain()
    ensemble = train(dom, stories=STORIES, rules=RULES)
    tracker = started(dom)
    while len(tracker.events) < 10_000:
        tracker.update(user("thanks"))
        tracker.update(ActionExecuted("utter_thanks"))
        tracker.update(BotUttered("you are welcome"))
        tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
    tracker.update(user("greet"))
    ensemble.predict(tracker, dom)  # first call replays the session once
    runs = 200
    begin = time.perf_counter()
    for _ in range(runs):
        ensemble.predict(tracker, dom)
    per_call = (time.perf_counter() - begin) / runs
    # Budget is 0.3 ms on a quiet machine; leave headroom for loaded CI hosts.
    assert per_call < 0.003


def test_replays_are_kept_for_as_many_conversations_as_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A conversation whose replay is kept is fed only its new events."""
    from palaver.policies import cache as cache_module
    from palaver.policies.cache import DEFAULT_REPLAY_CONVERSATIONS

    dom = domain()
    ensemble = train(dom, stories=STORIES, rules=RULES)
    fresh: list[int] = []
    build = cache_module.ReplayCache._fresh

    def counting(self: cache_module.ReplayCache, events: Any) -> Any:
        fresh.append(len(events))
        return build(self, events)

    monkeypatch.setattr(cache_module.ReplayCache, "_fresh", counting)
    conversations = DEFAULT_REPLAY_CONVERSATIONS + 200
    trackers = [started(dom, sender=f"u{i}", events=[user("greet")]) for i in range(conversations)]

    def round_of_predictions() -> None:
        for tracker in trackers:
            ensemble.predict(tracker, dom)

    round_of_predictions()
    assert len(fresh) == conversations
    round_of_predictions()  # the default keeps fewer: the first 200 were evicted...
    assert len(fresh) == 2 * conversations  # ...and so was every later one, in turn

    ensemble.keep_replays_for(conversations)
    fresh.clear()
    round_of_predictions()
    assert len(fresh) == 200  # only those the smaller cache had dropped
    fresh.clear()
    round_of_predictions()
    assert fresh == []  # now every replay is kept

    ensemble.keep_replays_for(10)  # never below the default
    assert ensemble._replays(dom).max_conversations == DEFAULT_REPLAY_CONVERSATIONS
