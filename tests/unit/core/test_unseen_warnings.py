"""A parsed intent or entity type the domain lacks is warned about, once per name."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from palaver.core.domain import Domain
from palaver.core.model import LoadedModel

DOMAIN = Domain.from_dict({"intents": ["greet"], "entities": ["city"]})


def model() -> LoadedModel:
    metadata: Any = None
    return LoadedModel(metadata=metadata, domain=DOMAIN, nlu=None, policies=None)


def parsed(intent: str | None, *entities: str) -> dict[str, Any]:
    return {
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [{"entity": name, "value": "x"} for name in entities],
    }


def test_unknown_names_are_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    loaded = model()
    with caplog.at_level(logging.WARNING, logger="palaver.core.model"):
        for _ in range(3):
            loaded.warn_unseen(parsed("thankyou", "cuisine", "city"))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "intent 'thankyou'" in messages[0]
    assert "entity 'cuisine'" in messages[1]


@pytest.mark.parametrize(
    "data", [parsed("greet", "city"), parsed(None), parsed("nlu_fallback"), {"intent": None}]
)
def test_known_names_and_no_intent_are_quiet(
    data: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="palaver.core.model"):
        model().warn_unseen(data)
    assert not caplog.records
