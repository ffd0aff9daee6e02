"""Runtime configuration: endpoints.yml, credentials.yml and the environment.

This is the only module that reads ``os.environ``. ``${VAR}`` references in
endpoints.yml and credentials.yml are substituted here; a reference to an
unset variable is a startup error that names it (Rasa leaves it in place and
fails later in an unrelated place).
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from palaver.errors import ConfigError

logger = logging.getLogger(__name__)

_ENV_REF = re.compile(r"\$\{([^}:]+)(?::-(.*?))?\}")

ENDPOINT_SECTIONS = (
    "tracker_store",
    "lock_store",
    "event_broker",
    "action_endpoint",
    "nlg",
    "models",
    "model_storage",
)
# Sections of a Rasa (Pro) endpoints.yml that Palaver does not implement: a
# project that has them still starts, with a warning that they are ignored.
RASA_ONLY_SECTIONS = (
    "nlu",
    "tracing",
    "metrics",
    "contextual_response_rephraser",
    "vector_store",
    "llm",
    "model_groups",
)
# Format keys that are not sections.
FORMAT_KEYS = ("version",)


def substitute_env(value: Any, env: Mapping[str, str], where: str) -> Any:
    """Replace ``${VAR}`` (and ``${VAR:-default}``) in every string of ``value``."""
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{where} references the environment variable '{name}', which is not set."
            )

        return _ENV_REF.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute_env(v, env, where) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, env, where) for v in value]
    return value


def read_yaml_config(path: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read a YAML mapping with env substitution; a missing file is an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"Config file '{path}' does not exist.") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file '{path}' is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{path}' must contain a mapping at the top level.")
    result = substitute_env(data, os.environ if env is None else env, str(path))
    assert isinstance(result, dict)
    return result


# Rasa's environment override of DucklingEntityExtractor's ``url``.
DUCKLING_URL_ENV = "RASA_DUCKLING_HTTP_URL"


def duckling_url(configured: str | None) -> str | None:
    """The Duckling server to call: ``RASA_DUCKLING_HTTP_URL`` when set, else ``configured``."""
    return os.environ.get(DUCKLING_URL_ENV) or configured


def _check_sections(path: str | Path, data: Mapping[str, Any]) -> None:
    """Refuse a misspelt section; warn about the ones Palaver ignores.

    Rasa ignores sections it does not know, so a real project may carry some
    (``tracing``, keys of newer versions). A name close to one of Palaver's own
    sections is a typo that would silently drop a store or broker: an error.
    """
    unknown = sorted(set(data) - set(ENDPOINT_SECTIONS) - set(FORMAT_KEYS))
    typos = {
        name: close[0]
        for name in unknown
        if name not in RASA_ONLY_SECTIONS
        and (close := difflib.get_close_matches(name, ENDPOINT_SECTIONS, n=1, cutoff=0.8))
    }
    if typos:
        hints = ", ".join(f"'{name}' (did you mean '{close}'?)" for name, close in typos.items())
        raise ConfigError(
            f"{path}: unknown section(s) {hints}. Valid sections: {', '.join(ENDPOINT_SECTIONS)}."
        )
    if unknown:
        logger.warning(
            "%s: ignoring section(s) %s, which Palaver does not implement (it reads %s)",
            path,
            ", ".join(f"'{name}'" for name in unknown),
            ", ".join(ENDPOINT_SECTIONS),
        )


@dataclass(frozen=True)
class EndpointsConfig:
    """The sections of endpoints.yml, each a mapping (``type`` plus options) or None."""

    tracker_store: dict[str, Any] | None = None
    lock_store: dict[str, Any] | None = None
    event_broker: dict[str, Any] | None = None
    action_endpoint: dict[str, Any] | None = None
    nlg: dict[str, Any] | None = None
    models: dict[str, Any] | None = None
    model_storage: dict[str, Any] | None = None
    source: str | None = None

    @classmethod
    def load(cls, path: str | Path | None, env: Mapping[str, str] | None = None) -> EndpointsConfig:
        if path is None:
            return cls()
        data = read_yaml_config(Path(path), env)
        _check_sections(path, data)
        sections: dict[str, dict[str, Any] | None] = {}
        for name in ENDPOINT_SECTIONS:
            value = data.get(name)
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"{path}: section '{name}' must be a mapping, got {value!r}.")
            sections[name] = dict(value) if value else None
        broker = sections["event_broker"]
        source_env = os.environ if env is None else env
        if broker is not None and "rasa_environment" not in broker:
            # Rasa names the deployment in a Kafka header from this variable.
            rasa_environment = source_env.get("RASA_ENVIRONMENT")
            if rasa_environment:
                broker["rasa_environment"] = rasa_environment
        return cls(**sections, source=str(path))


@dataclass(frozen=True)
class CredentialsConfig:
    """credentials.yml: channel name (or dotted class path) -> its settings."""

    channels: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(
        cls, path: str | Path | None, env: Mapping[str, str] | None = None
    ) -> CredentialsConfig:
        if path is None:
            return cls({"rest": {}})
        data = read_yaml_config(Path(path), env)
        channels: dict[str, dict[str, Any]] = {}
        for name, value in data.items():
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"{path}: channel '{name}' must be a mapping, got {value!r}.")
            channels[str(name)] = dict(value or {})
        return cls(channels)


def env_value(name: str, default: str | None = None) -> str | None:
    """Read one environment variable (for settings documented as env-driven)."""
    return os.environ.get(name, default)


def env_snapshot() -> dict[str, str]:
    """A copy of the environment, for code that must pass it to a subprocess."""
    return dict(os.environ)
