"""PNG charts of test results: confusion matrices, confidence histograms, training curves.

matplotlib is an optional dependency (``pip install 'palaver[reports]'``);
:func:`plotting_available` says whether it is installed. Figures are drawn
on the Agg canvas directly (no ``pyplot`` global state), so plotting is safe
in any thread.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CORRECT_COLOR = "#2e7d32"
WRONG_COLOR = "#c62828"
# Above this many labels, cells are not annotated with their counts.
ANNOTATE_MAX_LABELS = 30
_DPI = 100


def plotting_available() -> bool:
    """Whether matplotlib is installed."""
    return importlib.util.find_spec("matplotlib") is not None


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def confusion_matrix_png(
    targets: Sequence[str], predictions: Sequence[str], path: Path, title: str
) -> Path:
    """Rows: true labels, columns: predicted labels (the union of both, sorted)."""
    labels = sorted(set(targets) | set(predictions))
    position = {label: i for i, label in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for target, prediction in zip(targets, predictions, strict=True):
        counts[position[target]][position[prediction]] += 1
    side = min(4.0 + 0.32 * len(labels), 30.0)
    figure = _figure(side + 1.5, side)
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues", interpolation="nearest")
    figure.colorbar(image, ax=axes, shrink=0.8, label="examples")
    _label_axes(axes, labels)
    if len(labels) <= ANNOTATE_MAX_LABELS:
        _annotate(axes, counts)
    axes.set_title(title)
    return _save(figure, path)


def _label_axes(axes: Axes, labels: Sequence[str]) -> None:
    size = 9 if len(labels) <= ANNOTATE_MAX_LABELS else 6
    ticks = list(range(len(labels)))
    axes.set_xticks(ticks, labels=labels, rotation=90, fontsize=size)
    axes.set_yticks(ticks, labels=labels, fontsize=size)
    axes.set_xlabel("predicted")
    axes.set_ylabel("expected")


def _annotate(axes: Axes, counts: Sequence[Sequence[int]]) -> None:
    highest = max((max(row) for row in counts), default=0) or 1
    for row, values in enumerate(counts):
        for column, value in enumerate(values):
            if value:
                color = "white" if value > highest / 2 else "black"
                axes.text(column, row, str(value), ha="center", va="center", color=color)


def confidence_histogram_png(
    correct: Sequence[float], wrong: Sequence[float], path: Path, title: str
) -> Path:
    """Prediction confidences, correct ones (green) against wrong ones (red)."""
    bins = [i / 20 for i in range(21)]
    figure = _figure(7.0, 4.0)
    axes = figure.add_subplot()
    axes.hist(
        [list(correct), list(wrong)],
        bins=bins,
        color=[CORRECT_COLOR, WRONG_COLOR],
        label=[f"correct ({len(correct)})", f"wrong ({len(wrong)})"],
        stacked=True,
    )
    axes.set_xlim(0.0, 1.0)
    axes.set_xlabel("confidence")
    axes.set_ylabel("predictions")
    axes.legend(loc="upper left")
    axes.set_title(title)
    return _save(figure, path)


def comparison_png(
    examples: Sequence[int], f1_by_config: Mapping[str, Sequence[Sequence[float]]], path: Path
) -> Path:
    """Mean intent F1 (band: one standard deviation over runs) against training examples.

    Args:
        examples: training examples at each point.
        f1_by_config: config name -> runs -> F1 at each point.
        path: the PNG to write.
    """
    figure = _figure(7.0, 4.5)
    axes = figure.add_subplot()
    for name, runs in f1_by_config.items():
        means, deviations = _mean_std(runs)
        axes.plot(examples, means, marker="o", label=name)
        low = [m - d for m, d in zip(means, deviations, strict=True)]
        high = [m + d for m, d in zip(means, deviations, strict=True)]
        axes.fill_between(examples, low, high, alpha=0.2)
    axes.set_xlabel("training examples")
    axes.set_ylabel("intent F1 (weighted)")
    axes.set_ylim(0.0, 1.05)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    axes.set_title("Intent classification by training data size")
    return _save(figure, path)


def _mean_std(runs: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    columns = list(zip(*runs, strict=True))
    means = [sum(c) / len(c) for c in columns]
    deviations = [
        math.sqrt(sum((v - m) ** 2 for v in c) / len(c))
        for c, m in zip(columns, means, strict=True)
    ]
    return means, deviations


def confidences(
    predictions: Sequence[Mapping[str, Any]], target: str, predicted: str
) -> tuple[list[float], list[float]]:
    """Confidences of correct and of wrong predictions (entries without one are left out)."""
    correct: list[float] = []
    wrong: list[float] = []
    for entry in predictions:
        value = entry.get("confidence")
        if not isinstance(value, int | float):
            continue
        (correct if entry.get(target) == entry.get(predicted) else wrong).append(float(value))
    return correct, wrong
