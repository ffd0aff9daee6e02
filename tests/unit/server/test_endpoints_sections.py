"""Sections of endpoints.yml: Palaver's own, Rasa's others, and typos."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from palaver.config import EndpointsConfig
from palaver.errors import ConfigError


def load(tmp_path: Path, text: str) -> EndpointsConfig:
    path = tmp_path / "endpoints.yml"
    path.write_text(text)
    return EndpointsConfig.load(path, env={})


def test_version_key_is_accepted_quietly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="palaver.config"):
        config = load(
            tmp_path, 'version: "3.1"\naction_endpoint:\n  url: http://localhost:5055/webhook\n'
        )
    assert config.action_endpoint == {"url": "http://localhost:5055/webhook"}
    assert not caplog.records


def test_sections_palaver_does_not_implement_are_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = (
        "tracing:\n  type: jaeger\n  host: localhost\n"
        "nlu:\n  url: http://localhost:5000\n"
        "tracker_store:\n  type: memory\n"
    )
    with caplog.at_level(logging.WARNING, logger="palaver.config"):
        config = load(tmp_path, text)
    assert config.tracker_store == {"type": "memory"}
    assert "ignoring section(s) 'nlu', 'tracing'" in caplog.text


def test_a_misspelt_section_is_an_error_that_suggests_the_right_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'trackr_store' \(did you mean 'tracker_store'\?\)"):
        load(tmp_path, "trackr_store:\n  type: sql\n")
