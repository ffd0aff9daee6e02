"""Offloaded jobs: training and evaluation in a child process."""

from __future__ import annotations

import tarfile
import textwrap
import time
from pathlib import Path

import pytest

from palaver.server.offload import JobFailed, _result, run_job
from palaver.server.training_payload import parse_document, write_project

TINY_PROJECT = textwrap.dedent(
    """
    pipeline:
    - name: WhitespaceTokenizer
    - name: CountVectorsFeaturizer
    - name: LogisticRegressionClassifier
    policies:
    - name: RulePolicy
    intents: [greet, goodbye]
    responses:
      utter_greet: [{text: "Hey!"}]
      utter_goodbye: [{text: "Bye"}]
    nlu:
    - intent: greet
      examples: |
        - hey
        - hello
        - hi there
    - intent: goodbye
      examples: |
        - bye
        - goodbye
        - see you
    rules:
    - rule: greet
      steps:
      - intent: greet
      - action: utter_greet
    - rule: goodbye
      steps:
      - intent: goodbye
      - action: utter_goodbye
    """
)


async def test_train_job_writes_an_archive(tmp_path: Path) -> None:
    write_project(parse_document(TINY_PROJECT, "application/x-yaml"), tmp_path / "project")
    result = await run_job(
        "train",
        {"project": str(tmp_path / "project"), "out_dir": str(tmp_path / "out"), "force": False},
        time_limit=300,
    )
    archive = Path(result["archive"])
    assert archive.parent == tmp_path / "out" and result["skipped"] is False
    with tarfile.open(archive) as tar:
        assert "metadata.json" in tar.getnames()


async def test_invalid_data_is_a_client_error(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "domain.yml").write_text("intents: {not: a list}\n")
    with pytest.raises(JobFailed) as info:
        await run_job(
            "train",
            {"project": str(tmp_path / "project"), "out_dir": str(tmp_path / "out")},
            time_limit=300,
        )
    assert info.value.client_error
    assert info.value.kind == "ProjectDataError"
    assert "domain.yml" in str(info.value)


async def test_a_job_over_its_time_limit_is_killed(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(JobFailed, match="did not finish within") as info:
        await run_job(
            "train", {"project": str(tmp_path), "out_dir": str(tmp_path)}, time_limit=0.05
        )
    assert not info.value.client_error
    assert time.monotonic() - started < 10


async def test_unknown_jobs_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown job"):
        await run_job("rm -rf", {}, time_limit=1)


def test_a_crashed_child_is_reported_without_its_log() -> None:
    with pytest.raises(JobFailed, match="failed unexpectedly") as info:
        _result("train", -9, b"", b"Traceback: secret details")
    assert info.value.kind == "Crash"
    assert "secret" not in str(info.value)
