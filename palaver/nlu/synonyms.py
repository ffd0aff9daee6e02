"""EntitySynonymMapper: replace extracted entity values by their canonical value.

Synonyms come from the data's ``synonym`` entries and from annotations whose
value differs from the annotated text (``[NYC]{"entity": "city", "value":
"New York"}``). Matching ignores case, as in Rasa.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from palaver.nlu.constants import SYNONYM_MAPPER
from palaver.nlu.message import Message, TrainingBatch

logger = logging.getLogger(__name__)


class EntitySynonymMapper:
    """Maps entity values (case-insensitively) to synonym targets."""

    name: ClassVar[str] = SYNONYM_MAPPER

    def __init__(self, config: dict[str, Any]) -> None:
        self.synonyms: dict[str, str] = {}

    def train(self, batch: TrainingBatch) -> None:
        synonyms = {k.lower(): v for k, v in batch.data.synonyms.items()}
        for example in batch.examples:
            for entity in example.entities:
                original = example.text[entity.start : entity.end]
                if isinstance(entity.value, str) and original != entity.value:
                    _add(synonyms, original.lower(), entity.value)
        self.synonyms = synonyms

    def process(self, message: Message) -> None:
        for entity in message.entities:
            value = self.synonyms.get(str(entity.get("value")).lower())
            if value is not None:
                entity["value"] = value
                processors: list[str] = entity.setdefault("processors", [])
                if SYNONYM_MAPPER not in processors:
                    processors.append(SYNONYM_MAPPER)


def _add(synonyms: dict[str, str], original: str, value: str) -> None:
    existing = synonyms.get(original)
    if existing is not None and existing != value:
        logger.warning(
            "nlu.synonyms.conflict text=%r first=%r later=%r: the later value wins",
            original,
            existing,
            value,
        )
    synonyms[original] = value
