from __future__ import annotations

import pytest

from palaver.nlu import NLUPipeline
from palaver.nlu.training_data import NLUTrainingData, TrainingExample


@pytest.fixture(scope="module")
def pipeline() -> NLUPipeline:
    examples = [
        TrainingExample("hello", "greet"),
        TrainingExample("bye", "goodbye"),
        TrainingExample("ok", "affirm"),
        TrainingExample("ok", "deny"),
    ]
    return NLUPipeline.train(
        NLUTrainingData(examples=examples), [{"name": "KeywordIntentClassifier"}]
    )


def test_keyword_on_word_boundaries(pipeline: NLUPipeline) -> None:
    assert pipeline.parse("well hello there")["intent"] == {"name": "greet", "confidence": 1.0}
    assert pipeline.parse("byebye")["intent"] == {"name": None, "confidence": 0.0}


def test_keyword_used_by_two_intents_is_dropped(pipeline: NLUPipeline) -> None:
    assert pipeline.parse("ok")["intent"]["name"] is None
