"""FallbackClassifier: predict ``nlu_fallback`` when the NLU is unsure.

As in Rasa: if the top intent's confidence is below ``threshold``, or the top
two are closer than ``ambiguity_threshold``, the intent becomes
``nlu_fallback`` with confidence ``threshold`` and is also put first in
``intent_ranking``.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from palaver.nlu.component import settings_from_config
from palaver.nlu.constants import NLU_FALLBACK_INTENT
from palaver.nlu.message import Message, TrainingBatch

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FallbackSettings:
    threshold: float = 0.3
    ambiguity_threshold: float = 0.1


class FallbackClassifier:
    """Overrides an unsure intent prediction with ``nlu_fallback``."""

    name: ClassVar[str] = "FallbackClassifier"

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(FallbackSettings, self.name, config)

    def train(self, batch: TrainingBatch) -> None:
        """Nothing to learn: the thresholds are configuration."""

    def process(self, message: Message) -> None:
        if message.intent is None or not self._should_fallback(message):
            return
        fallback = {"name": NLU_FALLBACK_INTENT, "confidence": self.settings.threshold}
        message.intent = fallback
        message.intent_ranking.insert(0, dict(fallback))

    def _should_fallback(self, message: Message) -> bool:
        assert message.intent is not None
        confidence = float(message.intent.get("confidence") or 0.0)
        if confidence < self.settings.threshold:
            logger.debug("nlu.fallback.low_confidence confidence=%.3f", confidence)
            return True
        ranking = message.intent_ranking
        if len(ranking) >= 2:
            delta = ranking[0].get("confidence", 1.0) - ranking[1].get("confidence", 1.0)
            if delta < self.settings.ambiguity_threshold:
                logger.debug("nlu.fallback.ambiguous delta=%.3f", delta)
                return True
        return False


def is_fallback_prediction(parse_data: dict[str, Any]) -> bool:
    """Whether the FallbackClassifier replaced the intent of ``parse_data``."""
    intent = parse_data.get("intent") or {}
    return bool(intent.get("name") == NLU_FALLBACK_INTENT)


def undo_fallback_prediction(parse_data: dict[str, Any]) -> dict[str, Any]:
    """``parse_data`` as if there were no FallbackClassifier (a copy)."""
    ranking = parse_data.get("intent_ranking", [])
    if len(ranking) < 2:
        return parse_data
    result = copy.deepcopy(parse_data)
    result["intent"] = ranking[1]
    result["intent_ranking"] = ranking[1:]
    return result
