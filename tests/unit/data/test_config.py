from __future__ import annotations

from pathlib import Path

import pytest

from palaver.data.config import DEFAULT_PIPELINE, DEFAULT_POLICIES, ProjectConfig
from palaver.errors import ProjectDataError
from tests.unit.data.util import FIXTURES, dedent, line_of


def test_missing_pipeline_and_policies_get_rasa_defaults() -> None:
    config = ProjectConfig.from_yaml("language: fr\n", "config.yml")
    assert config.language == "fr"
    assert config.pipeline == list(DEFAULT_PIPELINE)
    assert config.policies == list(DEFAULT_POLICIES)
    assert config.auto_configured == {"pipeline", "policies"}
    assert config.recipe == "default.v1"
    assert config.assistant_id is None


def test_empty_pipeline_and_policies_get_defaults() -> None:
    config = ProjectConfig.load(FIXTURES / "moodbot" / "config.yml")
    assert config.pipeline[0] == {"name": "WhitespaceTokenizer"}
    assert [p["name"] for p in config.policies] == [
        "MemoizationPolicy",
        "RulePolicy",
        "UnexpecTEDIntentPolicy",
        "TEDPolicy",
    ]
    assert config.auto_configured == {"pipeline", "policies"}
    assert config.assistant_id == "placeholder_default"
    config = ProjectConfig.from_yaml("pipeline: []\npolicies: []\n")
    assert config.auto_configured == {"pipeline", "policies"}


def test_defaults_are_not_shared_between_configs() -> None:
    first = ProjectConfig.from_yaml("")
    first.pipeline[0]["name"] = "changed"
    assert ProjectConfig().pipeline[0]["name"] == "WhitespaceTokenizer"
    assert DEFAULT_PIPELINE[0]["name"] == "WhitespaceTokenizer"


def test_explicit_configuration_is_kept() -> None:
    config = ProjectConfig.load(FIXTURES / "formbot" / "config.yml")
    assert config.assistant_id == "formbot"
    assert config.pipeline[-2] == {"name": "DIETClassifier", "epochs": 50}
    assert config.policies[1]["core_fallback_threshold"] == 0.3
    assert config.auto_configured == frozenset()


def test_only_policies_given() -> None:
    config = ProjectConfig.from_yaml("policies:\n  - name: RulePolicy\n")
    assert config.policies == [{"name": "RulePolicy"}]
    assert config.auto_configured == {"pipeline"}


def test_extra_keys_and_as_dict() -> None:
    config = ProjectConfig.from_yaml(
        dedent(
            """
            recipe: default.v1
            assistant_id: 42
            importers:
              - name: RasaFileImporter
            policies:
              - name: RulePolicy
            """
        )
    )
    assert config.assistant_id == "42"
    assert config.extra == {"importers": [{"name": "RasaFileImporter"}]}
    data = config.as_dict()
    assert data["importers"] == [{"name": "RasaFileImporter"}]
    assert data["policies"] == [{"name": "RulePolicy"}]
    assert ProjectConfig.from_dict(data) == config
    assert config.fingerprint() == ProjectConfig.from_dict(data).fingerprint()


@pytest.mark.parametrize(
    ("text", "needle", "message"),
    [
        ("recipe: graph.v1\n", "recipe", "unsupported recipe"),
        ("language: 3\n", "language", "must be a non-empty string"),
        ("pipeline:\n  - name: A\n  - epochs: 3\n", "epochs", "with a 'name'"),
        ("pipeline: WhitespaceTokenizer\n", "pipeline", "must be a list"),
        ("policies: {name: RulePolicy}\n", "policies", "must be a list"),
        ("- a\n- b\n", "- a", "must be a mapping"),
    ],
)
def test_invalid_configs(text: str, needle: str, message: str) -> None:
    with pytest.raises(ProjectDataError) as info:
        ProjectConfig.from_yaml(text, "config.yml")
    assert message in str(info.value)
    assert (info.value.filename, info.value.line) == ("config.yml", line_of(text, needle))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectDataError, match="config file not found"):
        ProjectConfig.load(tmp_path / "config.yml")
