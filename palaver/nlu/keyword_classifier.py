"""KeywordIntentClassifier: an intent when a training example occurs verbatim.

Rasa's keyword classifier: each example text is a keyword for its intent
(texts used for two intents are dropped); a message containing a keyword (on
word boundaries) gets that intent with confidence 1.0.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from palaver.nlu.component import settings_from_config
from palaver.nlu.message import Message, TrainingBatch

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeywordSettings:
    case_sensitive: bool = True


class KeywordIntentClassifier:
    """Sets ``intent`` when a keyword matches; leaves it alone otherwise."""

    name: ClassVar[str] = "KeywordIntentClassifier"

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(KeywordSettings, self.name, config)
        self.keywords: list[tuple[re.Pattern[str], str]] = []

    def train(self, batch: TrainingBatch) -> None:
        mapping: dict[str, str] = {}
        ambiguous: set[str] = set()
        for example in batch.examples:
            known = mapping.get(example.text)
            if known is not None and known != example.base_intent:
                ambiguous.add(example.text)
            mapping[example.text] = example.base_intent
        for text in sorted(ambiguous):
            logger.warning(
                "nlu.keyword.ambiguous keyword=%r: used for several intents, dropped", text
            )
            del mapping[text]
        flags = 0 if self.settings.case_sensitive else re.IGNORECASE
        self.keywords = [
            (re.compile(r"\b" + re.escape(text) + r"\b", flags), intent)
            for text, intent in mapping.items()
        ]

    def process(self, message: Message) -> None:
        for pattern, intent in self.keywords:
            if pattern.search(message.text):
                message.intent = {"name": intent, "confidence": 1.0}
                return
        if message.intent is None:
            message.intent = {"name": None, "confidence": 0.0}
