from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from palaver.errors import ConfigError
from palaver.nlu import NLUPipeline, embeddings
from palaver.nlu.training_data import NLUTrainingData
from tests.unit.nlu.datasets import simple_examples


class FakeEncoder:
    """Unit vectors from letter counts: enough to separate the test intents."""

    def encode(self, sentences: list[str], **kwargs: Any) -> np.ndarray:
        vectors = np.array(
            [[s.lower().count(c) + 0.01 for c in "abcdefghijklmnopqrstuvwxyz"] for s in sentences]
        )
        result: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return result


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return object() if name == embeddings.MODEL_PACKAGE else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(embeddings, "load_encoder", FakeEncoder)


def test_missing_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ConfigError, match=r"palaver\[embeddings\]"):
        embeddings.PretrainedEmbeddingFeaturizer({})


@pytest.mark.usefixtures("fake_model")
def test_embeddings_are_dense_features_next_to_tf_idf(tmp_path: Path) -> None:
    config: list[dict[str, Any]] = [
        {"name": "WhitespaceTokenizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "PretrainedEmbeddingFeaturizer", "weight": 0.5},
        {"name": "LogisticRegressionClassifier"},
    ]
    pipeline = NLUPipeline.train(NLUTrainingData(examples=simple_examples()), config)
    assert pipeline.parse("hello there")["intent"]["name"] == "greet"
    pipeline.persist(tmp_path)
    loaded = NLUPipeline.load(tmp_path)
    assert loaded.parse("thanks a lot") == pipeline.parse("thanks a lot")
