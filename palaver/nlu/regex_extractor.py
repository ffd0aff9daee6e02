"""RegexEntityExtractor: entities from regexes and lookup tables.

Only patterns named like an entity of the training data are used (Rasa's
rule); every match becomes an entity whose value is the matched text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from palaver.nlu.component import settings_from_config
from palaver.nlu.constants import REGEX_EXTRACTOR
from palaver.nlu.message import Message, TrainingBatch
from palaver.nlu.patterns import compile_patterns, extract_patterns


@dataclass(frozen=True, slots=True)
class RegexExtractorSettings:
    case_sensitive: bool = False
    use_lookup_tables: bool = True
    use_regexes: bool = True
    use_word_boundaries: bool = True


class RegexEntityExtractor:
    """Adds one entity per pattern match."""

    name: ClassVar[str] = REGEX_EXTRACTOR

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(RegexExtractorSettings, self.name, config)
        self.patterns: list[tuple[str, re.Pattern[str]]] = []

    @property
    def entity_types(self) -> list[str]:
        return sorted({name for name, _ in self.patterns})

    def train(self, batch: TrainingBatch) -> None:
        s = self.settings
        found = extract_patterns(
            batch.data,
            use_regexes=s.use_regexes,
            use_lookup_tables=s.use_lookup_tables,
            only_entities=True,
            use_word_boundaries=s.use_word_boundaries,
        )
        self.patterns = compile_patterns(found, s.case_sensitive, self.name)

    def process(self, message: Message) -> None:
        for name, pattern in self.patterns:
            for match in pattern.finditer(message.text):
                message.entities.append(
                    {
                        "entity": name,
                        "start": match.start(),
                        "end": match.end(),
                        "value": message.text[match.start() : match.end()],
                        "extractor": REGEX_EXTRACTOR,
                    }
                )
