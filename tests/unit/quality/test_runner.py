"""``run_tests`` end to end on a bot with retrieval intents (faq/ask_x + utter_faq/ask_x)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from palaver.quality.runner import RunOptions, run_tests

FAQBOT = Path(__file__).parent / "fixtures" / "faqbot"


@pytest.fixture(scope="module")
def faqbot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the fixture project (models and reports are written into it)."""
    root = tmp_path_factory.mktemp("faqbot") / "faqbot"
    shutil.copytree(FAQBOT, root)
    return root


@pytest.fixture(scope="module")
def full_run(faqbot: Path) -> tuple[Any, Path]:
    out = faqbot / "results"
    report = run_tests(RunOptions(project=faqbot, train=True, out=out))
    return report, out


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_retrieval_intents_work_end_to_end(full_run: tuple[Any, Path]) -> None:
    report = full_run[0]
    assert report.core["failed_stories"] == []
    steps = [s for story in report.core["stories"] for s in story["steps"] if s["kind"] == "user"]
    assert {"faq/ask_name", "faq/ask_license"} <= {s["predicted"] for s in steps}
    assert report.model is not None and report.model.endswith(".tar.gz")


def test_response_selection_report_is_written(full_run: tuple[Any, Path]) -> None:
    report, out = full_run
    selection = report.nlu.evaluation["response_selection_evaluation"]
    assert selection is not None and selection["accuracy"] > 0.8
    written = {p.name for p in report.files}
    assert {
        "response_selection_report.json",
        "response_selection_errors.json",
        "response_selection_confusion_matrix.png",
        "response_selection_histogram.png",
        "intent_report.json",
        "story_report.json",
        "report.html",
    } <= written
    keys = set(_json(out / "response_selection_report.json"))
    assert {"faq/ask_name", "faq/ask_languages", "faq/ask_license", "accuracy"} <= keys
    assert "Response selection" in (out / "report.html").read_text(encoding="utf-8")


def test_nlu_only_on_other_test_data_without_plots(
    faqbot: Path, full_run: tuple[Any, Path]
) -> None:
    test_data = faqbot / "held_out.yml"
    test_data.write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hello there\n'
        "- intent: faq/ask_name\n  examples: |\n    - what should I call you\n",
        encoding="utf-8",
    )
    out = faqbot / "nlu_only"
    report = run_tests(
        RunOptions(project=faqbot, core=False, nlu=[str(test_data)], out=out, plot=False)
    )
    assert report.core is None
    assert report.nlu is not None and report.nlu.examples == 2
    assert not list(out.glob("*.png"))
    assert (out / "report.html").is_file()


def test_core_only_with_a_story_file(faqbot: Path, full_run: tuple[Any, Path]) -> None:
    stories = faqbot / "other_stories.yml"
    stories.write_text(
        'version: "3.1"\nstories:\n- story: bye\n  steps:\n  - intent: goodbye\n'
        "  - action: utter_greet\n",
        encoding="utf-8",
    )
    out = faqbot / "core_only"
    report = run_tests(RunOptions(project=faqbot, nlu_tests=False, stories=[str(stories)], out=out))
    assert report.nlu is None and report.core is not None
    assert report.core["failed_stories"] == ["bye"]
    assert "# predicted: utter_goodbye" in (out / "failed_test_stories.yml").read_text()


def test_cross_validation(faqbot: Path) -> None:
    out = faqbot / "cv"
    report = run_tests(
        RunOptions(project=faqbot, core=False, cross_validation=True, folds=2, out=out)
    )
    assert report.nlu is not None and report.nlu.folds == 2
    assert report.nlu.examples == 20
    assert len(report.nlu.evaluation["intent_evaluation"]["predictions"]) == 20
    assert (out / "intent_report.json").is_file()


def test_config_comparison(faqbot: Path) -> None:
    small = faqbot / "small.yml"
    small.write_text(
        "language: en\npipeline:\n  - name: WhitespaceTokenizer\n"
        "  - name: CountVectorsFeaturizer\n  - name: DIETClassifier\n",
        encoding="utf-8",
    )
    out = faqbot / "comparison"
    report = run_tests(
        RunOptions(
            project=faqbot,
            core=False,
            configs=[faqbot / "config.yml", small],
            runs=2,
            percentages=[0, 50],
            out=out,
        )
    )
    comparison = report.comparison
    assert comparison is not None
    assert set(comparison.f1) == {"config", "small"}
    assert all(len(runs) == 2 and all(len(r) == 2 for r in runs) for runs in comparison.f1.values())
    assert comparison.examples[0] > comparison.examples[1] > 0
    assert (out / "nlu_model_comparison_graph.png").is_file()
    results = _json(out / "nlu_comparison_results.json")
    assert results["percentages_excluded"] == [0, 50]
