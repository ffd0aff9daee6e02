"""Logistic-regression models scored without scikit-learn at parse time.

scikit-learn fits the model; :class:`LinearModel` keeps its weights as a dense
``(n_features, n_classes)`` array so one message is scored by gathering the
rows of its non-zero features: a few microseconds instead of the ~100 µs of
``predict_proba`` input validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from palaver.nlu.message import FloatArray, IntArray, SentenceFeatures, SparseVector

if TYPE_CHECKING:
    from scipy import sparse


@dataclass(frozen=True, slots=True)
class LogisticRegressionSettings:
    C: float = 30.0
    max_iter: int = 300
    tol: float = 1e-4
    class_weight: str | None = None
    solver: str = "lbfgs"
    random_state: int | None = None


class LinearModel:
    """A trained multinomial linear model over concatenated feature blocks."""

    def __init__(
        self, labels: list[str], weights: FloatArray, bias: FloatArray, block_dims: list[int]
    ) -> None:
        self.labels = labels
        self.weights = np.ascontiguousarray(weights)
        self.bias = bias
        self.offsets = np.concatenate([[0], np.cumsum(block_dims)]).astype(np.int64)
        self._starts: list[int] = self.offsets[:-1].tolist()

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._starts = self.offsets[:-1].tolist()

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        del state["_starts"]
        return state

    @classmethod
    def fit(
        cls,
        features: sparse.csr_matrix,
        labels: Sequence[str],
        block_dims: list[int],
        settings: LogisticRegressionSettings,
    ) -> LinearModel:
        """Fit on ``features`` (one row per label); one distinct label gives a constant model."""
        classes = sorted(set(labels))
        if len(classes) == 1:
            return cls(classes, np.zeros((features.shape[1], 1)), np.zeros(1), block_dims)
        # Imported here: scikit-learn (and scipy.stats with it) takes about a
        # second to import and a server that only parses never needs it.
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        model = LogisticRegression(
            C=settings.C,
            max_iter=settings.max_iter,
            tol=settings.tol,
            class_weight=settings.class_weight,
            solver=settings.solver,
            random_state=settings.random_state,
        )
        # float32 fits ~30% faster with the same accuracy; weights go back to
        # float64. lbfgs is dominated by level-1 BLAS on the weight vector, where
        # OpenBLAS threads only spin: one thread halves CPU time (and the wall
        # time on a busy machine). The limit is process-wide while it lasts.
        with threadpool_limits(limits=1, user_api="blas"):
            model.fit(features.astype(np.float32), list(labels))
        coef = model.coef_.astype(np.float64)
        intercept = model.intercept_.astype(np.float64)
        if coef.shape[0] == 1:  # binary: softmax over (0, z) is sigmoid(z)
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        return cls([str(c) for c in model.classes_], coef.T, intercept, block_dims)

    def probabilities(self, blocks: Sequence[SentenceFeatures]) -> FloatArray:
        """Class probabilities for one message's sentence feature blocks.

        The sparse blocks' rows are gathered in one ``take``: per-block numpy
        calls cost more than the arithmetic for a message's few dozen features.
        """
        scores = self.bias
        indices: list[IntArray] = []
        values: list[FloatArray] = []
        for block, offset in zip(blocks, self._starts, strict=False):
            if isinstance(block, SparseVector):
                if block.indices.size:
                    indices.append(block.indices + offset if offset else block.indices)
                    values.append(block.values)
            elif block.size:
                scores = scores + block @ self.weights[offset : offset + block.size]
        if len(indices) == 1:
            scores = scores + values[0] @ self.weights.take(indices[0], axis=0)
        elif indices:
            scores = scores + (
                np.concatenate(values) @ self.weights.take(np.concatenate(indices), axis=0)
            )
        return _softmax(scores)

    def batch_probabilities(self, features: sparse.csr_matrix) -> FloatArray:
        """Class probabilities for a feature matrix (one row per message)."""
        scores = np.asarray(features @ self.weights) + self.bias
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        result: FloatArray = exp / exp.sum(axis=1, keepdims=True)
        return result


def _softmax(scores: FloatArray) -> FloatArray:
    exp = np.exp(scores - scores.max())
    result: FloatArray = exp / exp.sum()
    return result


def ranking(labels: list[str], probabilities: FloatArray, length: int) -> list[tuple[str, float]]:
    """``(label, probability)`` pairs, best first; ``length`` 0 keeps all."""
    values: list[float] = probabilities.tolist()  # Python floats, no numpy scalar per class
    # Highest first, ties in label order: what a stable argsort of -p gives
    # (a reversed sort keeps equal elements in their original order).
    order = sorted(range(len(values)), key=values.__getitem__, reverse=True)
    if length > 0:
        order = order[:length]
    return [(labels[i], values[i]) for i in order]
