"""The per-message working state passed through the pipeline components.

A :class:`Message` is created for every parsed text (and every training
example); components fill in tokens, features, intent and entities in turn.
A :class:`TrainingBatch` is the training-time view: the same messages plus
their row-aligned sentence feature matrices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from palaver.nlu.training_data import NLUTrainingData, TrainingExample

if TYPE_CHECKING:  # scipy is imported only when training (see ``feature_matrix``)
    from scipy import sparse

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# Not frozen: a frozen dataclass's __init__ costs ~10x more (object.__setattr__
# per field) and this one is built several times per message. Treat it as
# immutable; unsafe_hash keeps it hashable as before.
@dataclass(slots=True, unsafe_hash=True)
class Token:
    """A token of the message text with its character offsets."""

    text: str
    start: int
    end: int


# Not frozen: a frozen dataclass's __init__ costs ~10x more (object.__setattr__
# per field) and this one is built several times per message. Treat it as
# immutable; unsafe_hash keeps it hashable as before.
@dataclass(slots=True, unsafe_hash=True)
class SparseVector:
    """One message's sparse sentence features from one featurizer."""

    indices: IntArray
    values: FloatArray
    dim: int


# Sentence features of one featurizer: sparse, or a dense 1-d float array.
SentenceFeatures: TypeAlias = SparseVector | FloatArray
# Row-aligned sentence features of all training examples from one featurizer:
# a scipy CSR matrix or a dense 2-d float array.
FeatureMatrix: TypeAlias = Any


@dataclass(slots=True)
class Message:
    """What the pipeline knows about one text; parse JSON is built from it."""

    text: str
    tokens: list[Token] = field(default_factory=list)
    # one entry per featurizer, in pipeline order
    sentence_features: list[SentenceFeatures] = field(default_factory=list)
    # per token: feature name -> value (regex matches, lexical features)
    token_features: list[dict[str, Any]] = field(default_factory=list)
    intent: dict[str, Any] | None = None
    intent_ranking: list[dict[str, Any]] = field(default_factory=list)
    # the classifier's labels and their probabilities (internal, not output)
    intent_labels: list[str] = field(default_factory=list)
    intent_probabilities: FloatArray | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    response_selector: dict[str, Any] | None = None

    def features_of_tokens(self) -> list[dict[str, Any]]:
        """``token_features``, created (one empty dict per token) on first use."""
        if len(self.token_features) != len(self.tokens):
            self.token_features = [{} for _ in self.tokens]
        return self.token_features


@dataclass(slots=True)
class TrainingBatch:
    """Training data as the components see it while the pipeline trains.

    ``messages[i]`` belongs to ``examples[i]``; every matrix in
    ``sentence_features`` has one row per example, in pipeline order.
    """

    data: NLUTrainingData
    examples: list[TrainingExample]
    messages: list[Message]
    sentence_features: list[FeatureMatrix] = field(default_factory=list)

    @classmethod
    def from_data(cls, data: NLUTrainingData) -> TrainingBatch:
        examples = list(data.examples)
        return cls(data, examples, [Message(ex.text) for ex in examples])

    def feature_matrix(self) -> sparse.csr_matrix:
        """All sentence features side by side (one row per example)."""
        from scipy import sparse

        blocks = [sparse.csr_matrix(m) for m in self.sentence_features]
        if not blocks:
            return sparse.csr_matrix((len(self.examples), 0))
        return sparse.hstack(blocks, format="csr")


def stack_vectors(vectors: list[SparseVector], dim: int) -> sparse.csr_matrix:
    """Stack per-message sparse vectors into a CSR matrix (one row each)."""
    from scipy import sparse

    indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
    np.cumsum([v.indices.size for v in vectors], out=indptr[1:])
    indices = np.concatenate([v.indices for v in vectors]) if vectors else np.zeros(0, np.int64)
    data = np.concatenate([v.values for v in vectors]) if vectors else np.zeros(0)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(vectors), dim))
