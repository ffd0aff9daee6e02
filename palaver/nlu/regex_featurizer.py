"""RegexFeaturizer: which regex / lookup-table patterns match the message.

Gives the classifier one sentence feature per pattern (1.0 when it matches
anywhere) and marks each token a match overlaps with ``pattern:<name>`` for the
CRFEntityExtractor's ``pattern`` feature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from palaver.nlu.component import settings_from_config
from palaver.nlu.constants import PATTERN_FEATURE_PREFIX
from palaver.nlu.message import Message, TrainingBatch
from palaver.nlu.patterns import compile_patterns, extract_patterns


@dataclass(frozen=True, slots=True)
class RegexFeaturizerSettings:
    case_sensitive: bool = True
    use_word_boundaries: bool = True
    use_lookup_tables: bool = True
    use_regexes: bool = True


class RegexFeaturizer:
    """Sentence and token features from the training data's patterns."""

    name: ClassVar[str] = "RegexFeaturizer"

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(RegexFeaturizerSettings, self.name, config)
        self.patterns: list[tuple[str, re.Pattern[str]]] = []

    def train(self, batch: TrainingBatch) -> None:
        s = self.settings
        found = extract_patterns(
            batch.data,
            use_regexes=s.use_regexes,
            use_lookup_tables=s.use_lookup_tables,
            use_word_boundaries=s.use_word_boundaries,
        )
        self.patterns = compile_patterns(found, s.case_sensitive, self.name)
        if not self.patterns:
            return
        rows = [self._featurize(m) for m in batch.messages]
        batch.sentence_features.append(np.vstack(rows))

    def process(self, message: Message) -> None:
        if self.patterns:
            message.sentence_features.append(self._featurize(message))

    def _featurize(self, message: Message) -> np.ndarray:
        sentence = np.zeros(len(self.patterns))
        token_features = message.features_of_tokens()
        for index, (name, pattern) in enumerate(self.patterns):
            for match in pattern.finditer(message.text):
                sentence[index] = 1.0
                for token, features in zip(message.tokens, token_features, strict=True):
                    if token.start < match.end() and token.end > match.start():
                        features[PATTERN_FEATURE_PREFIX + name] = True
        return sentence
