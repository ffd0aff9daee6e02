"""CRFEntityExtractor: entities, roles and groups with linear-chain CRFs.

One CRF (sklearn-crfsuite) tags entities (BILOU by default); when the data
annotates roles or groups, one more CRF each tags them, with the entity tag
of each token as an extra feature (as Rasa does). Tags come from Viterbi
decoding; ``confidence_entity`` is the lowest marginal probability of the
chosen tags over the entity's tokens, role and group (with their confidence)
are those of its first token.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from palaver.nlu.bilou import NO_ENTITY, decode, entity_tags
from palaver.nlu.component import settings_from_config
from palaver.nlu.constants import CRF_EXTRACTOR, LEXICAL_FEATURE_PREFIX, PATTERN_FEATURE_PREFIX
from palaver.nlu.message import Message, Token, TrainingBatch
from palaver.nlu.token_features import validate_window, window_features

if TYPE_CHECKING:  # imported when training: it imports scikit-learn (~1 s)
    import sklearn_crfsuite

DEFAULT_FEATURES: tuple[tuple[str, ...], ...] = (
    ("low", "title", "upper"),
    (
        "low", "bias", "prefix5", "prefix2", "suffix5", "suffix3", "suffix2",
        "upper", "title", "digit", "pattern",
    ),
    ("low", "title", "upper"),
)  # fmt: skip

Features = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class CRFSettings:
    BILOU_flag: bool = True
    split_entities_by_comma: bool | dict[str, bool] = True
    features: tuple[tuple[str, ...], ...] = DEFAULT_FEATURES
    max_iterations: int = 50
    L1_c: float = 0.1
    L2_c: float = 0.1

    def splits(self, entity: str) -> bool:
        if isinstance(self.split_entities_by_comma, bool):
            return self.split_entities_by_comma
        return bool(self.split_entities_by_comma.get(entity, True))


@dataclass(frozen=True, slots=True)
class _Tagged:
    tags: list[str]
    confidences: list[float]


class CRFEntityExtractor:
    """Extracts entities (with ``role`` / ``group`` when trained on them)."""

    name: ClassVar[str] = CRF_EXTRACTOR

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(CRFSettings, self.name, config)
        validate_window(self.settings.features, self.name, extra=("pattern",))
        self.entity_crf: sklearn_crfsuite.CRF | None = None
        self.role_crf: sklearn_crfsuite.CRF | None = None
        self.group_crf: sklearn_crfsuite.CRF | None = None
        # crfsuite taggers keep per-call state: one tagging at a time per model.
        self._lock = threading.Lock()

    @property
    def trained(self) -> bool:
        """Whether the data had entities to learn (otherwise it extracts nothing)."""
        return self.entity_crf is not None

    @property
    def entity_types(self) -> list[str]:
        if self.entity_crf is None:
            return []
        labels = {str(c).split("-", 1)[-1] for c in self.entity_crf.classes_}
        return sorted(labels - {NO_ENTITY})

    def train(self, batch: TrainingBatch) -> None:
        pairs = [(m, ex) for m, ex in zip(batch.messages, batch.examples, strict=True) if m.tokens]
        if not any(ex.entities for _, ex in pairs):
            return
        bilou = self.settings.BILOU_flag
        tagged = [entity_tags(m.tokens, ex.entities, bilou) for m, ex in pairs]
        features = [self._features(m) for m, _ in pairs]
        self.entity_crf = self._fit(features, [t[0] for t in tagged])
        with_tags = [_with_entity_tags(f, t[0]) for f, t in zip(features, tagged, strict=True)]
        if any(tag != NO_ENTITY for t in tagged for tag in t[1]):
            self.role_crf = self._fit(with_tags, [t[1] for t in tagged])
        if any(tag != NO_ENTITY for t in tagged for tag in t[2]):
            self.group_crf = self._fit(with_tags, [t[2] for t in tagged])

    def process(self, message: Message) -> None:
        if self.entity_crf is None or not message.tokens:
            return
        features = self._features(message)
        with self._lock:
            entities = self._tag(self.entity_crf, features)
            with_tags = _with_entity_tags(features, entities.tags)
            roles = self._tag(self.role_crf, with_tags) if self.role_crf else None
            groups = self._tag(self.group_crf, with_tags) if self.group_crf else None
        for first, end, entity in self._spans(message, entities.tags):
            message.entities.append(_entity(message, first, end, entity, entities, roles, groups))

    def _fit(self, features: list[Features], tags: list[list[str]]) -> sklearn_crfsuite.CRF:
        import sklearn_crfsuite

        crf = sklearn_crfsuite.CRF(
            algorithm="lbfgs",
            c1=self.settings.L1_c,
            c2=self.settings.L2_c,
            max_iterations=self.settings.max_iterations,
            all_possible_transitions=True,
        )
        crf.fit(features, tags)
        return crf

    @staticmethod
    def _tag(crf: sklearn_crfsuite.CRF, features: Features) -> _Tagged:
        tagger = crf.tagger_
        tagger.set(features)
        tags = [str(t) for t in tagger.tag()]
        return _Tagged(tags, [float(tagger.marginal(t, i)) for i, t in enumerate(tags)])

    def _features(self, message: Message) -> Features:
        window = self.settings.features
        token_features = message.features_of_tokens()
        result: Features = []
        for index in range(len(message.tokens)):
            features = window_features(message.tokens, index, window)
            features.update(_pattern_features(token_features, index, window))
            lexical = token_features[index].items()
            features.update((k, v) for k, v in lexical if k.startswith(LEXICAL_FEATURE_PREFIX))
            result.append(features)
        return result

    def _spans(self, message: Message, tags: list[str]) -> list[tuple[int, int, str]]:
        spans: list[tuple[int, int, str]] = []
        for first, end, entity in decode(tags, self.settings.BILOU_flag):
            if self.settings.splits(entity):
                spans.extend(_split_on_commas(message.text, message.tokens, first, end, entity))
            else:
                spans.append((first, end, entity))
        return spans

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _pattern_features(
    token_features: list[dict[str, Any]], index: int, window: Sequence[Sequence[str]]
) -> dict[str, Any]:
    half = len(window) // 2
    features: dict[str, Any] = {}
    for offset, names in zip(range(-half, half + 1), window, strict=True):
        position = index + offset
        if "pattern" not in names or not 0 <= position < len(token_features):
            continue
        for key, value in token_features[position].items():
            if key.startswith(PATTERN_FEATURE_PREFIX):
                features[f"{offset}:{key}"] = value
    return features


def _with_entity_tags(features: Features, tags: list[str]) -> Features:
    result: Features = []
    for index, token_features in enumerate(features):
        extended = dict(token_features)
        for offset in (-1, 0, 1):
            if 0 <= index + offset < len(tags):
                extended[f"{offset}:entity"] = tags[index + offset]
        result.append(extended)
    return result


def _split_on_commas(
    text: str, tokens: list[Token], first: int, end: int, entity: str
) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    start = first
    for index in range(first + 1, end):
        if "," in text[tokens[index - 1].end : tokens[index].start]:
            spans.append((start, index, entity))
            start = index
    spans.append((start, end, entity))
    return spans


def _entity(
    message: Message,
    first: int,
    end: int,
    entity: str,
    entities: _Tagged,
    roles: _Tagged | None,
    groups: _Tagged | None,
) -> dict[str, Any]:
    start, stop = message.tokens[first].start, message.tokens[end - 1].end
    result: dict[str, Any] = {
        "entity": entity,
        "start": start,
        "end": stop,
        "confidence_entity": min(entities.confidences[first:end]),
        "value": message.text[start:stop],
        "extractor": CRF_EXTRACTOR,
    }
    for key, tagged in (("role", roles), ("group", groups)):
        if tagged is not None and tagged.tags[first] != NO_ENTITY:
            result[key] = tagged.tags[first]
            result[f"confidence_{key}"] = tagged.confidences[first]
    return result
