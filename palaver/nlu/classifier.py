"""LogisticRegressionClassifier: Palaver's intent classifier.

Multinomial logistic regression (scikit-learn, lbfgs) over all sentence
features produced before it in the pipeline. Labels are base intents
(``faq`` for ``faq/ask_name``); multi-intent labels (``greet+ask_name``) are
classes of their own, as in Rasa.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from palaver.errors import ConfigError
from palaver.nlu.component import settings_from_config
from palaver.nlu.constants import RANKING_LENGTH
from palaver.nlu.linear import LinearModel, LogisticRegressionSettings, ranking
from palaver.nlu.message import Message, TrainingBatch


@dataclass(frozen=True, slots=True)
class IntentClassifierSettings(LogisticRegressionSettings):
    ranking_length: int = RANKING_LENGTH


class LogisticRegressionClassifier:
    """Predicts ``intent``, ``intent_ranking`` and the full intent distribution."""

    name: ClassVar[str] = "LogisticRegressionClassifier"

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(IntentClassifierSettings, self.name, config)
        self.model: LinearModel | None = None

    @property
    def intents(self) -> list[str]:
        return list(self.model.labels) if self.model else []

    def train(self, batch: TrainingBatch) -> None:
        if not batch.sentence_features:
            raise ConfigError(
                f"'{self.name}' needs sentence features: put a featurizer such as "
                "CountVectorsFeaturizer before it in the pipeline."
            )
        rows = [i for i, ex in enumerate(batch.examples) if ex.intent]
        if not rows:
            return
        features = batch.feature_matrix()[rows]
        labels = [batch.examples[i].base_intent for i in rows]
        dims = [m.shape[1] for m in batch.sentence_features]
        lr_settings = LogisticRegressionSettings(
            **{
                f.name: getattr(self.settings, f.name)
                for f in dataclasses.fields(LogisticRegressionSettings)
            }
        )
        self.model = LinearModel.fit(features, labels, dims, lr_settings)

    def process(self, message: Message) -> None:
        if self.model is None or not message.tokens:
            message.intent = {"name": None, "confidence": 0.0}
            message.intent_ranking = []
            return
        probabilities = self.model.probabilities(message.sentence_features)
        ranked = ranking(self.model.labels, probabilities, self.settings.ranking_length)
        message.intent = {"name": ranked[0][0], "confidence": ranked[0][1]}
        message.intent_ranking = [{"name": n, "confidence": c} for n, c in ranked]
        message.intent_labels = self.model.labels
        message.intent_probabilities = probabilities
