from __future__ import annotations

from typing import Any

import pytest

from palaver.nlu import NLUPipeline
from palaver.nlu.fallback import (
    FallbackClassifier,
    is_fallback_prediction,
    undo_fallback_prediction,
)
from palaver.nlu.message import Message
from palaver.nlu.training_data import NLUTrainingData
from tests.unit.nlu.datasets import simple_examples


def _message(*confidences: float) -> Message:
    message = Message("text")
    ranking = [{"name": f"i{n}", "confidence": c} for n, c in enumerate(confidences)]
    message.intent = dict(ranking[0])
    message.intent_ranking = ranking
    return message


def test_low_confidence_falls_back() -> None:
    message = _message(0.25, 0.05)
    FallbackClassifier({}).process(message)
    assert message.intent == {"name": "nlu_fallback", "confidence": 0.3}
    assert [r["name"] for r in message.intent_ranking] == ["nlu_fallback", "i0", "i1"]


def test_ambiguous_prediction_falls_back() -> None:
    message = _message(0.48, 0.42, 0.10)
    FallbackClassifier({"threshold": 0.4, "ambiguity_threshold": 0.1}).process(message)
    assert message.intent == {"name": "nlu_fallback", "confidence": 0.4}


def test_confident_prediction_is_kept() -> None:
    message = _message(0.7, 0.2)
    FallbackClassifier({}).process(message)
    assert message.intent == {"name": "i0", "confidence": 0.7}
    assert len(message.intent_ranking) == 2


def test_threshold_must_be_a_number() -> None:
    from palaver.errors import ConfigError

    with pytest.raises(ConfigError, match="'threshold' has value 'high'"):
        FallbackClassifier({"threshold": "high"})


def test_nonsense_falls_back_end_to_end() -> None:
    pipeline = NLUPipeline.train(
        NLUTrainingData(examples=simple_examples()),
        [
            {"name": "WhitespaceTokenizer"},
            {"name": "CountVectorsFeaturizer"},
            {"name": "LogisticRegressionClassifier"},
            {"name": "FallbackClassifier", "threshold": 0.7},
        ],
    )
    result: dict[str, Any] = pipeline.parse("qwrtz plonk")
    assert is_fallback_prediction(result)
    assert result["intent"] == {"name": "nlu_fallback", "confidence": 0.7}
    undone = undo_fallback_prediction(result)
    assert undone["intent"]["name"] in {"greet", "goodbye", "thank"}
    assert not is_fallback_prediction(pipeline.parse("hello there"))
