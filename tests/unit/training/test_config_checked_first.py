"""A bad ``policies`` section fails training before NLU trains."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from palaver.errors import ConfigError
from palaver.nlu.pipeline import NLUPipeline
from palaver.training import train_project

MOODBOT = Path(__file__).resolve().parents[3] / "examples" / "moodbot"


def test_unknown_policy_fails_before_nlu_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "bot"
    shutil.copytree(MOODBOT, project)
    config = project / "config.yml"
    config.write_text(config.read_text() + "  - name: FlowPolicy\n")

    def no_nlu_training(*args: object, **kwargs: object) -> NLUPipeline:
        raise AssertionError("NLU trained before the policies were checked")

    monkeypatch.setattr(NLUPipeline, "train", no_nlu_training)
    with pytest.raises(ConfigError, match="Unknown policy 'FlowPolicy'"):
        train_project(project, out_dir=tmp_path / "models")
