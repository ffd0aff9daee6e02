"""PretrainedEmbeddingFeaturizer: dense sentence embeddings (optional extra).

Install with ``pip install 'palaver[embeddings]'``. The featurizer adds one
dense, unit-length sentence embedding (times ``weight``) next to the sparse
TF-IDF blocks, for the classifier after it::

    pipeline:
      - name: WhitespaceTokenizer
      - name: CountVectorsFeaturizer
      - name: PretrainedEmbeddingFeaturizer
      - name: LogisticRegressionClassifier

The encoder (see :mod:`palaver.nlu.sentence_encoder`) is loaded when the
featurizer trains or is unpickled by ``NLUPipeline.load``, which the server
runs in a worker thread, so no parse waits for it. A persisted featurizer
holds only its settings and the model package's version.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from palaver.errors import ConfigError, ModelError
from palaver.nlu.component import settings_from_config
from palaver.nlu.message import FloatArray, Message, TrainingBatch
from palaver.nlu.sentence_encoder import (
    INSTALL_HINT,
    MODELS,
    PRECISIONS,
    Encoder,
    load_encoder,
    package_version,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EmbeddingSettings:
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = 128
    # Scale of the embedding relative to the L2-normalised TF-IDF blocks. In
    # 5-fold cross-validation on BANKING77's train split (C=30), 1.5 scored
    # 92.97% against 92.84% for 1 and 2, and 92.62% for 2.5.
    weight: float = 1.5
    # "auto": bfloat16 where the CPU computes it natively (AVX512-BF16, AMX):
    # 2.5x less CPU than float32, cosine to the float32 embedding > 0.9999.
    precision: str = "auto"
    # torch intra-op threads. On a busy 2-core machine a second OpenMP thread
    # mostly spins: one parse took 125 ms instead of 12.
    threads: int = 1

    def validate(self, component: str) -> None:
        choices = {"model": sorted(MODELS), "precision": list(PRECISIONS)}
        for key, valid in choices.items():
            if getattr(self, key) not in valid:
                raise ConfigError(
                    f"Component '{component}': config '{key}' has value "
                    f"'{getattr(self, key)}'. Valid values: {', '.join(valid)}."
                )
        for key in ("batch_size", "threads"):
            if getattr(self, key) < 1:
                raise ConfigError(
                    f"Component '{component}': config '{key}' has value "
                    f"{getattr(self, key)!r}. Expected a positive int."
                )


class PretrainedEmbeddingFeaturizer:
    """Dense sentence features from a pretrained sentence encoder."""

    name: ClassVar[str] = "PretrainedEmbeddingFeaturizer"

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(EmbeddingSettings, self.name, config)
        self.settings.validate(self.name)
        package = MODELS[self.settings.model]
        if importlib.util.find_spec(package) is None:
            raise ConfigError(f"'{self.name}' needs the '{package}' package. {INSTALL_HINT}")
        self.package_version = package_version(self.settings.model)
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()

    def train(self, batch: TrainingBatch) -> None:
        # One batched encoding of each distinct text; the cache lives for this
        # training run only.
        texts = [m.text for m in batch.messages]
        unique = list(dict.fromkeys(texts))
        vectors = self._encode(unique)
        row = {text: index for index, text in enumerate(unique)}
        batch.sentence_features.append(vectors[[row[text] for text in texts]])

    def process(self, message: Message) -> None:
        message.sentence_features.append(self._encode([message.text])[0])

    def load(self) -> None:
        """Load the encoder now rather than on first use."""
        with self._lock:
            self._loaded()

    def _loaded(self) -> Encoder:
        if self._encoder is None:
            s = self.settings
            self._encoder = load_encoder(s.model, s.precision, s.threads)
        return self._encoder

    def _encode(self, texts: list[str]) -> FloatArray:
        with self._lock:
            raw = self._loaded().encode(texts, self.settings.batch_size)
        vectors: FloatArray = np.asarray(raw, dtype=np.float64)
        # normalise in float64: a bfloat16 model's output is unit length to ~0.4%
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        result: FloatArray = vectors / np.maximum(norms, 1e-12) * self.settings.weight
        return result

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings, "package_version": self.package_version}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.settings = state["settings"]
        self.package_version = state["package_version"]
        self._encoder = None
        self._lock = threading.Lock()
        self._check_installed()
        # NLUPipeline.load unpickles in the server's model-loading thread:
        # load here rather than in the first parse, on the event loop.
        self.load()

    def _check_installed(self) -> None:
        installed = package_version(self.settings.model)
        if installed is None:
            raise ModelError(
                f"The NLU model's '{self.name}' uses the embedding model "
                f"'{self.settings.model}', which is not installed. {INSTALL_HINT}"
            )
        if installed != self.package_version:
            logger.warning(
                "nlu.embeddings.version_mismatch model=%s trained=%s installed=%s",
                self.settings.model,
                self.package_version,
                installed,
            )
