from __future__ import annotations

import logging
from pathlib import Path

import pytest

from palaver.data.domain_reader import (
    check_domain_data,
    merge_domain_data,
    parse_domain_text,
    read_domain_paths,
)
from palaver.errors import ProjectDataError
from tests.unit.data.util import FIXTURES, write_files


def test_merge_unites_lists_and_mappings() -> None:
    base = {
        "intents": ["greet", {"inform": {"use_entities": ["city"]}}],
        "slots": {"a": {"type": "text"}},
        "e2e_actions": ["zeta"],
    }
    new = {
        "intents": ["bye", "greet"],
        "slots": {"b": {"type": "bool"}},
        "e2e_actions": ["alpha", "zeta"],
        "session_config": {"session_expiration_time": 5},
    }
    merged = merge_domain_data(base, new)
    assert merged["intents"] == ["greet", {"inform": {"use_entities": ["city"]}}, "bye"]
    assert merged["slots"] == {"a": {"type": "text"}, "b": {"type": "bool"}}
    assert merged["e2e_actions"] == ["alpha", "zeta"]
    assert merged["session_config"] == {"session_expiration_time": 5}
    assert base["intents"] == ["greet", {"inform": {"use_entities": ["city"]}}]


def test_merge_conflicts_later_wins_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    base = {"intents": ["greet"], "responses": {"utter_x": [{"text": "old"}]}}
    new = {
        "intents": [{"greet": {"use_entities": []}}],
        "responses": {"utter_x": [{"text": "new"}]},
    }
    with caplog.at_level(logging.WARNING):
        merged = merge_domain_data(base, new)
    assert merged["intents"] == [{"greet": {"use_entities": []}}]
    assert merged["responses"] == {"utter_x": [{"text": "new"}]}
    assert "intents 'greet'" in caplog.text
    assert "responses 'utter_x'" in caplog.text


def test_merge_can_keep_the_base() -> None:
    merged = merge_domain_data(
        {"responses": {"utter_x": [{"text": "old"}]}, "config": {"store_entities_as_slots": False}},
        {"responses": {"utter_x": [{"text": "new"}]}, "config": {"store_entities_as_slots": True}},
        prefer_new=False,
        warn=False,
    )
    assert merged["responses"] == {"utter_x": [{"text": "old"}]}
    assert merged["config"] == {"store_entities_as_slots": False}


def test_identical_duplicates_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        merge_domain_data({"intents": ["greet"]}, {"intents": ["greet"]})
    assert caplog.text == ""


def test_directory_is_read_recursively(caplog: pytest.LogCaptureFixture) -> None:
    merged = read_domain_paths([FIXTURES / "split_domain" / "domain"])
    assert merged["intents"] == ["greet", "goodbye", "inform"]
    assert set(merged["responses"]) == {"utter_greet", "utter_ask_city"}
    assert merged["forms"] == {"city_form": {"required_slots": ["city"]}}


def test_later_path_wins(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "one.yml": "responses:\n  utter_x:\n  - text: one\n",
            "two.yml": "responses:\n  utter_x:\n  - text: two\n",
        },
    )
    merged = read_domain_paths([tmp_path / "two.yml", tmp_path / "one.yml"])
    assert merged["responses"]["utter_x"] == [{"text": "one"}]


def test_newer_format_version_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        data = parse_domain_text('version: "4.0"\nintents: [greet]\n', "d.yml")
    assert data == {}
    assert "newer than the supported" in caplog.text
    assert parse_domain_text('version: "3.0"\nintents: [greet]\n')["intents"] == ["greet"]


def test_unquoted_version_is_read_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    parse_domain_text("intents: [greet]\nversion: 3.1\n", "d.yml")
    assert "should be a quoted string" in caplog.text


def test_non_scalar_version_is_an_error() -> None:
    with pytest.raises(ProjectDataError, match="'version' must be a string") as info:
        parse_domain_text("intents: [greet]\nversion: [3]\n", "d.yml")
    assert info.value.line == 2


def test_missing_path() -> None:
    with pytest.raises(ProjectDataError, match="not found"):
        read_domain_paths([Path("/nonexistent/domain.yml")])


def test_check_accepts_empty() -> None:
    assert check_domain_data(None) == {}
    with pytest.raises(ProjectDataError, match="must be a mapping"):
        check_domain_data(["intents"], "d.yml")
