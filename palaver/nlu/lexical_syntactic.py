"""LexicalSyntacticFeaturizer: lexical token features for entity extraction.

Rasa feeds these to DIET as sequence features; Palaver hands them to the
CRFEntityExtractor, which adds them to its own window features. The ``pos``
and ``pos2`` features need spaCy and are accepted but produce nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from palaver.nlu.component import settings_from_config
from palaver.nlu.constants import LEXICAL_FEATURE_PREFIX
from palaver.nlu.message import Message, TrainingBatch
from palaver.nlu.token_features import validate_window, window_features

DEFAULT_FEATURES: tuple[tuple[str, ...], ...] = (
    ("low", "title", "upper"),
    ("BOS", "EOS", "low", "upper", "title", "digit"),
    ("low", "title", "upper"),
)


@dataclass(frozen=True, slots=True)
class LexicalSyntacticSettings:
    features: tuple[tuple[str, ...], ...] = DEFAULT_FEATURES


class LexicalSyntacticFeaturizer:
    """Per-token window features (``lsf:<position>:<name>``)."""

    name: ClassVar[str] = "LexicalSyntacticFeaturizer"

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(LexicalSyntacticSettings, self.name, config)
        validate_window(self.settings.features, self.name)
        # Set by the pipeline after training: False when no trained component
        # reads token features, which then are not computed at parse time.
        self.active = True

    def train(self, batch: TrainingBatch) -> None:
        for message in batch.messages:
            self.process(message)

    def process(self, message: Message) -> None:
        if not self.active:
            return
        window = self.settings.features
        for index, features in enumerate(message.features_of_tokens()):
            features.update(window_features(message.tokens, index, window, LEXICAL_FEATURE_PREFIX))
