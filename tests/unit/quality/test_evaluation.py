"""Model evaluation: metrics, NLU (intents, entities, responses), stories, next action."""

from __future__ import annotations

import textwrap
from types import SimpleNamespace
from typing import Any

import pytest

from palaver.core.domain import Domain
from palaver.core.events import ActionExecuted, UserUttered
from palaver.core.tracker import DialogueStateTracker
from palaver.data.stories_reader import StoryReader
from palaver.data.yaml_io import read_yaml
from palaver.nlu.training_data import EntitySpan, NLUTrainingData, TrainingExample
from palaver.policies.policy import PolicyPrediction
from palaver.quality.evaluation import (
    classification_metrics,
    evaluate_nlu,
    evaluate_stories,
    in_training_data_fraction,
    predict_next_action,
)

DOMAIN = Domain.from_dict(
    {
        "intents": ["greet", "goodbye", "mood_unhappy"],
        "responses": {
            "utter_greet": [{"text": "hi"}],
            "utter_goodbye": [{"text": "bye"}],
            "utter_cheer_up": [{"text": "cheer up"}],
        },
    }
)


# --- metrics --------------------------------------------------------------------------------


def test_metrics_follow_sklearn_weighted_averages() -> None:
    metrics = classification_metrics(
        ["greet", "greet", "bye", "bye"], ["greet", "bye", "bye", "bye"]
    )
    assert metrics.accuracy == 0.75
    assert metrics.report["greet"]["precision"] == 1.0
    assert metrics.report["greet"]["recall"] == 0.5
    assert metrics.report["bye"]["precision"] == pytest.approx(2 / 3)
    assert metrics.precision == pytest.approx((1.0 * 2 + 2 / 3 * 2) / 4)
    assert metrics.report["greet"]["confused_with"] == {"bye": 1}
    assert metrics.report["bye"]["confused_with"] == {}


def test_metrics_without_labels() -> None:
    metrics = classification_metrics(["no_entity"], ["city"], exclude_label="no_entity")
    assert (metrics.report, metrics.precision, metrics.f1, metrics.accuracy) == ({}, 0, 0, 0)


def test_unpredicted_labels_and_none_predictions() -> None:
    metrics = classification_metrics(["greet", "bye"], ["greet", None])
    assert metrics.report["bye"]["recall"] == 0.0
    assert metrics.report["bye"]["confused_with"] == {"": 1}


# --- NLU --------------------------------------------------------------------------------------


def _parse(text: str) -> dict[str, Any]:
    intent = "greet" if "hello" in text else "goodbye"
    entities = []
    if "Berlin" in text:
        start = text.index("Berlin")
        entities.append(
            {
                "entity": "city",
                "value": "Berlin",
                "start": start,
                "end": start + 6,
                "extractor": "CRFEntityExtractor",
            }
        )
    parsed: dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities,
    }
    if text.startswith("what"):
        parsed["response_selector"] = {
            "faq": {"response": {"intent_response_key": "faq/ask_name", "confidence": 0.8}}
        }
    return parsed


def _examples() -> NLUTrainingData:
    return NLUTrainingData(
        examples=[
            TrainingExample("hello", "greet"),
            TrainingExample("hello from Berlin", "greet", (EntitySpan(11, 17, "city", "Berlin"),)),
            TrainingExample("bye", "goodbye"),
            TrainingExample("hello, I am leaving", "goodbye"),
            TrainingExample("to Paris", "goodbye", (EntitySpan(3, 8, "city", "Paris"),)),
            TrainingExample("what is your name", "faq/ask_name"),
            TrainingExample("what is the weather", "faq/ask_weather"),
        ]
    )


def test_intent_evaluation() -> None:
    result = evaluate_nlu(_parse, _examples())
    intents = result["intent_evaluation"]
    assert set(intents) == {"report", "accuracy", "f1_score", "precision", "predictions", "errors"}
    assert intents["accuracy"] == pytest.approx(4 / 7)
    assert intents["predictions"][0] == {
        "text": "hello",
        "intent": "greet",
        "predicted": "greet",
        "confidence": 0.9,
    }
    assert {
        "text": "hello, I am leaving",
        "intent": "goodbye",
        "intent_prediction": {"name": "greet", "confidence": 0.9},
    } in intents["errors"]
    # retrieval intents are evaluated by their base intent, as in Rasa
    assert intents["report"]["faq"]["support"] == 2


def test_entity_evaluation_per_extractor() -> None:
    entities = evaluate_nlu(_parse, _examples())["entity_evaluation"]
    assert set(entities) == {"CRFEntityExtractor"}
    crf = entities["CRFEntityExtractor"]
    assert crf["report"]["city"]["precision"] == 1.0
    assert crf["report"]["city"]["recall"] == 0.5
    assert "no_entity" not in crf["report"]
    assert [e["text"] for e in crf["errors"]] == ["to Paris"]


@pytest.mark.parametrize("extractors", [None, ["CRFEntityExtractor", "DucklingEntityExtractor"]])
def test_pretrained_extractors_are_not_evaluated(extractors: list[str] | None) -> None:
    """Duckling's entities are not learnt from the data: no report for them (as Rasa)."""

    def parse(text: str) -> dict[str, Any]:
        parsed = _parse(text)
        parsed["entities"].append(
            {"entity": "time", "value": "x", "start": 0, "end": 2,
             "extractor": "DucklingEntityExtractor"}
        )  # fmt: skip
        return parsed

    entities = evaluate_nlu(parse, _examples(), extractors=extractors)["entity_evaluation"]
    assert set(entities) == {"CRFEntityExtractor"}


def test_entity_evaluation_without_extractors() -> None:
    assert evaluate_nlu(_parse, _examples(), extractors=[])["entity_evaluation"] == {}


def test_response_selection_evaluation() -> None:
    responses = evaluate_nlu(_parse, _examples())["response_selection_evaluation"]
    assert responses["accuracy"] == 0.5
    assert responses["errors"] == [
        {
            "text": "what is the weather",
            "intent_response_key_target": "faq/ask_weather",
            "intent_response_key_prediction": {"name": "faq/ask_name", "confidence": 0.8},
        }
    ]


def test_no_response_selection_without_retrieval_examples() -> None:
    data = NLUTrainingData(examples=[TrainingExample("hello", "greet")])
    assert evaluate_nlu(_parse, data)["response_selection_evaluation"] is None


# --- next action ------------------------------------------------------------------------------


class ScriptedPolicies:
    """Greets after 'greet', cheers up after 'mood_unhappy', listens after a response."""

    def __init__(self, scores: dict[str, float] | None = None) -> None:
        self.scores = scores

    def predict(self, tracker: DialogueStateTracker, domain: Domain) -> Any:
        latest = tracker.latest_action_name
        if latest != "action_listen":
            return PolicyPrediction("action_listen", 1.0, "RulePolicy")
        intent = tracker.latest_message.intent_name if tracker.latest_message else None
        action = {"greet": "utter_greet", "mood_unhappy": "utter_cheer_up"}.get(
            intent or "", "utter_goodbye"
        )
        prediction = PolicyPrediction(action, 0.7, "TEDPolicy")
        if self.scores is not None:
            return SimpleNamespace(
                action_name=action, confidence=0.7, policy_name="TEDPolicy", scores=self.scores
            )
        return prediction


def _model(policies: Any = None) -> Any:
    return SimpleNamespace(
        domain=DOMAIN, policies=policies or ScriptedPolicies(), parse=_parse, nlu=object()
    )


def _tracker_after(intent: str) -> DialogueStateTracker:
    tracker = DialogueStateTracker("t", DOMAIN.create_slots())
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("x", {"name": intent, "confidence": 1.0}))
    return tracker


def test_prediction_scores_every_action() -> None:
    prediction = predict_next_action(_tracker_after("greet"), _model())
    assert (prediction.action, prediction.policy, prediction.confidence) == (
        "utter_greet",
        "TEDPolicy",
        0.7,
    )
    assert list(prediction.scores) == DOMAIN.action_names_or_texts
    assert prediction.scores["utter_greet"] == 0.7
    assert sum(prediction.scores.values()) == 0.7
    ranked = prediction.score_list(ranked=True)
    assert ranked[0] == {"action": "utter_greet", "score": 0.7}
    assert ranked[1]["action"] < ranked[2]["action"]  # ties by name


def test_prediction_uses_a_policy_distribution_when_given() -> None:
    policies = ScriptedPolicies(scores={"utter_greet": 0.7, "utter_goodbye": 0.3})
    prediction = predict_next_action(_tracker_after("greet"), _model(policies))
    assert prediction.scores["utter_goodbye"] == 0.3


def test_a_followup_action_wins_and_nothing_changes() -> None:
    tracker = _tracker_after("greet")
    tracker.trigger_followup_action("utter_goodbye")
    prediction = predict_next_action(tracker, _model())
    assert (prediction.action, prediction.policy) == ("utter_goodbye", None)
    assert tracker.followup_action == "utter_goodbye"


# --- stories ---------------------------------------------------------------------------------


def _stories(text: str) -> list[Any]:
    content = read_yaml(textwrap.dedent(text))
    return StoryReader().read(content["stories"], is_rule=False)


STORIES = """
stories:
- story: happy
  steps:
  - intent: greet
  - action: utter_greet
- story: sad
  steps:
  - intent: mood_unhappy
  - action: utter_greet
"""


def test_story_evaluation() -> None:
    result = evaluate_stories(_model(), _stories(STORIES))
    assert result["is_end_to_end_evaluation"] is False
    assert result["report"]["conversation_accuracy"] == {
        "accuracy": 0.5,
        "correct": 1,
        "with_warnings": 0,
        "total": 2,
    }
    assert {
        "action": "utter_greet",
        "predicted": "utter_cheer_up",
        "policy": "TEDPolicy",
        "confidence": 0.7,
    } in result["actions"]
    # per story: utter_* and the final action_listen are predicted
    assert len(result["actions"]) == 4
    assert result["accuracy"] == 0.75
    assert result["in_training_data_fraction"] == 0.5
    assert set(result["report"]) >= {"utter_greet", "action_listen", "conversation_accuracy"}


def test_end_to_end_story_evaluation_parses_user_texts() -> None:
    stories = _stories(
        """
        stories:
        - story: e2e
          steps:
          - user: |
              hello
            intent: greet
          - action: utter_greet
          - user: |
              hello again
            intent: goodbye
          - action: utter_goodbye
        """
    )
    result = evaluate_stories(_model(), stories, e2e=True)
    assert result["is_end_to_end_evaluation"] is True
    assert result["report"]["conversation_accuracy"]["correct"] == 0
    assert result["report"]["goodbye"]["recall"] == 0.0


def test_rules_are_not_evaluated() -> None:
    content = read_yaml("rules:\n- rule: r\n  steps:\n  - intent: greet\n  - action: utter_greet\n")
    rules = StoryReader().read(content["rules"], is_rule=True)
    result = evaluate_stories(_model(), rules)
    assert result["report"]["conversation_accuracy"]["total"] == 0


def test_in_training_data_fraction() -> None:
    actions = [
        {"policy": "RulePolicy", "confidence": 1.0},
        {"policy": "policy_0_MemoizationPolicy", "confidence": 1.0},
        {"policy": "TEDPolicy", "confidence": 0.7},
        {"policy": None, "confidence": 1.0},
        {"policy": "RulePolicy", "confidence": 0.0},
    ]
    assert in_training_data_fraction(actions) == 0.4
    assert in_training_data_fraction([]) == 0.0
