"""Report files of ``palaver test`` (Rasa's names and JSON shapes) and the terminal summary.

Files written into the output directory:

* NLU: ``intent_report.json``, ``intent_errors.json``,
  ``intent_confusion_matrix.png``, ``intent_histogram.png``;
  ``<Extractor>_report.json`` / ``<Extractor>_errors.json`` per entity
  extractor; ``response_selection_report.json``, ``response_selection_errors.json``,
  ``response_selection_confusion_matrix.png``, ``response_selection_histogram.png``.
* Config comparison: ``nlu_comparison_results.json``, ``nlu_model_comparison_graph.png``.
* Core: ``story_report.json``, ``failed_test_stories.yml``,
  ``stories_with_warnings.yml`` (if any), ``story_confusion_matrix.png``.
* Both: ``report.html`` (see :mod:`palaver.quality.html`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palaver.quality import plots
from palaver.quality.comparison import Comparison
from palaver.quality.failed_stories import write_story_files
from palaver.quality.issues import relative

Report = dict[str, Any]
NONE_LABEL = "(none)"
COMPARISON_GRAPH = "nlu_model_comparison_graph.png"
STORY_CONFUSION_MATRIX = "story_confusion_matrix.png"


@dataclass
class NLUSection:
    """An NLU evaluation and what it was run on.

    Attributes:
        evaluation: ``evaluate_nlu``'s result.
        mode: ``model`` (a trained model on test data) or ``cross-validation``.
        source: where the test examples came from (for people).
        examples: number of test examples.
        folds: folds of a cross-validation.
    """

    evaluation: Report
    mode: str
    source: str
    examples: int
    folds: int | None = None


@dataclass
class QualityReport:
    """Everything one ``palaver test`` run found, for the summary and the HTML page."""

    project: Path
    out_dir: Path
    model: str | None = None
    nlu: NLUSection | None = None
    core: Report | None = None
    comparison: Comparison | None = None
    files: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def file(self, name: str) -> Path | None:
        """A written file by name, if it was written."""
        return next((p for p in self.files if p.name == name), None)


# --- JSON ---------------------------------------------------------------------------------


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def with_accuracy(evaluation: Mapping[str, Any]) -> Report:
    """The classification report with an ``accuracy`` entry (sklearn writes ``micro avg``
    instead when a prediction is not among the expected labels)."""
    report = dict(evaluation.get("report") or {})
    report.setdefault("accuracy", evaluation.get("accuracy", 0.0))
    return report


def _label(value: Any) -> str:
    return NONE_LABEL if value is None or value == "" else str(value)


# --- NLU ----------------------------------------------------------------------------------


def write_nlu(evaluation: Mapping[str, Any], out_dir: Path, *, plot: bool) -> list[Path]:
    """Reports of an NLU evaluation (see the module docstring)."""
    written: list[Path] = []
    intents = evaluation.get("intent_evaluation")
    if isinstance(intents, Mapping):
        written += _classification_files(
            intents, out_dir, "intent", ("intent", "predicted"), "Intent", plot=plot
        )
    for extractor, result in (evaluation.get("entity_evaluation") or {}).items():
        written.append(write_json(out_dir / f"{extractor}_report.json", with_accuracy(result)))
        written.append(write_json(out_dir / f"{extractor}_errors.json", result.get("errors", [])))
    responses = evaluation.get("response_selection_evaluation")
    if isinstance(responses, Mapping):
        keys = ("intent_response_key_target", "intent_response_key_prediction")
        written += _classification_files(
            responses, out_dir, "response_selection", keys, "Response selection", plot=plot
        )
    return written


def _classification_files(
    evaluation: Mapping[str, Any],
    out_dir: Path,
    prefix: str,
    keys: tuple[str, str],
    title: str,
    *,
    plot: bool,
) -> list[Path]:
    written = [
        write_json(out_dir / f"{prefix}_report.json", with_accuracy(evaluation)),
        write_json(out_dir / f"{prefix}_errors.json", evaluation.get("errors", [])),
    ]
    predictions: Sequence[Mapping[str, Any]] = evaluation.get("predictions", [])
    if plot and predictions:
        target, predicted = keys
        targets = [_label(p.get(target)) for p in predictions]
        guesses = [_label(p.get(predicted)) for p in predictions]
        written.append(
            plots.confusion_matrix_png(
                targets,
                guesses,
                out_dir / f"{prefix}_confusion_matrix.png",
                f"{title} confusion matrix",
            )
        )
        correct, wrong = plots.confidences(predictions, target, predicted)
        written.append(
            plots.confidence_histogram_png(
                correct,
                wrong,
                out_dir / f"{prefix}_histogram.png",
                f"{title} prediction confidence",
            )
        )
    return written


def write_comparison(comparison: Comparison, out_dir: Path, *, plot: bool) -> list[Path]:
    written = [write_json(out_dir / "nlu_comparison_results.json", comparison.as_dict())]
    if plot and comparison.examples:
        written.append(
            plots.comparison_png(comparison.examples, comparison.f1, out_dir / COMPARISON_GRAPH)
        )
    return written


# --- core ---------------------------------------------------------------------------------


def write_core(report: Mapping[str, Any], out_dir: Path, root: Path, *, plot: bool) -> list[Path]:
    """``story_report.json``, the failed stories and the action confusion matrix."""
    written = [write_json(out_dir / "story_report.json", report.get("report", {}))]
    written += write_story_files(report, out_dir, root)
    actions = report.get("actions") or []
    if plot and actions:
        written.append(
            plots.confusion_matrix_png(
                [_label(a.get("action")) for a in actions],
                [_label(a.get("predicted")) for a in actions],
                out_dir / STORY_CONFUSION_MATRIX,
                "Action confusion matrix",
            )
        )
    return written


# --- the terminal summary -----------------------------------------------------------------


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def macro_f1(evaluation: Mapping[str, Any]) -> float | None:
    macro = (evaluation.get("report") or {}).get("macro avg")
    return float(macro["f1-score"]) if isinstance(macro, Mapping) else None


def weakest_labels(evaluation: Mapping[str, Any], count: int = 3) -> list[tuple[str, float]]:
    """Labels with the lowest F1 below 1 (worst first)."""
    labels = [
        (name, float(entry["f1-score"]))
        for name, entry in (evaluation.get("report") or {}).items()
        if isinstance(entry, Mapping) and "support" in entry and not name.endswith(" avg")
    ]
    return sorted((item for item in labels if item[1] < 1.0), key=lambda i: (i[1], i[0]))[:count]


def summary_lines(report: QualityReport, cwd: Path | None = None) -> list[str]:
    """A one-screen summary of the run (story paths relative to ``cwd``, else the project)."""
    lines: list[str] = []
    if report.nlu is not None:
        lines += _nlu_lines(report.nlu)
    if report.comparison is not None:
        lines += _comparison_lines(report.comparison)
    if report.core is not None:
        lines += _core_lines(report.core, cwd or report.project)
    html = report.file("report.html")
    if html is not None:
        lines.append(f"Reports: {html}  (and {len(report.files) - 1} more in {report.out_dir})")
    return lines


def _row(name: str, text: str) -> str:
    return f"  {name:<16} {text}"


def _nlu_lines(section: NLUSection) -> list[str]:
    evaluation = section.evaluation
    how = f"{section.folds}-fold cross-validation" if section.folds else section.source
    lines = [f"NLU: {section.examples} examples ({how})"]
    intents = evaluation.get("intent_evaluation")
    if isinstance(intents, Mapping):
        lines.append(
            _row(
                "intents",
                f"accuracy {_fmt(intents.get('accuracy'))}   macro F1 {_fmt(macro_f1(intents))}"
                f"   weighted F1 {_fmt(intents.get('f1_score'))}"
                f"   errors {len(intents.get('errors', []))}",
            )
        )
        weakest = weakest_labels(intents)
        if weakest:
            lines.append(
                _row("lowest F1", ", ".join(f"{name} {score:.2f}" for name, score in weakest))
            )
    for extractor, result in (evaluation.get("entity_evaluation") or {}).items():
        if result.get("report"):
            lines.append(
                _row(
                    "entities",
                    f"{extractor}: weighted F1 {_fmt(result.get('f1_score'))}"
                    f"   errors {len(result.get('errors', []))}",
                )
            )
    responses = evaluation.get("response_selection_evaluation")
    if isinstance(responses, Mapping):
        lines.append(
            _row(
                "responses",
                f"accuracy {_fmt(responses.get('accuracy'))}"
                f"   weighted F1 {_fmt(responses.get('f1_score'))}"
                f"   errors {len(responses.get('errors', []))}",
            )
        )
    return lines


def _comparison_lines(comparison: Comparison) -> list[str]:
    lines = [f"NLU config comparison ({comparison.runs} run(s), F1 by training examples)"]
    for name, runs in comparison.f1.items():
        means = [sum(column) / len(column) for column in zip(*runs, strict=True)]
        points = ", ".join(f"{n}: {m:.3f}" for n, m in zip(comparison.examples, means, strict=True))
        lines.append(_row(name, points))
    return lines


def _core_lines(core: Mapping[str, Any], root: Path) -> list[str]:
    stories: Sequence[Mapping[str, Any]] = core.get("stories", [])
    failed = [s for s in stories if not s.get("passed", True)]
    actions = core.get("actions", [])
    lines = [
        f"Core: {len(stories)} test stories",
        _row("stories", f"{len(stories) - len(failed)} passed, {len(failed)} failed"),
        _row(
            "actions", f"accuracy {_fmt(_action_accuracy(actions))} over {len(actions)} predictions"
        ),
    ]
    for story in failed[:5]:
        lines.append(_row("failed", failure_text(story, root)))
    if len(failed) > 5:
        lines.append(_row("", f"... and {len(failed) - 5} more (failed_test_stories.yml)"))
    return lines


def _action_accuracy(actions: Sequence[Mapping[str, Any]]) -> float | None:
    if not actions:
        return None
    return sum(1 for a in actions if a.get("action") == a.get("predicted")) / len(actions)


def failure_text(story: Mapping[str, Any], root: Path | None) -> str:
    """``'name' (file:line): <first wrong step>``."""
    where = ""
    if story.get("file"):
        where = f" ({relative(str(story['file']), root)}:{story.get('line')})"
    step = next((s for s in story.get("steps", []) if not s.get("correct", True)), None)
    return f"'{story.get('name')}'{where}: {step_problem(step) if step else 'failed'}"


def step_problem(step: Mapping[str, Any]) -> str:
    """What went wrong in one step, in a few words."""
    if step.get("kind") == "user":
        if step.get("predicted") != step.get("expected"):
            return (
                f"'{step.get('text')}' was classified {step.get('predicted')}, "
                f"expected {step.get('expected')}"
            )
        return f"'{step.get('text')}' got other entities than expected"
    return f"predicted {step.get('predicted')}, expected {step.get('expected')}"
