"""ResponseSelector: picks the sub-intent of a retrieval intent (``faq/ask_name``).

The intent classifier sees the base intent (``faq``); this component trains
one logistic regression per retrieval intent over its sub-intents. At parse
time it uses the model of the predicted retrieval intent (or of the most
probable one when the intent is not a retrieval intent), so its confidence is
conditional on the retrieval intent. Output follows Rasa's
``response_selector`` JSON (key ``default``, or ``retrieval_intent`` if set).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from palaver.errors import ConfigError
from palaver.nlu.component import settings_from_config
from palaver.nlu.constants import DEFAULT_SELECTOR_KEY, RANKING_LENGTH
from palaver.nlu.linear import LinearModel, LogisticRegressionSettings, ranking
from palaver.nlu.message import Message, TrainingBatch
from palaver.nlu.training_data import RESPONSE_IDENTIFIER_DELIMITER

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResponseSelectorSettings(LogisticRegressionSettings):
    retrieval_intent: str | None = None
    ranking_length: int = RANKING_LENGTH


class ResponseSelector:
    """Adds ``response_selector`` with the predicted ``intent_response_key``."""

    name: ClassVar[str] = "ResponseSelector"

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(ResponseSelectorSettings, self.name, config)
        self.all_retrieval_intents: list[str] = []
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self.models: dict[str, LinearModel] = {}

    @property
    def selector_key(self) -> str:
        return self.settings.retrieval_intent or DEFAULT_SELECTOR_KEY

    def train(self, batch: TrainingBatch) -> None:
        if not batch.sentence_features:
            raise ConfigError(
                f"'{self.name}' needs sentence features: put a featurizer such as "
                "CountVectorsFeaturizer before it in the pipeline."
            )
        retrieval = sorted(
            {ex.base_intent for ex in batch.examples if RESPONSE_IDENTIFIER_DELIMITER in ex.intent}
        )
        self.all_retrieval_intents = retrieval
        self.responses = dict(batch.data.responses)
        wanted = self.settings.retrieval_intent
        features = batch.feature_matrix()
        dims = [m.shape[1] for m in batch.sentence_features]
        lr = LogisticRegressionSettings(
            **{
                f.name: getattr(self.settings, f.name)
                for f in dataclasses.fields(LogisticRegressionSettings)
            }
        )
        for intent in retrieval:
            if wanted is not None and intent != wanted:
                continue
            rows = [i for i, ex in enumerate(batch.examples) if ex.base_intent == intent]
            labels = [batch.examples[i].intent for i in rows]
            self.models[intent] = LinearModel.fit(features[rows], labels, dims, lr)
            self._warn_missing_responses(set(labels))

    def process(self, message: Message) -> None:
        selector = dict(message.response_selector or {})
        selector["all_retrieval_intents"] = list(self.all_retrieval_intents)
        selector[self.selector_key] = self._predict(message)
        message.response_selector = selector

    def _predict(self, message: Message) -> dict[str, Any]:
        if not self.models:
            return {"response": _response(None, 0.0, None), "ranking": []}
        model = self.models[self._retrieval_intent(message)]
        ranked = ranking(
            model.labels,
            model.probabilities(message.sentence_features),
            self.settings.ranking_length,
        )
        key, confidence = ranked[0]
        # a copy: callers may fill in the response templates
        responses = copy.deepcopy(self.responses.get(f"utter_{key}")) or [{"text": key}]
        return {
            "response": _response(key, confidence, responses),
            "ranking": [
                {"id": label_id(k), "confidence": c, "intent_response_key": k} for k, c in ranked
            ],
        }

    def _retrieval_intent(self, message: Message) -> str:
        """The most probable retrieval intent (the first one without a classifier)."""
        labels, probabilities = message.intent_labels, message.intent_probabilities
        if probabilities is None:
            return next(iter(self.models))
        scores = {label: float(p) for label, p in zip(labels, probabilities, strict=True)}
        return max(self.models, key=lambda name: scores.get(name, 0.0))

    def _warn_missing_responses(self, keys: set[str]) -> None:
        missing = sorted(k for k in keys if f"utter_{k}" not in self.responses)
        if missing:
            logger.warning(
                "nlu.response_selector.missing_responses keys=%s: add responses "
                "utter_<key> to the domain or data; the key itself is used as text",
                ",".join(missing),
            )


def _response(
    key: str | None, confidence: float, responses: list[dict[str, Any]] | None
) -> dict[str, Any]:
    return {
        "responses": responses,
        "confidence": confidence,
        "intent_response_key": key,
        "utter_action": f"utter_{key}" if key is not None else None,
    }


@functools.lru_cache(maxsize=4096)
def label_id(key: str) -> int:
    """A stable id for a ranking entry (Rasa's ``hash()`` changes between processes)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 1
