"""``palaver data split nlu``: a stratified train/test split of the NLU data.

Each label (intent, or full retrieval intent ``faq/ask_name``) is split on
its own, so both parts keep the label distribution: ``round(n * fraction)``
examples go to training, at least one to each part when the label has two or
more, and a single example stays in training. Retrieval responses go with
their sub-intents. The same seed gives the same split.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from palaver.core.constants import UTTER_PREFIX
from palaver.nlu.training_data import NLUTrainingData, TrainingExample
from palaver.quality.nlu_writer import nlu_yaml

TRAINING_FILE = "training_data.yml"
TEST_FILE = "test_data.yml"


@dataclass(frozen=True)
class NLUSplit:
    """Both parts of a split and the seed that made it."""

    train: NLUTrainingData
    test: NLUTrainingData
    seed: int


def split_nlu(
    data: NLUTrainingData, training_fraction: float = 0.8, seed: int | None = None
) -> NLUSplit:
    """Split ``data`` per label (see the module docstring).

    Args:
        data: the NLU data.
        training_fraction: share of each label's examples for training, in (0, 1).
        seed: random seed; ``None`` picks one (returned in the result).

    Raises:
        ValueError: ``training_fraction`` outside (0, 1).
    """
    if not 0.0 < training_fraction < 1.0:
        raise ValueError(f"training fraction must be between 0 and 1, got {training_fraction}")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    by_label: dict[str, list[TrainingExample]] = {}
    for example in data.examples:
        by_label.setdefault(example.intent, []).append(example)
    train: list[TrainingExample] = []
    test: list[TrainingExample] = []
    for label in sorted(by_label):
        examples = list(by_label[label])
        rng.shuffle(examples)
        cut = training_count(len(examples), training_fraction)
        train.extend(examples[:cut])
        test.extend(examples[cut:])
    return NLUSplit(_part(data, train, with_features=True), _part(data, test), seed)


def training_count(n: int, fraction: float) -> int:
    """How many of ``n`` examples of one label go to training."""
    if n < 2:
        return n
    return min(max(round(n * fraction), 1), n - 1)


def _part(
    data: NLUTrainingData, examples: list[TrainingExample], *, with_features: bool = False
) -> NLUTrainingData:
    labels = {example.intent for example in examples}
    responses = {
        name: variations
        for name, variations in data.responses.items()
        if name.removeprefix(UTTER_PREFIX) in labels
    }
    if not with_features:
        return NLUTrainingData(examples=examples, responses=responses)
    return NLUTrainingData(
        examples=examples,
        synonyms=dict(data.synonyms),
        regexes=list(data.regexes),
        lookups=list(data.lookups),
        responses=responses,
    )


def write_split(split: NLUSplit, out_dir: Path) -> Sequence[Path]:
    """Write ``training_data.yml`` (with synonyms, regexes, lookups) and ``test_data.yml``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    train_file, test_file = out_dir / TRAINING_FILE, out_dir / TEST_FILE
    train_file.write_text(nlu_yaml(split.train), encoding="utf-8")
    test_file.write_text(nlu_yaml(split.test, with_features=False), encoding="utf-8")
    return train_file, test_file
