"""``palaver test core``: replay test stories against a trained model, as ``rasa test`` does.

Each story is fed to a fresh tracker event by event. Before each of the
story's actions the model predicts the next action the way the server does
(``MessageProcessor.predict``: a followup action wins, then the policies);
a wrong prediction is recorded, and the story's own action is applied either
way. When a form is predicted but the story runs something else, the form is
taken to have rejected the turn and the model predicts again (the form
itself does not run here). User turns with a text are parsed by the NLU model
and their intent and entities checked against the story (end to end); the
story's intent is applied, so a wrong intent fails its story but not the
predictions after it. ``slot_was_set`` and ``active_loop`` steps are applied
as written.

Results have the shape of :func:`palaver.quality.evaluation.evaluate_stories`
plus one entry per story (``stories``) with each step's expectation and
prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from palaver.core.constants import (
    ACTION_UNLIKELY_INTENT_NAME,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_GROUP,
    ENTITY_ATTRIBUTE_ROLE,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
)
from palaver.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    SlotSet,
    UserUttered,
)
from palaver.core.tracker import DialogueStateTracker
from palaver.data.stories import CheckpointStep, StoryBlock
from palaver.quality.evaluation import (
    RESPONSE_SELECTOR_DEFAULT,
    classification_metrics,
    in_training_data_fraction,
)

if TYPE_CHECKING:
    from palaver.core.model import LoadedModel
    from palaver.policies.generator import TrainingTracker
    from palaver.policies.policy import PolicyPrediction

Parse = Callable[[str], Mapping[str, Any]]
Report = dict[str, Any]
Tick = Callable[[], None]


@dataclass
class Step:
    """One step of a replayed story.

    Attributes:
        kind: ``user``, ``action``, ``slot`` or ``loop``.
        expected: the story's intent / action / ``{slot: value}`` / loop name.
        predicted: the model's intent or action (``None`` where nothing is predicted).
        text: the user's text (user steps).
        entities / predicted_entities: the story's and the model's entities (user steps).
        policy, confidence: who predicted the action, how sure.
        correct: whether the prediction matches (always True for unpredicted steps).
        warning: an ``action_unlikely_intent`` was predicted before this action.
    """

    kind: str
    expected: Any
    predicted: Any = None
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    predicted_entities: list[dict[str, Any]] | None = None
    policy: str | None = None
    confidence: float | None = None
    correct: bool = True
    warning: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = {
            "kind": self.kind,
            "expected": self.expected,
            "predicted": self.predicted,
            "correct": self.correct,
        }
        optional = {
            "text": self.text,
            "entities": self.entities or None,
            "predicted_entities": self.predicted_entities,
            "policy": self.policy,
            "confidence": self.confidence,
            "warning": self.warning or None,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        return data


@dataclass
class StoryResult:
    """A replayed story: where it is written and how each step went."""

    name: str
    file: str | None
    line: int | None
    steps: list[Step]

    @property
    def passed(self) -> bool:
        return all(step.correct for step in self.steps)

    @property
    def has_warnings(self) -> bool:
        return any(step.warning for step in self.steps)

    def first_failure(self) -> Step | None:
        return next((step for step in self.steps if not step.correct), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "passed": self.passed,
            "steps": [step.as_dict() for step in self.steps],
        }


# --- running ------------------------------------------------------------------------------


def story_trackers(blocks: Sequence[StoryBlock], domain: Any) -> list[TrainingTracker]:
    """One tracker per story and ``or`` alternative, story rules left out (as in Rasa).

    Stories without checkpoints are generated one by one, so two test stories
    with the same intents and actions (but other texts) are both tested; stories
    with checkpoints are generated together so they can join.
    """
    from palaver.policies.generator import generate_training_trackers

    stories = [block for block in blocks if not block.is_rule]
    joined = [b for b in stories if any(isinstance(s, CheckpointStep) for s in b.steps)]
    trackers: list[TrainingTracker] = []
    for block in stories:
        if block not in joined:
            trackers.extend(generate_training_trackers([block], [], domain, augmentation_factor=0))
    if joined:
        trackers.extend(generate_training_trackers(joined, [], domain, augmentation_factor=0))
    return trackers


def run_story_tests(
    model: LoadedModel,
    blocks: Sequence[StoryBlock],
    *,
    e2e: bool = True,
    tick: Tick | None = None,
    trackers: Sequence[TrainingTracker] | None = None,
) -> Report:
    """Replay the test stories of ``blocks`` (see the module docstring).

    Args:
        model: the trained model.
        blocks: test stories (rules among them are skipped, as Rasa does).
        e2e: parse user texts and check their intents and entities.
        tick: called once per story (progress display).
        trackers: ``story_trackers(blocks, model.domain)``, if already made.

    Returns:
        ``evaluate_stories``' keys plus ``stories`` (one :meth:`StoryResult.as_dict`
        each) and ``failed_stories`` (their names).
    """
    if trackers is None:
        trackers = story_trackers(blocks, model.domain)
    locations = _locations(blocks)
    parse: Parse | None = model.parse if e2e and model.nlu is not None else None
    results = []
    for tracker in trackers:
        steps = replay_story(tracker, model, parse)
        where = _where(locations, tracker.sender_id)
        results.append(StoryResult(tracker.sender_id, where[0], where[1], steps))
        if tick is not None:
            tick()
    return story_report(results, e2e=parse is not None)


def _locations(blocks: Sequence[StoryBlock]) -> dict[str, tuple[str | None, int | None]]:
    found: dict[str, tuple[str | None, int | None]] = {}
    for block in blocks:
        found.setdefault(block.name, (block.filename, block.line))
    return found


def _where(
    locations: Mapping[str, tuple[str | None, int | None]], name: str
) -> tuple[str | None, int | None]:
    return locations.get(name) or locations.get(name.split(" > ", 1)[0]) or (None, None)


def replay_story(tracker: TrainingTracker, model: LoadedModel, parse: Parse | None) -> list[Step]:
    """The steps of one story, each with the model's prediction."""
    events = tracker.events
    partial = DialogueStateTracker(tracker.sender_id, model.domain.create_slots())
    unpredictable = tracker.unpredictable_events()
    steps: list[Step] = []
    retrieval_key: str | None = None
    for position, event in enumerate(events):
        given = position == 0 or id(event) in unpredictable
        if isinstance(event, ActionExecuted) and not given:
            steps.append(_predict_action(partial, event, model, retrieval_key))
            continue
        if isinstance(event, UserUttered):
            step, retrieval_key = _check_user(event, parse)
            steps.append(step)
        elif isinstance(event, ActionExecuted | SlotSet | ActiveLoop):
            steps.append(_given_step(event))
        partial.update(event)
    return steps


def _given_step(event: ActionExecuted | SlotSet | ActiveLoop) -> Step:
    if isinstance(event, SlotSet):
        return Step("slot", {event.key: event.value})
    if isinstance(event, ActiveLoop):
        return Step("loop", event.name)
    return Step("action", _label(event), _label(event))


def _label(event: ActionExecuted) -> str:
    return event.action_name or event.action_text or ""


def _predict(partial: DialogueStateTracker, model: LoadedModel) -> PolicyPrediction:
    from palaver.core.processor import MessageProcessor

    return MessageProcessor.predict(partial, model)


def _predict_action(
    partial: DialogueStateTracker,
    event: ActionExecuted,
    model: LoadedModel,
    retrieval_key: str | None = None,
) -> Step:
    expected = _label(event)
    prediction = _predict(partial, model)
    warning = False
    if prediction.action_name == ACTION_UNLIKELY_INTENT_NAME and expected != prediction.action_name:
        warning = True
        partial.update(ActionExecuted(ACTION_UNLIKELY_INTENT_NAME, prediction.policy_name))
        prediction = _predict(partial, model)
    if (
        prediction.action_name != expected
        and prediction.action_name == partial.active_loop_name
        and prediction.action_name in model.domain.forms
    ):
        # The form is not run here: assume it rejected the turn, as `rasa test` does.
        partial.update(ActionExecutionRejected(prediction.action_name))
        prediction = _predict(partial, model)
    predicted = _full_retrieval_action(prediction.action_name, expected, retrieval_key)
    correct = predicted == expected
    if correct:
        for extra in prediction.events:
            partial.update(extra)
    # A matched ``utter_faq/ask_name`` is logged as the server logs it: ``utter_faq``.
    action_name = (
        prediction.action_name if correct and predicted != prediction.action_name else None
    )
    partial.update(
        ActionExecuted(
            action_name or event.action_name,
            prediction.policy_name,
            prediction.confidence,
            action_text=event.action_text,
            hide_rule_turn=correct and prediction.hide_rule_turn,
        )
    )
    return Step(
        "action",
        expected,
        predicted,
        policy=prediction.policy_name,
        confidence=float(prediction.confidence),
        correct=correct,
        warning=warning,
    )


def _full_retrieval_action(predicted: str, expected: str, retrieval_key: str | None) -> str:
    """``utter_faq/ask_name`` for a predicted ``utter_faq`` when the story names the response
    (Rasa's ``_get_predicted_action_name``): the retrieval action with the latest message's
    full retrieval intent, so the story's ``action: utter_faq/ask_name`` can match."""
    base, slash, _ = expected.partition("/")
    if not slash or predicted != base or not retrieval_key:
        return predicted
    intent, slash, _ = retrieval_key.partition("/")
    if not slash or f"utter_{intent}" != base:
        return predicted
    return f"utter_{retrieval_key}"


# --- user turns ---------------------------------------------------------------------------


def _expected_intent(event: UserUttered) -> str | None:
    return event.full_retrieval_intent_name or event.intent_name


def _check_user(event: UserUttered, parse: Parse | None) -> tuple[Step, str | None]:
    """The user step, and the full retrieval intent (``faq/ask_name``) the turn carries:
    the parsed one for a text, else the story's."""
    expected = _expected_intent(event)
    gold_entities = [dict(e) for e in event.entities]
    if parse is None or not event.text or expected is None:
        step = Step("user", expected, expected, text=event.text, entities=gold_entities)
        return step, event.full_retrieval_intent_name
    parsed = parse(event.text)
    intent = parsed.get("intent")
    intent = intent if isinstance(intent, Mapping) else {}
    predicted = intent.get("name")
    retrieval_key = full_retrieval_intent(parsed, str(predicted)) if predicted else None
    if event.full_retrieval_intent_name and predicted:
        predicted = retrieval_key
    raw = parsed.get("entities")
    entities = [dict(e) for e in raw if isinstance(e, Mapping)] if isinstance(raw, list) else []
    correct = predicted == expected and entities_match(gold_entities, entities)
    step = Step(
        "user",
        expected,
        predicted,
        text=event.text,
        entities=gold_entities,
        predicted_entities=entities,
        confidence=_float(intent.get("confidence")),
        correct=correct,
    )
    return step, retrieval_key


def full_retrieval_intent(parsed: Mapping[str, Any], intent: str) -> str:
    """``faq/ask_name`` for a parsed ``faq``: the parse's full retrieval intent, else the
    response selector's choice (its ``faq`` key or ``default``, as ``utter_faq`` reads it)."""
    given = (parsed.get("intent") or {}).get("full_retrieval_intent_name")
    if isinstance(given, str) and given:
        return given
    selectors = parsed.get("response_selector")
    if not isinstance(selectors, Mapping):
        return intent
    selector = selectors.get(intent, selectors.get(RESPONSE_SELECTOR_DEFAULT))
    response = selector.get("response") if isinstance(selector, Mapping) else None
    key = response.get("intent_response_key") if isinstance(response, Mapping) else None
    return str(key) if key else intent


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def entities_match(
    expected: Sequence[Mapping[str, Any]], found: Sequence[Mapping[str, Any]]
) -> bool:
    """Same entities: type, role, group and value, and span where the story gives one."""
    with_spans = all(ENTITY_ATTRIBUTE_START in e for e in expected)
    return sorted(_entity_key(e, with_spans) for e in expected) == sorted(
        _entity_key(e, with_spans) for e in found
    )


def _entity_key(entity: Mapping[str, Any], with_span: bool) -> tuple[str, ...]:
    keys = [ENTITY_ATTRIBUTE_TYPE, ENTITY_ATTRIBUTE_ROLE, ENTITY_ATTRIBUTE_GROUP]
    keys.append(ENTITY_ATTRIBUTE_VALUE)
    if with_span:
        keys += [ENTITY_ATTRIBUTE_START, ENTITY_ATTRIBUTE_END]
    return tuple("" if entity.get(k) is None else str(entity.get(k)) for k in keys)


# --- the report -------------------------------------------------------------------------------


def story_report(results: Sequence[StoryResult], *, e2e: bool) -> Report:
    """Metrics over all predicted actions (and intents with ``e2e``) plus per-story results."""
    steps = [step for result in results for step in result.steps]
    predicted = [s for s in steps if s.kind == "action" and _was_predicted(s)]
    intents = [s for s in steps if s.kind == "user" and s.predicted_entities is not None]
    targets = [s.expected for s in predicted] + [s.expected for s in intents]
    guesses = [s.predicted for s in predicted] + [s.predicted for s in intents]
    metrics = classification_metrics(targets, guesses, confusions=False)
    passed = sum(1 for r in results if r.passed)
    action_list = [
        {
            "action": s.expected,
            "predicted": s.predicted,
            "policy": s.policy,
            "confidence": s.confidence,
        }
        for s in predicted
    ]
    report = dict(metrics.report)
    report["conversation_accuracy"] = {
        "accuracy": passed / len(results) if results else 0.0,
        "correct": passed,
        "with_warnings": sum(1 for r in results if r.has_warnings),
        "total": len(results),
    }
    return {
        "actions": action_list,
        "is_end_to_end_evaluation": e2e,
        "precision": metrics.precision,
        "f1": metrics.f1,
        "accuracy": metrics.accuracy,
        "in_training_data_fraction": in_training_data_fraction(action_list),
        "report": report,
        "stories": [r.as_dict() for r in results],
        "failed_stories": [r.name for r in results if not r.passed],
    }


def _was_predicted(step: Step) -> bool:
    return step.policy is not None or step.confidence is not None


def action_pairs(report: Report) -> tuple[list[str], list[str]]:
    """Targets and predictions of every predicted action (for the confusion matrix)."""
    targets = [str(a["action"]) for a in report.get("actions", [])]
    predictions = [str(a["predicted"]) for a in report.get("actions", [])]
    return targets, predictions
