"""The model configuration: ``config.yml`` (recipe, language, pipeline, policies).

As in Rasa, a missing or empty ``pipeline`` / ``policies`` is filled with
Rasa 3.6's default configuration (``auto_configured`` says which).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palaver.data.yaml_io import error_at, kind, read_yaml, read_yaml_file, to_plain
from palaver.errors import ProjectDataError

logger = logging.getLogger(__name__)

DEFAULT_RECIPE = "default.v1"
DEFAULT_LANGUAGE = "en"
KEY_PIPELINE = "pipeline"
KEY_POLICIES = "policies"

# rasa/engine/recipes/config_files/default_config.yml (Rasa 3.6).
DEFAULT_PIPELINE: tuple[dict[str, Any], ...] = (
    {"name": "WhitespaceTokenizer"},
    {"name": "RegexFeaturizer"},
    {"name": "LexicalSyntacticFeaturizer"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
    {"name": "DIETClassifier", "epochs": 100, "constrain_similarities": True},
    {"name": "EntitySynonymMapper"},
    {"name": "ResponseSelector", "epochs": 100, "constrain_similarities": True},
    {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1},
)
DEFAULT_POLICIES: tuple[dict[str, Any], ...] = (
    {"name": "MemoizationPolicy"},
    {"name": "RulePolicy"},
    {"name": "UnexpecTEDIntentPolicy", "max_history": 5, "epochs": 100},
    {"name": "TEDPolicy", "max_history": 5, "epochs": 100, "constrain_similarities": True},
)
_KNOWN_KEYS = frozenset({"recipe", "language", "assistant_id", KEY_PIPELINE, KEY_POLICIES})


@dataclass(frozen=True)
class ProjectConfig:
    """A parsed ``config.yml``.

    Attributes:
        language: language code (``en`` when not given).
        pipeline: NLU components, each ``{"name": ..., **options}``.
        policies: dialogue policies, each ``{"name": ..., **options}``.
        assistant_id: the assistant's id (``None`` when not given).
        recipe: the config recipe; only ``default.v1`` is supported.
        extra: other top-level keys (``importers``, ...), kept as written.
        auto_configured: which of ``pipeline`` / ``policies`` got the defaults.
        filename: the file read, if any.
    """

    language: str = DEFAULT_LANGUAGE
    pipeline: list[dict[str, Any]] = field(
        default_factory=lambda: copy.deepcopy([*DEFAULT_PIPELINE])
    )
    policies: list[dict[str, Any]] = field(
        default_factory=lambda: copy.deepcopy([*DEFAULT_POLICIES])
    )
    assistant_id: str | None = None
    recipe: str = DEFAULT_RECIPE
    extra: dict[str, Any] = field(default_factory=dict)
    auto_configured: frozenset[str] = field(
        default=frozenset({KEY_PIPELINE, KEY_POLICIES}), compare=False
    )
    filename: str | None = field(default=None, compare=False)

    @classmethod
    def load(cls, path: Path) -> ProjectConfig:
        """Reads ``config.yml``.

        Raises:
            ProjectDataError: if the file is missing or invalid (with its line).
        """
        if not path.is_file():
            raise ProjectDataError("config file not found", str(path))
        return cls.from_dict(read_yaml_file(path), str(path))

    @classmethod
    def from_yaml(cls, text: str, filename: str | None = None) -> ProjectConfig:
        """Parses a config from YAML text."""
        return cls.from_dict(read_yaml(text, filename), filename)

    @classmethod
    def from_dict(cls, data: Any, filename: str | None = None) -> ProjectConfig:
        """Builds a config from a parsed ``config.yml`` (``None`` for an empty file).

        Raises:
            ProjectDataError: for a non-mapping, a bad recipe/language/assistant_id
                or a malformed pipeline/policies entry.
        """
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ProjectDataError(f"config must be a mapping, got {kind(data)}", filename, 1)
        recipe = _string(data, "recipe", DEFAULT_RECIPE)
        if recipe != DEFAULT_RECIPE:
            raise error_at(
                data, f"unsupported recipe '{recipe}' (only '{DEFAULT_RECIPE}')", "recipe"
            )
        pipeline, auto_pipeline = _components(data, KEY_PIPELINE, DEFAULT_PIPELINE)
        policies, auto_policies = _components(data, KEY_POLICIES, DEFAULT_POLICIES)
        auto = {
            k
            for k, is_auto in ((KEY_PIPELINE, auto_pipeline), (KEY_POLICIES, auto_policies))
            if is_auto
        }
        if auto:
            logger.info(
                "%s: no %s given; using Rasa's defaults", filename, " or ".join(sorted(auto))
            )
        assistant_id = data.get("assistant_id")
        if assistant_id is not None and not isinstance(assistant_id, str | int):
            raise error_at(data, "'assistant_id' must be a string", "assistant_id")
        return cls(
            language=_string(data, "language", DEFAULT_LANGUAGE),
            pipeline=pipeline,
            policies=policies,
            assistant_id=None if assistant_id is None else str(assistant_id),
            recipe=recipe,
            extra={k: to_plain(v) for k, v in data.items() if k not in _KNOWN_KEYS},
            auto_configured=frozenset(auto),
            filename=filename,
        )

    def as_dict(self) -> dict[str, Any]:
        """The configuration as a ``config.yml`` dict (defaults filled in)."""
        data: dict[str, Any] = {"recipe": self.recipe, "language": self.language}
        if self.assistant_id is not None:
            data["assistant_id"] = self.assistant_id
        data[KEY_PIPELINE] = copy.deepcopy(self.pipeline)
        data[KEY_POLICIES] = copy.deepcopy(self.policies)
        data.update(copy.deepcopy(self.extra))
        return data

    def fingerprint(self) -> str:
        """A hash of the configuration, stable across runs."""
        encoded = json.dumps(self.as_dict(), sort_keys=True, default=str)
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _string(data: Mapping[str, Any], key: str, default: str) -> str:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or not value:
        raise error_at(data, f"'{key}' must be a non-empty string, got {kind(value)}", key)
    return value


def _components(
    data: Mapping[str, Any], key: str, default: tuple[dict[str, Any], ...]
) -> tuple[list[dict[str, Any]], bool]:
    raw = data.get(key)
    if not raw:
        if raw is not None and not isinstance(raw, list):
            raise error_at(data, f"'{key}' must be a list, got {kind(raw)}", key)
        return copy.deepcopy(list(default)), True
    if not isinstance(raw, list):
        raise error_at(data, f"'{key}' must be a list, got {kind(raw)}", key)
    for index, component in enumerate(raw):
        if not isinstance(component, Mapping) or not isinstance(component.get("name"), str):
            raise error_at(
                raw, f"each entry of '{key}' must be a mapping with a 'name'", index=index
            )
    return to_plain(raw), False
