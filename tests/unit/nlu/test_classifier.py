from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from palaver.nlu import NLUPipeline
from palaver.nlu.linear import LinearModel, LogisticRegressionSettings
from palaver.nlu.message import SparseVector
from palaver.nlu.training_data import NLUTrainingData, TrainingExample
from tests.unit.nlu.datasets import simple_examples

PIPELINE: list[dict[str, Any]] = [
    {"name": "WhitespaceTokenizer", "intent_tokenization_flag": True, "intent_split_symbol": "+"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
    {"name": "LogisticRegressionClassifier"},
]


def test_separable_intents_are_classified() -> None:
    pipeline = NLUPipeline.train(NLUTrainingData(examples=simple_examples()), PIPELINE)
    assert pipeline.intents == ["goodbye", "greet", "thank"]
    for text, intent in [("hello there", "greet"), ("bye now", "goodbye"), ("thanks!", "thank")]:
        result = pipeline.parse(text)
        assert result["intent"]["name"] == intent
        assert result["intent"]["confidence"] > 0.5
        ranking = result["intent_ranking"]
        assert ranking[0]["name"] == intent
        assert abs(sum(r["confidence"] for r in ranking) - 1.0) < 1e-9


def test_multi_intent_labels_are_their_own_class() -> None:
    examples = [
        *simple_examples(),
        *(
            TrainingExample(t, "greet+thank")
            for t in ["hi thanks", "hello and thank you", "hey thanks a lot", "hi, many thanks"]
        ),
    ]
    pipeline = NLUPipeline.train(NLUTrainingData(examples=examples), PIPELINE)
    assert "greet+thank" in pipeline.intents
    assert pipeline.parse("hello, thanks a lot")["intent"]["name"] == "greet+thank"


def test_one_intent_gets_full_confidence() -> None:
    data = NLUTrainingData(
        examples=[TrainingExample("hi", "greet"), TrainingExample("yo", "greet")]
    )
    result = NLUPipeline.train(data, PIPELINE).parse("anything")
    assert result["intent"] == {"name": "greet", "confidence": 1.0}


def test_blank_text_has_no_intent() -> None:
    pipeline = NLUPipeline.train(NLUTrainingData(examples=simple_examples()), PIPELINE)
    result = pipeline.parse("  ")
    assert result["intent"] == {"name": None, "confidence": 0.0}
    assert result["intent_ranking"] == []


def test_fast_scoring_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    features = rng.random((60, 12)) * (rng.random((60, 12)) > 0.6)
    labels = [["a", "b", "c"][i % 3] for i in range(60)]
    settings = LogisticRegressionSettings(C=5.0)
    model = LinearModel.fit(_csr(features), labels, [8, 4], settings)
    reference = LogisticRegression(C=5.0, max_iter=300).fit(features.astype(np.float32), labels)
    row = features[7]
    sparse_part = SparseVector(np.flatnonzero(row[:8]), row[:8][row[:8] != 0], 8)
    probabilities = model.probabilities([sparse_part, row[8:]])
    np.testing.assert_allclose(probabilities, reference.predict_proba([row])[0], rtol=1e-4)
    np.testing.assert_allclose(model.batch_probabilities(_csr(features[7:8]))[0], probabilities)


def test_binary_problem_scores_both_classes() -> None:
    features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    model = LinearModel.fit(_csr(features), ["x", "x", "y", "y"], [2], LogisticRegressionSettings())
    probabilities = model.probabilities([features[0]])
    assert model.labels == ["x", "y"]
    assert probabilities[0] > 0.5 > probabilities[1]


def _csr(matrix: np.ndarray) -> object:
    from scipy import sparse

    return sparse.csr_matrix(matrix)


def test_ranking_is_a_stable_descending_argsort() -> None:
    from palaver.nlu.linear import ranking

    labels = [f"l{i}" for i in range(12)]
    rng = np.random.default_rng(7)
    for _ in range(200):
        # Few distinct values: many ties, which keep label order.
        probabilities = rng.integers(0, 4, size=12).astype(np.float64) / 4
        expected = np.argsort(-probabilities, kind="stable").tolist()
        assert [name for name, _ in ranking(labels, probabilities, 0)] == [
            labels[i] for i in expected
        ]
        assert [name for name, _ in ranking(labels, probabilities, 5)] == [
            labels[i] for i in expected[:5]
        ]
    assert ranking(labels[:3], np.array([0.2, 0.5, 0.3]), 0) == [
        ("l1", 0.5),
        ("l2", 0.3),
        ("l0", 0.2),
    ]


def test_a_pickled_model_scores_the_same() -> None:
    import pickle

    pipeline = NLUPipeline.train(NLUTrainingData(examples=simple_examples()), PIPELINE)
    restored = pickle.loads(pickle.dumps(pipeline))
    for text in ["hello there", "bye now", "thanks!", "something else entirely"]:
        assert restored.parse(text)["intent_ranking"] == pipeline.parse(text)["intent_ranking"]
