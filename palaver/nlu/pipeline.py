"""NLUPipeline: train, parse, persist and load an NLU model.

A pipeline is a list of components (see :mod:`palaver.nlu.registry`) run in
config order. ``parse`` returns Rasa's parse JSON. Training keeps no global
state, so it can run in a worker thread or process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from palaver.errors import TrainingError
from palaver.nlu import storage
from palaver.nlu.classifier import LogisticRegressionClassifier
from palaver.nlu.component import Component
from palaver.nlu.crf_extractor import CRFEntityExtractor
from palaver.nlu.lexical_syntactic import LexicalSyntacticFeaturizer
from palaver.nlu.message import Message, TrainingBatch
from palaver.nlu.registry import ComponentConfig, build_components, resolve_pipeline
from palaver.nlu.response_selector import ResponseSelector
from palaver.nlu.training_data import NLUTrainingData

logger = logging.getLogger(__name__)


class NLUPipeline:
    """A trained NLU pipeline.

    Args:
        components: trained components, in pipeline order.
        config: the resolved pipeline config (substitutions applied).
        language: the language the pipeline was trained for.
    """

    def __init__(
        self, components: Sequence[Component], config: Sequence[ComponentConfig], language: str
    ) -> None:
        self.components = list(components)
        self.config = [dict(c) for c in config]
        self.language = language

    @classmethod
    def train(
        cls,
        data: NLUTrainingData,
        pipeline_config: Sequence[ComponentConfig | str] | None = None,
        language: str = "en",
    ) -> NLUPipeline:
        """Train a pipeline on ``data``.

        Args:
            data: NLU examples, synonyms, regexes, lookups and retrieval responses.
            pipeline_config: the ``pipeline`` of config.yml; empty or None
                gives Palaver's default pipeline.
            language: language code from config.yml.

        Raises:
            ConfigError: unknown component, bad option, or impossible order.
            TrainingError: no training examples.
        """
        if not data.examples:
            raise TrainingError("Cannot train the NLU pipeline: there are no NLU examples.")
        resolved = [_with_locale(entry, language) for entry in resolve_pipeline(pipeline_config)]
        components = build_components(resolved)
        batch = TrainingBatch.from_data(data)
        started = time.perf_counter()
        for component in components:
            step = time.perf_counter()
            component.train(batch)
            logger.info(
                "nlu.train.component name=%s seconds=%.2f",
                component.name,
                time.perf_counter() - step,
            )
        _skip_unread_token_features(components)
        logger.info(
            "nlu.train.done examples=%d seconds=%.2f",
            len(batch.examples),
            time.perf_counter() - started,
        )
        return cls(components, resolved, language)

    def parse(
        self, text: str, message_id: str | None = None, metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Rasa's parse JSON for ``text``.

        Keys: ``text``, ``intent`` ({name, confidence}), ``entities``,
        ``message_id`` and ``metadata`` (when given), ``text_tokens``,
        ``intent_ranking`` and, with a ResponseSelector, ``response_selector``.
        """
        message = Message(text)
        for component in self.components:
            component.process(message)
        return _parse_data(message, message_id, metadata)

    def parse_batch(self, texts: Iterable[str]) -> list[dict[str, Any]]:
        """``parse`` for many texts (evaluation)."""
        return [self.parse(text) for text in texts]

    @property
    def intents(self) -> list[str]:
        """The intents the classifier predicts (base intents, multi-intents as labels)."""
        for component in self.components:
            if isinstance(component, LogisticRegressionClassifier):
                return component.intents
        return []

    @property
    def retrieval_intents(self) -> list[str]:
        """Intents with sub-intents (``faq`` of ``faq/ask_name``) known to a ResponseSelector."""
        for component in self.components:
            if isinstance(component, ResponseSelector):
                return list(component.all_retrieval_intents)
        return []

    @property
    def entity_types(self) -> list[str]:
        """Entity types the extractors can produce."""
        types: set[str] = set()
        for component in self.components:
            types.update(getattr(component, "entity_types", []))
        return sorted(types)

    def persist(self, directory: Path) -> None:
        """Write the pipeline to ``directory`` (created if missing)."""
        storage.persist(directory, self.components, self.config, self.language)

    @classmethod
    def load(cls, directory: Path) -> NLUPipeline:
        """Load a pipeline written by :meth:`persist`.

        Raises:
            ModelError: the directory holds no (compatible) NLU model.
        """
        components, config, language = storage.load(directory)
        return cls(components, config, language)


def _skip_unread_token_features(components: Sequence[Component]) -> None:
    # Lexical token features only feed a CRF; without a trained CRF after the
    # featurizer they would cost ~50 µs per parse for nothing.
    for index, component in enumerate(components):
        if isinstance(component, LexicalSyntacticFeaturizer):
            component.active = any(
                isinstance(later, CRFEntityExtractor) and later.trained
                for later in components[index + 1 :]
            )


def _parse_data(
    message: Message, message_id: str | None, metadata: dict[str, Any] | None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "text": message.text,
        "intent": message.intent or {"name": None, "confidence": 0.0},
        "entities": message.entities,
    }
    if message_id is not None:
        data["message_id"] = message_id
    if metadata is not None:
        data["metadata"] = metadata
    data["text_tokens"] = [[t.start, t.end] for t in message.tokens]
    data["intent_ranking"] = message.intent_ranking
    if message.response_selector is not None:
        data["response_selector"] = message.response_selector
        _add_full_retrieval_intent(data)
    return data


def _add_full_retrieval_intent(data: dict[str, Any]) -> None:
    # Rasa's processor does this after parsing: the selector keyed by the
    # intent itself (not "default") names the full retrieval intent.
    intent = data["intent"]
    selector = data["response_selector"]
    if intent.get("name") and intent["name"] in selector.get("all_retrieval_intents", []):
        prediction = selector.get(intent["name"], {}).get("response", {})
        data["intent"] = {
            **intent,
            "full_retrieval_intent_name": prediction.get("intent_response_key"),
        }


def _with_locale(entry: ComponentConfig, language: str) -> ComponentConfig:
    """Duckling's default locale from the pipeline's language, as Rasa builds it (``en_EN``)."""
    if entry.get("name") != "DucklingEntityExtractor" or entry.get("locale"):
        return entry
    return {**entry, "locale": f"{language}_{language.upper()}"}
