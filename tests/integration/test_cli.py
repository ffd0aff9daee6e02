"""The ``palaver`` command line, run as a user runs it (subprocesses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from palaver.storage.archive import read_metadata
from tests.integration.conftest import EXAMPLES, ROOT


def palaver(*args: str, cwd: Path = ROOT, stdin: str | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "palaver", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_init_creates_a_trained_project(tmp_path: Path) -> None:
    result = palaver("init", "--init-dir", str(tmp_path / "bot"))
    assert result.returncode == 0, result.stderr
    project = tmp_path / "bot"
    assert (project / "domain.yml").exists() and (project / "data" / "nlu.yml").exists()
    assert list((project / "models").glob("*.tar.gz"))
    # the template is the moodbot example
    assert (project / "domain.yml").read_text() == (EXAMPLES / "moodbot" / "domain.yml").read_text()


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "domain.yml").write_text("intents: []\n")
    result = palaver("init", "--init-dir", str(tmp_path), "--no-train")
    assert result.returncode == 1
    assert "already has" in result.stderr


def test_train_skips_an_unchanged_project(tmp_path: Path) -> None:
    first = palaver("train", "--project", str(EXAMPLES / "moodbot"), "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr
    second = palaver("train", "--project", str(EXAMPLES / "moodbot"), "--out", str(tmp_path))
    assert second.returncode == 0
    assert "Nothing changed" in second.stdout
    archives = list(tmp_path.glob("*.tar.gz"))
    assert len(archives) == 1
    metadata = read_metadata(archives[0])
    assert metadata.assistant_id == "moodbot" and metadata.fingerprint


def test_train_reports_invalid_data_with_file_and_line(tmp_path: Path) -> None:
    project = tmp_path / "broken"
    project.mkdir()
    (project / "domain.yml").write_text('version: "3.1"\nintents:\n  - greet\n')
    (project / "data").mkdir()
    (project / "data" / "stories.yml").write_text(
        'version: "3.1"\nstories:\n- story: s\n  steps:\n  - intent: greet\n  - acton: utter_x\n'
    )
    result = palaver("train", "--project", str(project), "--out", str(tmp_path / "m"))
    assert result.returncode == 1
    assert "stories.yml:6" in result.stderr
    assert "acton" in result.stderr


def test_shell_talks_to_the_model(tmp_path: Path) -> None:
    palaver("train", "--project", str(EXAMPLES / "moodbot"), "--out", str(tmp_path))
    result = palaver("shell", "-m", str(tmp_path), stdin="hello\nI am great\n/stop\n")
    assert result.returncode == 0, result.stderr
    assert "Hey! How are you?" in result.stdout
    assert "Great, carry on!" in result.stdout


@pytest.mark.parametrize(
    ("endpoints", "needle"),
    [
        ("tracker_store:\n  type: cassandra\n", "Valid types"),
        ("lock_store:\n  type: zookeeper\n", "Valid types"),
        ("event_broker:\n  type: carrier_pigeon\n", "Valid types"),
        (
            "tracker_store:\n  type: sql\n  password: ${PALAVER_TEST_UNSET_VAR}\n",
            "PALAVER_TEST_UNSET_VAR",
        ),
        ("trackr_store:\n  type: sql\n", "unknown section"),
    ],
)
def test_run_refuses_bad_endpoints_at_startup(tmp_path: Path, endpoints: str, needle: str) -> None:
    path = tmp_path / "endpoints.yml"
    path.write_text(endpoints)
    result = palaver("run", "--endpoints", str(path), "-p", "0", timeout=60)
    assert result.returncode == 1
    assert needle in result.stderr


def test_run_refuses_unknown_channel(tmp_path: Path) -> None:
    path = tmp_path / "credentials.yml"
    path.write_text("telepathy:\n  key: x\n")
    result = palaver("run", "--credentials", str(path), "-p", "0", timeout=60)
    assert result.returncode == 1
    assert "unknown channel 'telepathy'" in result.stderr
