from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from palaver.errors import ConfigError
from palaver.nlu.component import settings_from_config


@dataclass(frozen=True, slots=True)
class Settings:
    count: int = 1
    ratio: float = 0.5
    names: tuple[str, ...] = ()
    label: str | None = None


def test_values_are_checked_and_normalised() -> None:
    settings = settings_from_config(
        Settings, "X", {"name": "X", "count": 3, "ratio": 1, "names": ["a", "b"], "label": None}
    )
    assert settings == Settings(count=3, ratio=1.0, names=("a", "b"), label=None)
    assert isinstance(settings.ratio, float)


@pytest.mark.parametrize(
    ("key", "value"), [("count", True), ("count", 1.5), ("names", "a"), ("label", 3)]
)
def test_wrong_types_name_component_key_and_value(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"Component 'X': config '{key}' has value"):
        settings_from_config(Settings, "X", {key: value})


def test_unknown_keys_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="palaver.nlu.component"):
        assert settings_from_config(Settings, "X", {"epochs": 100}) == Settings()
    assert "epochs" in caplog.text
