"""Evaluating a trained model: NLU (intents, entities, retrieval responses) and stories.

Results have the JSON shapes of Rasa's ``POST /model/test/intents`` and
``POST /model/test/stories`` (and of ``rasa test``'s report files), so the
server returns them as they are and ``palaver test`` can write reports from
them. Every function here is blocking and free of I/O: call it from a worker
thread or process, never on the event loop.

Metrics come from scikit-learn as in Rasa: per-label reports from
``classification_report`` over the labels present in the targets, weighted
precision and F1, and accuracy over all items.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from palaver.core.constants import (
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_GROUP,
    ENTITY_ATTRIBUTE_ROLE,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_LABEL_SEPARATOR,
)
from palaver.core.events import Event
from palaver.core.tracker import DialogueStateTracker
from palaver.nlu.training_data import (
    RESPONSE_IDENTIFIER_DELIMITER,
    NLUTrainingData,
    TrainingExample,
)

if TYPE_CHECKING:
    from palaver.core.model import LoadedModel
    from palaver.data.stories import StoryBlock

logger = logging.getLogger(__name__)

Parse = Callable[[str], Mapping[str, Any]]
Report = dict[str, Any]

NO_ENTITY = "no_entity"
# Policies whose predictions reproduce the training data (Rasa's "in training data").
MEMORIZING_POLICIES = ("RulePolicy", "MemoizationPolicy", "AugmentedMemoizationPolicy")
RESPONSE_SELECTOR_DEFAULT = "default"


# --- metrics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """A classification report with Rasa's summary numbers."""

    report: Report
    precision: float
    f1: float
    accuracy: float


def _clean(labels: Iterable[str | None]) -> list[str]:
    return ["" if label is None else str(label) for label in labels]


def classification_metrics(
    targets: Sequence[str | None],
    predictions: Sequence[str | None],
    *,
    exclude_label: str | None = None,
    confusions: bool = True,
) -> Metrics:
    """Rasa's ``get_evaluation_metrics`` plus the ``confused_with`` entries of each label.

    Labels are those of the targets (minus ``exclude_label``); with none,
    the report is empty and every number 0.
    """
    from sklearn import metrics

    gold = _clean(targets)
    predicted = _clean(predictions)
    labels = sorted({label for label in gold if label != exclude_label})
    if not labels:
        return Metrics({}, 0.0, 0.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report: Report = metrics.classification_report(
            gold, predicted, labels=labels, output_dict=True, zero_division=0
        )
        precision = float(
            metrics.precision_score(
                gold, predicted, labels=labels, average="weighted", zero_division=0
            )
        )
        f1 = float(
            metrics.f1_score(gold, predicted, labels=labels, average="weighted", zero_division=0)
        )
    accuracy = float(metrics.accuracy_score(gold, predicted))
    report = _plain_report(report)
    if confusions:
        _add_confusions(report, gold, predicted, exclude_label)
    return Metrics(report, precision, f1, accuracy)


def _plain_report(report: Report) -> Report:
    """The report with JSON-native numbers (``support`` as an int, as Rasa writes it)."""
    plain: Report = {}
    for label, entry in report.items():
        if isinstance(entry, dict):
            plain[label] = {
                key: int(value) if key == "support" else float(value)
                for key, value in entry.items()
            }
        else:
            plain[label] = float(entry)
    return plain


def _add_confusions(
    report: Report, gold: Sequence[str], predicted: Sequence[str], exclude: str | None
) -> None:
    """``report[label]["confused_with"]``: the (at most 3) labels most often predicted instead."""
    counts: dict[str, Counter[str]] = {}
    for target, prediction in zip(gold, predicted, strict=True):
        counts.setdefault(target, Counter())[prediction] += 1
    candidates = min(3, len(set(gold) | set(predicted)))
    for label, counter in counts.items():
        entry = report.get(label)
        if label == exclude or not isinstance(entry, dict):
            continue
        top = counter.most_common(candidates)
        entry["confused_with"] = {
            other: count for other, count in top if other != label and other != exclude
        }


# --- next-action prediction ---------------------------------------------------------------


@dataclass(frozen=True)
class ActionPrediction:
    """The next action for a conversation, as ``/predict`` reports it.

    Attributes:
        action: the predicted action name (or end-to-end text).
        policy: the policy that predicted it (None for a followup action).
        confidence: its score.
        scores: a score for every action of the domain, in domain order.
        events: events the policies want applied before the action runs.
    """

    action: str
    policy: str | None
    confidence: float
    scores: dict[str, float]
    events: list[Event] = field(default_factory=list)

    def score_list(self, *, ranked: bool = False) -> list[dict[str, Any]]:
        """``[{"action", "score"}]`` in domain order, or best first (then by name)."""
        pairs = list(self.scores.items())
        if ranked:
            pairs.sort(key=lambda pair: (-pair[1], pair[0]))
        return [{"action": action, "score": score} for action, score in pairs]


def _scores(prediction: Any, action_names: Sequence[str]) -> dict[str, float]:
    """Scores of every action; one-hot on the prediction when the policy gives no distribution."""
    given = getattr(prediction, "scores", None)
    if isinstance(given, Mapping) and given:
        return {name: float(given.get(name, 0.0)) for name in action_names}
    return {
        name: float(prediction.confidence) if name == prediction.action_name else 0.0
        for name in action_names
    }


def predict_next_action(tracker: DialogueStateTracker, model: LoadedModel) -> ActionPrediction:
    """What the processor would run next for ``tracker``; nothing is run or changed.

    A pending followup action wins over the policies, as in the processor.
    """
    domain = model.domain
    names: list[str] = list(domain.action_names_or_texts)
    followup = tracker.followup_action
    if followup and followup in names:
        return ActionPrediction(
            followup, None, 1.0, {n: 1.0 if n == followup else 0.0 for n in names}
        )
    prediction = model.policies.predict(tracker, domain)
    return ActionPrediction(
        prediction.action_name,
        prediction.policy_name,
        float(prediction.confidence),
        _scores(prediction, names),
        list(getattr(prediction, "events", None) or []),
    )


# --- NLU ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NLUResult:
    example: TrainingExample
    parsed: Mapping[str, Any]

    @property
    def predicted_intent(self) -> Mapping[str, Any]:
        intent = self.parsed.get("intent")
        return intent if isinstance(intent, Mapping) else {}

    @property
    def predicted_entities(self) -> list[Mapping[str, Any]]:
        entities = self.parsed.get("entities")
        return [e for e in entities if isinstance(e, Mapping)] if isinstance(entities, list) else []


def evaluate_nlu(
    parse: Parse, data: NLUTrainingData, *, extractors: Iterable[str] | None = None
) -> Report:
    """Evaluate an NLU model on labelled examples (Rasa's ``run_evaluation`` result).

    Args:
        parse: the model's parse function (text -> Rasa parse JSON).
        data: the test examples.
        extractors: entity extractors of the pipeline; defaults to those that
            extracted something.

    Returns:
        ``{"intent_evaluation", "entity_evaluation", "response_selection_evaluation"}``;
        an evaluation is ``None`` when the data has nothing to evaluate for it.
    """
    results = [_NLUResult(example, parse(example.text)) for example in data.examples]
    return nlu_report(results, extractors)


def nlu_report(results: Sequence[_NLUResult], extractors: Iterable[str] | None = None) -> Report:
    return {
        "intent_evaluation": _intent_evaluation(results),
        "entity_evaluation": _entity_evaluation(results, extractors) if results else None,
        "response_selection_evaluation": _response_selection_evaluation(results),
    }


def _intent_evaluation(results: Sequence[_NLUResult]) -> Report | None:
    with_intent = [r for r in results if r.example.base_intent]
    if not with_intent:
        return None
    targets = [r.example.base_intent for r in with_intent]
    predicted = [r.predicted_intent.get("name") for r in with_intent]
    metrics = classification_metrics(targets, predicted)
    predictions = [
        {
            "text": r.example.text,
            "intent": target,
            "predicted": name,
            "confidence": r.predicted_intent.get("confidence"),
        }
        for r, target, name in zip(with_intent, targets, predicted, strict=True)
    ]
    errors = [
        {
            "text": p["text"],
            "intent": p["intent"],
            "intent_prediction": {"name": p["predicted"], "confidence": p["confidence"]},
        }
        for p in predictions
        if p["intent"] != p["predicted"]
    ]
    return _evaluation(metrics, predictions, errors)


def _evaluation(metrics: Metrics, predictions: list[Report], errors: list[Report]) -> Report:
    return {
        "report": metrics.report,
        "accuracy": metrics.accuracy,
        "f1_score": metrics.f1,
        "precision": metrics.precision,
        "predictions": predictions,
        "errors": errors,
    }


def _response_prediction(result: _NLUResult) -> tuple[str | None, float | None]:
    selectors = result.parsed.get("response_selector")
    if not isinstance(selectors, Mapping):
        return None, None
    base = result.example.base_intent
    selector = selectors.get(base, selectors.get(RESPONSE_SELECTOR_DEFAULT))
    response = selector.get("response") if isinstance(selector, Mapping) else None
    if not isinstance(response, Mapping):
        return None, None
    return response.get("intent_response_key"), response.get("confidence")


def _response_selection_evaluation(results: Sequence[_NLUResult]) -> Report | None:
    retrieval = [r for r in results if RESPONSE_IDENTIFIER_DELIMITER in r.example.intent]
    has_selector = any(isinstance(r.parsed.get("response_selector"), Mapping) for r in results)
    if not retrieval or not has_selector:
        return None
    predicted = [_response_prediction(r) for r in retrieval]
    metrics = classification_metrics(
        [r.example.intent for r in retrieval], [key for key, _ in predicted]
    )
    predictions = [
        {
            "text": r.example.text,
            "intent_response_key_target": r.example.intent,
            "intent_response_key_prediction": key,
            "confidence": confidence,
        }
        for r, (key, confidence) in zip(retrieval, predicted, strict=True)
    ]
    errors = [
        {
            "text": p["text"],
            "intent_response_key_target": p["intent_response_key_target"],
            "intent_response_key_prediction": {
                "name": p["intent_response_key_prediction"],
                "confidence": p["confidence"],
            },
        }
        for p in predictions
        if p["intent_response_key_target"] != p["intent_response_key_prediction"]
    ]
    return _evaluation(metrics, predictions, errors)


def _entity_label(entity: Mapping[str, Any]) -> str:
    parts = [str(entity.get(ENTITY_ATTRIBUTE_TYPE))]
    for attribute in (ENTITY_ATTRIBUTE_ROLE, ENTITY_ATTRIBUTE_GROUP):
        if entity.get(attribute) is not None:
            parts.append(str(entity[attribute]))
    return ENTITY_LABEL_SEPARATOR.join(parts)


def _token_labels(
    spans: Sequence[tuple[int, int]], entities: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The entity label of each token (``no_entity`` outside entities), by span overlap."""
    labels = []
    for start, end in spans:
        label = NO_ENTITY
        for entity in entities:
            e_start, e_end = entity.get(ENTITY_ATTRIBUTE_START), entity.get(ENTITY_ATTRIBUTE_END)
            if (
                isinstance(e_start, int)
                and isinstance(e_end, int)
                and start < e_end
                and e_start < end
            ):
                label = _entity_label(entity)
                break
        labels.append(label)
    return labels


def _extractors_of(results: Sequence[_NLUResult]) -> list[str]:
    names = {
        str(e["extractor"]) for r in results for e in r.predicted_entities if e.get("extractor")
    }
    return sorted(names)


# Extractors whose entities are not learnt from the training data.
PRETRAINED_EXTRACTORS = frozenset({"DucklingEntityExtractor", "SpacyEntityExtractor"})


def _entity_evaluation(results: Sequence[_NLUResult], extractors: Iterable[str] | None) -> Report:
    from palaver.nlu.tokenizer import WhitespaceTokenizer

    tokenizer = WhitespaceTokenizer({})
    names = sorted(set(extractors)) if extractors is not None else _extractors_of(results)
    # Their entities come from rules or models not trained on this data (Rasa
    # leaves them out of the evaluation too).
    names = [name for name in names if name not in PRETRAINED_EXTRACTORS]
    tokens = [[(t.start, t.end) for t in tokenizer.tokenize(r.example.text)] for r in results]
    gold = [[e.as_dict() for e in r.example.entities] for r in results]
    target_labels = [_token_labels(s, g) for s, g in zip(tokens, gold, strict=True)]
    evaluation: Report = {}
    for name in names:
        targets: list[str] = []
        predicted: list[str] = []
        errors: list[Report] = []
        for result, spans, labels, expected in zip(
            results, tokens, target_labels, gold, strict=True
        ):
            found = [e for e in result.predicted_entities if e.get("extractor") == name]
            found_labels = _token_labels(spans, found)
            targets.extend(labels)
            predicted.extend(found_labels)
            if found_labels != labels:
                errors.append(
                    {
                        "text": result.example.text,
                        "entities": expected,
                        "predicted_entities": [dict(e) for e in found],
                    }
                )
        metrics = classification_metrics(targets, predicted, exclude_label=NO_ENTITY)
        evaluation[name] = {
            "report": metrics.report,
            "accuracy": metrics.accuracy,
            "f1_score": metrics.f1,
            "precision": metrics.precision,
            "errors": errors,
        }
    return evaluation


def cross_validate_nlu(
    data: NLUTrainingData,
    pipeline_config: Sequence[Mapping[str, Any]],
    language: str,
    folds: int,
    *,
    seed: int = 42,
    on_fold: Callable[[], None] | None = None,
) -> Report:
    """Train on ``folds - 1`` parts and test on the rest, ``folds`` times (stratified by intent).

    Returns the same shape as :func:`evaluate_nlu`, computed over the
    predictions on every test fold. ``on_fold`` is called after each fold
    (progress display).

    Raises:
        ValueError: fewer examples than folds, or fewer than 2 folds.
    """
    from sklearn.model_selection import StratifiedKFold

    from palaver.nlu.pipeline import NLUPipeline

    examples = list(data.examples)
    if folds < 2 or len(examples) < folds:
        raise ValueError(
            f"cross-validation needs at least 2 folds and as many examples as folds "
            f"({len(examples)} examples, {folds} folds)"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    labels = [example.intent for example in examples]
    results: list[_NLUResult] = []
    with warnings.catch_warnings():
        # Rare intents get fewer test examples than folds; that is expected here.
        warnings.simplefilter("ignore", UserWarning)
        splits = list(splitter.split(examples, labels))
    for train_index, test_index in splits:
        train = _subset(data, [examples[i] for i in train_index])
        pipeline = NLUPipeline.train(train, [dict(c) for c in pipeline_config], language)
        results.extend(
            _NLUResult(examples[i], pipeline.parse(examples[i].text)) for i in test_index
        )
        if on_fold is not None:
            on_fold()
    return nlu_report(results)


def _subset(data: NLUTrainingData, examples: list[TrainingExample]) -> NLUTrainingData:
    return NLUTrainingData(
        examples=examples,
        synonyms=dict(data.synonyms),
        regexes=list(data.regexes),
        lookups=list(data.lookups),
        responses=dict(data.responses),
    )


# --- stories --------------------------------------------------------------------------------


def in_training_data_fraction(actions: Sequence[Mapping[str, Any]]) -> float:
    """The share of predictions made by memorizing policies (rules, memoization)."""
    if not actions:
        return 0.0
    memorized = [
        a
        for a in actions
        if a.get("policy")
        and a.get("confidence") != 0.0
        and str(a["policy"]).endswith(MEMORIZING_POLICIES)
    ]
    return len(memorized) / len(actions)


def evaluate_stories(
    model: LoadedModel, stories: Sequence[StoryBlock], *, e2e: bool = False
) -> Report:
    """Replay test stories against the model (Rasa's ``rasa test core`` result).

    The same replay as ``palaver test core`` (forms rejecting off-script turns,
    every story tested on its own, entities checked in end-to-end mode).

    Returns:
        ``{"actions", "is_end_to_end_evaluation", "precision", "f1", "accuracy",
        "in_training_data_fraction", "report"}`` (``report`` includes
        ``conversation_accuracy``), plus ``stories`` and ``failed_stories``.
    """
    from palaver.quality.core_test import run_story_tests

    return run_story_tests(model, stories, e2e=e2e)
