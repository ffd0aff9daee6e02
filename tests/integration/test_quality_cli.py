"""``palaver data validate``, ``palaver data split nlu`` and ``palaver test`` as CI runs them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import EXAMPLES, ROOT
from tests.unit.quality.helpers import changed, write_project

FAQBOT = ROOT / "tests" / "unit" / "quality" / "fixtures" / "faqbot"


def palaver(*args: str, cwd: Path = ROOT) -> tuple[int, str, float]:
    """Run ``python -m palaver ARGS``; returns exit code, stdout + stderr, seconds."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "palaver", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@pytest.mark.parametrize("bot", ["moodbot", "formbot"])
def test_validate_example_bots(bot: str) -> None:
    code, output, _ = palaver("data", "validate", "--project", str(EXAMPLES / bot))
    assert code == 0, output
    assert "error:" not in output
    assert "Validated" in output


def test_validate_fails_with_file_and_line(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "bot",
        changed({"data/stories.yml": ("  - intent: greet\n", "  - intent: wave\n")}),
    )
    code, output, _ = palaver("data", "validate", "--project", str(project))
    assert code == 1
    assert (
        "data/stories.yml:5: error: story or rule uses intent 'wave', which is not declared "
        "in the domain" in output
    )
    assert "1 error(s)" in output


def test_validate_fail_on_warnings(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "bot",
        changed({"domain.yml": ("  utter_done:", "  utter_unused:\n    - text: x\n  utter_done:")}),
    )
    code, output, _ = palaver("data", "validate", "--project", str(project))
    assert code == 0, output
    assert "warning: response 'utter_unused' is not used" in output
    code, _, _ = palaver("data", "validate", "--project", str(project), "--fail-on-warnings")
    assert code == 1


def test_split_nlu_is_reproducible(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        code, output, _ = palaver(
            "data", "split", "nlu", "--project", str(EXAMPLES / "formbot"),
            "--training-fraction", "0.75", "--random-seed", "3", "--out", str(out),
        )  # fmt: skip
        assert code == 0, output
        assert "seed 3" in output
        outputs.append({f.name: f.read_text() for f in out.iterdir()})
    assert outputs[0] == outputs[1]
    assert set(outputs[0]) == {"training_data.yml", "test_data.yml"}


@pytest.mark.parametrize("bot", ["moodbot", "formbot"])
def test_palaver_test_example_bots(
    bot: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    model: Path = request.getfixturevalue(f"{bot}_model")
    out = tmp_path / "results"
    code, output, seconds = palaver(
        "test", "--project", str(EXAMPLES / bot), "--model", str(model), "--out", str(out)
    )
    assert code == 0, output
    assert "0 failed" in output and "intents" in output
    names = {p.name for p in out.iterdir()}
    assert {
        "intent_report.json",
        "intent_errors.json",
        "intent_confusion_matrix.png",
        "intent_histogram.png",
        "story_report.json",
        "failed_test_stories.yml",
        "story_confusion_matrix.png",
        "report.html",
    } <= names
    report = json.loads((out / "story_report.json").read_text())
    assert report["conversation_accuracy"]["accuracy"] == 1.0
    assert seconds < 60, f"palaver test took {seconds:.1f}s"


def test_failing_stories_fail_the_run_unless_no_fail(moodbot_model: Path, tmp_path: Path) -> None:
    stories = tmp_path / "wrong.yml"
    stories.write_text(
        'version: "3.1"\nstories:\n- story: wrong\n  steps:\n  - intent: greet\n'
        "  - action: utter_goodbye\n",
        encoding="utf-8",
    )
    common = ["test", "core", "--project", str(EXAMPLES / "moodbot"), "--model", str(moodbot_model)]
    code, output, _ = palaver(*common, "--stories", str(stories), "--out", str(tmp_path / "a"))
    assert code == 1
    assert "'wrong'" in output and "predicted utter_greet, expected utter_goodbye" in output
    failed = (tmp_path / "a" / "failed_test_stories.yml").read_text()
    assert "- action: utter_goodbye  # predicted: utter_greet" in failed
    code, _, _ = palaver(
        *common, "--stories", str(stories), "--no-fail", "--no-plot", "--out", str(tmp_path / "b")
    )
    assert code == 0
    assert not list((tmp_path / "b").glob("*.png"))


def test_palaver_test_trains_a_retrieval_bot(tmp_path: Path) -> None:
    out = tmp_path / "results"
    code, output, _ = palaver(
        "test", "--project", str(FAQBOT), "--train", "--model", str(tmp_path / "models"),
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, output
    assert "responses" in output  # the response-selection line of the summary
    assert (out / "response_selection_report.json").is_file()


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    code, output, _ = palaver(
        "test", "--project", str(EXAMPLES / "moodbot"), "--model", str(tmp_path / "none"),
        "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert code == 1
    assert "does not exist" in output
