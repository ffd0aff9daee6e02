"""BANKING77 CSV (``text,category``) to NLU training data and to Rasa NLU YAML.

``python -m bench.nlu.banking77 --out DIR`` writes ``DIR/train.yml`` and
``DIR/test.yml`` in Rasa's ``nlu:`` YAML format.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

from palaver.nlu.training_data import NLUTrainingData, TrainingExample

DATASET_DIR = Path("/work/shared/datasets/banking77")


def read_csv(path: Path) -> list[tuple[str, str]]:
    """``(text, intent)`` rows of a BANKING77 CSV file."""
    with path.open(newline="", encoding="utf-8") as f:
        return [(" ".join(row["text"].split()), row["category"]) for row in csv.DictReader(f)]


def training_data(rows: list[tuple[str, str]]) -> NLUTrainingData:
    return NLUTrainingData(examples=[TrainingExample(text, intent) for text, intent in rows])


def to_yaml(rows: list[tuple[str, str]]) -> str:
    """Rasa 3 NLU YAML: one ``intent`` block per category, examples in order."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in rows:
        by_intent[intent].append(text)
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in by_intent.items():
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {text}" for text in texts]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATASET_DIR, help="folder with the CSVs")
    parser.add_argument("--out", type=Path, required=True, help="folder for train.yml/test.yml")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        rows = read_csv(args.data / f"{split}.csv")
        (args.out / f"{split}.yml").write_text(to_yaml(rows), encoding="utf-8")
        print(f"{split}: {len(rows)} examples -> {args.out / f'{split}.yml'}")


if __name__ == "__main__":
    main()
