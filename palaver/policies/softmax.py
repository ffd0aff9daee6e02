"""Multinomial logistic regression on sparse rows, in plain numpy.

scikit-learn would do, but importing it (and scipy.optimize) costs seconds,
more than training a small bot. The problem is small and convex: full-batch
Adam on the L2-regularized cross-entropy (scikit-learn's objective scaled by
``1 / n``) converges in a few hundred steps.

Rows are given CSR-style (``indptr``, ``indices``, ``values``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class SparseRows:
    """Rows of a sparse matrix with ``n_features`` columns (CSR layout)."""

    indptr: IntArray
    indices: IntArray
    values: FloatArray
    n_features: int

    @classmethod
    def from_lists(cls, rows: list[tuple[list[int], list[float]]], n_features: int) -> SparseRows:
        """From per-row (indices, values); empty rows get a zero padding entry."""
        indices: list[int] = []
        values: list[float] = []
        indptr = [0]
        for row_indices, row_values in rows:
            if row_indices:
                indices.extend(row_indices)
                values.extend(row_values)
            else:
                # reduceat needs non-empty segments: pad with an inert column.
                indices.append(n_features)
                values.append(0.0)
            indptr.append(len(indices))
        return cls(
            np.asarray(indptr, dtype=np.int64),
            np.asarray(indices, dtype=np.int64),
            np.asarray(values, dtype=np.float64),
            n_features,
        )

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1


def fit_softmax(
    rows: SparseRows,
    targets: IntArray,
    n_classes: int,
    *,
    c: float = 10.0,
    max_iter: int = 400,
    learning_rate: float = 0.1,
    tolerance: float = 1e-5,
) -> tuple[FloatArray, FloatArray]:
    """Weights ``(n_features, n_classes)`` and bias ``(n_classes,)``.

    Args:
        rows: training rows.
        targets: class index of every row.
        n_classes: number of classes.
        c: inverse regularization strength (as scikit-learn's ``C``).
        max_iter: Adam steps at most.
        learning_rate: Adam step size.
        tolerance: stop when the largest gradient entry is below this.
    """
    n = rows.n_rows
    # One extra (always zero) row of weights for the padding column.
    weights = np.zeros((rows.n_features + 1, n_classes))
    bias = np.zeros(n_classes)
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), targets] = 1.0
    l2 = 1.0 / (c * n)
    row_of_entry = np.repeat(np.arange(n), np.diff(rows.indptr))
    order = np.argsort(rows.indices, kind="stable")
    sorted_features = rows.indices[order]
    present, starts = np.unique(sorted_features, return_index=True)
    sorted_rows = row_of_entry[order]
    sorted_values = rows.values[order][:, None]
    moments = [
        np.zeros_like(weights),
        np.zeros_like(weights),
        np.zeros_like(bias),
        np.zeros_like(bias),
    ]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, max_iter + 1):
        logits = _logits(rows, weights, bias)
        probs = _softmax(logits)
        error = (probs - onehot) / n
        grad_w = l2 * weights
        grad_w[present] += np.add.reduceat(sorted_values * error[sorted_rows], starts, axis=0)
        grad_w[-1] = 0.0
        grad_b = error.sum(axis=0)
        if max(np.abs(grad_w).max(), np.abs(grad_b).max()) < tolerance:
            break
        for param, grad, m, v in (
            (weights, grad_w, moments[0], moments[1]),
            (bias, grad_b, moments[2], moments[3]),
        ):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            m_hat = m / (1 - beta1**step)
            v_hat = v / (1 - beta2**step)
            param -= learning_rate * m_hat / (np.sqrt(v_hat) + eps)
    return weights[:-1].copy(), bias


def _logits(rows: SparseRows, weights: FloatArray, bias: FloatArray) -> FloatArray:
    gathered = weights[rows.indices] * rows.values[:, None]
    summed: FloatArray = np.add.reduceat(gathered, rows.indptr[:-1], axis=0)
    return summed + bias


def _softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: FloatArray = exp / exp.sum(axis=1, keepdims=True)
    return result
