"""``palaver test nlu --config A.yml B.yml``: compare NLU configurations by training-data size.

For every run the data is split (stratified, 80/20, seed ``seed + run``);
for every percentage ``p`` that share of the training part is held back
(stratified again), each configuration is trained on the rest and scored on
the test part (weighted intent F1, as Rasa's ``nlu_model_comparison_graph``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palaver.data.config import ProjectConfig
from palaver.nlu.training_data import NLUTrainingData
from palaver.quality.evaluation import evaluate_nlu
from palaver.quality.split import split_nlu

Tick = Callable[[], None]
TEST_FRACTION = 0.2
DEFAULT_PERCENTAGES = (0, 25, 50, 75)


@dataclass(frozen=True)
class NamedConfig:
    """A configuration to compare, named after its file."""

    name: str
    pipeline: list[dict[str, Any]]
    language: str

    @classmethod
    def load(cls, path: Path, name: str) -> NamedConfig:
        config = ProjectConfig.load(path)
        return cls(name, [dict(c) for c in config.pipeline], config.language)


def config_names(paths: Sequence[Path]) -> list[str]:
    """Short distinct names: file stems, or ``directory/stem`` when stems repeat."""
    stems = [path.stem for path in paths]
    if len(set(stems)) == len(stems):
        return stems
    named = [f"{path.resolve().parent.name}/{path.stem}" for path in paths]
    if len(set(named)) == len(named):
        return named
    return [str(path) for path in paths]


@dataclass
class Comparison:
    """F1 per configuration, run and percentage, and the matching training-set sizes."""

    percentages: list[int]
    examples: list[int] = field(default_factory=list)
    f1: dict[str, list[list[float]]] = field(default_factory=dict)
    runs: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "percentages_excluded": self.percentages,
            "training_examples": self.examples,
            "runs": self.runs,
            "intent_f1": self.f1,
        }


def compare_configs(
    data: NLUTrainingData,
    configs: Sequence[NamedConfig],
    *,
    runs: int = 3,
    percentages: Sequence[int] = DEFAULT_PERCENTAGES,
    seed: int = 42,
    tick: Tick | None = None,
) -> Comparison:
    """Train and score every configuration ``runs * len(percentages)`` times.

    Args:
        data: all NLU data (split per run into training and test parts).
        configs: the configurations.
        runs: repetitions with different splits.
        percentages: shares (0-99) of the training part to exclude.
        seed: base seed of the splits.
        tick: called after each training (progress display).

    Raises:
        ValueError: a percentage outside 0-99, or fewer than one run.
    """
    from palaver.nlu.pipeline import NLUPipeline

    _check(runs, percentages)
    result = Comparison(sorted(set(percentages)), runs=runs)
    for run in range(runs):
        split = split_nlu(data, 1.0 - TEST_FRACTION, seed + run)
        sizes = []
        for percentage in result.percentages:
            train = _reduced(split.train, percentage, seed + run)
            sizes.append(len(train.examples))
            for config in configs:
                pipeline = NLUPipeline.train(train, config.pipeline, config.language)
                evaluation = evaluate_nlu(pipeline.parse, split.test)
                intents = evaluation.get("intent_evaluation") or {}
                f1 = float(intents.get("f1_score", 0.0))
                runs_of = result.f1.setdefault(config.name, [[] for _ in range(runs)])
                runs_of[run].append(f1)
                if tick is not None:
                    tick()
        if run == 0:
            result.examples = sizes
    return result


def _check(runs: int, percentages: Sequence[int]) -> None:
    if runs < 1:
        raise ValueError(f"--runs must be at least 1, got {runs}")
    bad = [p for p in percentages if not 0 <= p < 100]
    if bad or not percentages:
        raise ValueError(f"--percentages must be between 0 and 99, got {list(percentages)}")


def _reduced(train: NLUTrainingData, percentage: int, seed: int) -> NLUTrainingData:
    if percentage == 0:
        return train
    return split_nlu(train, 1.0 - percentage / 100, seed).train
