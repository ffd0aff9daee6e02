"""What every dialogue policy shares: predictions, the turn context, config checks.

A policy sees a conversation as a :class:`TurnContext`: the replayed states
plus the few live tracker fields Rasa's policies read (latest action, active
loop and whether it rejected, latest message). Policies return a
:class:`PolicyPrediction`; scores follow Rasa (a rule or memorized match is
``1.0``, the rule policy's "nothing matched" fallback is
``core_fallback_threshold``) so the ensemble can compare them as Rasa does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from palaver.core.constants import ACTION_LISTEN_NAME, ACTION_NAME
from palaver.core.events import ActionExecuted, Event, UserUttered
from palaver.errors import ConfigError
from palaver.policies.cache import TrackerLike
from palaver.policies.generator import TrainingTracker
from palaver.policies.replay import Replay
from palaver.policies.states import DomainLike, FrozenState, StateFeaturizer

Example = tuple[tuple[FrozenState, ...], str]


# Not frozen: a frozen dataclass's __init__ costs ~10x more (object.__setattr__
# per field) and this one is built several times per message. Treat it as
# immutable; unsafe_hash keeps it hashable as before.
@dataclass(slots=True, unsafe_hash=True)
class PolicyPrediction:
    """The next action chosen by a policy (or the ensemble).

    Attributes:
        action_name: the action to run.
        confidence: its score (Rasa's ``max_confidence``).
        policy_name: the policy that chose it (Rasa's name, e.g. ``RulePolicy``).
        events: events to apply *before* running the action
            (``LoopInterrupted``, ``DefinePrevUserUtteredFeaturization``).
        is_end_to_end: predicted from the user's text rather than the intent.
        is_no_user_prediction: a loop's happy path (beats every other prediction).
        hide_rule_turn: a rule-only turn; log it as ``ActionExecuted(hide_rule_turn=True)``
            so ML policies ignore it, as Rasa does.
        policy_priority: priority of the policy (ties of ``confidence``).
        action_metadata: metadata for the action (unused by the built-in policies).
        probabilities: the deciding policy's score of every action it scored
            (Rasa's probability vector, zeros left out); also readable as ``scores``.
    """

    action_name: str
    confidence: float
    policy_name: str | None
    events: list[Event] = field(default_factory=list)
    is_end_to_end: bool = False
    is_no_user_prediction: bool = False
    hide_rule_turn: bool = False
    policy_priority: int = 0
    action_metadata: dict[str, Any] | None = None
    probabilities: Mapping[str, float] | None = None

    @property
    def scores(self) -> Mapping[str, float]:
        """Score per action name (one-hot on the action if no distribution is known)."""
        if self.probabilities:
            return self.probabilities
        return {self.action_name: self.confidence}


@dataclass(slots=True)
class TurnContext:
    """A conversation as the policies see it before predicting the next action."""

    replay: Replay
    latest_action: dict[str, str] | None
    active_loop_name: str | None
    loop_rejected: bool
    latest_message: UserUttered | None

    @property
    def latest_action_name(self) -> str | None:
        """Name (or e2e text) of the latest action."""
        if not self.latest_action:
            return None
        return self.latest_action.get(ACTION_NAME) or self.latest_action.get("action_text")

    @property
    def latest_intent(self) -> str | None:
        """Intent of the latest user message."""
        return None if self.latest_message is None else self.latest_message.intent_name

    @classmethod
    def from_tracker(cls, tracker: TrackerLike, replay: Replay) -> TurnContext:
        """Live fields from a :class:`~palaver.core.tracker.DialogueStateTracker`."""
        latest_action = tracker.latest_action
        return cls(
            replay,
            dict(latest_action) if latest_action else None,
            tracker.active_loop_name,
            bool(tracker.is_active_loop_rejected),
            tracker.latest_message,
        )

    @classmethod
    def from_replay(cls, replay: Replay) -> TurnContext:
        """All fields from a replay (training-time predictions)."""
        snap = replay.current
        latest_action = dict(snap.prev_action) if snap.prev_action else None
        return cls(replay, latest_action, snap.active_loop_name, snap.loop_rejected, snap.message)


class Policy(ABC):
    """A trainable dialogue policy.

    Args:
        config: the policy's entry of ``config.yml`` (without ``name``).
        name: the name predictions report (the configured Rasa name).
    """

    default_priority: ClassVar[int] = 1
    # Which generated trackers the policy learns from (Rasa's ``SupportedData``).
    uses_rule_trackers: ClassVar[bool] = False
    uses_story_trackers: ClassVar[bool] = True
    known_keys: ClassVar[frozenset[str]] = frozenset({"priority"})

    def __init__(self, config: Mapping[str, Any], name: str) -> None:
        self.name = name
        self.priority = config_int(config, "priority", self.default_priority, name)

    @abstractmethod
    def train(
        self,
        trackers: Sequence[TrainingTracker],
        domain: DomainLike,
        featurizer: StateFeaturizer,
    ) -> None:
        """Learns from the generated trackers meant for this policy."""

    @abstractmethod
    def predict(self, context: TurnContext, domain: DomainLike) -> PolicyPrediction:
        """Scores the next action."""

    def prediction(self, scores: Mapping[str, float], domain: DomainLike) -> PolicyPrediction:
        """A plain prediction: the best of ``scores`` (nothing scored: ``action_listen``, 0)."""
        action, confidence = best_action(scores, domain)
        return PolicyPrediction(
            action,
            confidence,
            self.name,
            policy_priority=self.priority,
            probabilities={k: v for k, v in scores.items() if v > 0.0},
        )


def best_action(scores: Mapping[str, float], domain: DomainLike) -> tuple[str, float]:
    """Rasa's ``argmax`` over the action list: the first action with the top score."""
    if not scores:
        names = domain.action_names_or_texts
        return (names[0] if names else ACTION_LISTEN_NAME), 0.0
    top = max(scores.values())
    if top <= 0.0:
        names = domain.action_names_or_texts
        return (names[0] if names else ACTION_LISTEN_NAME), 0.0
    candidates = [name for name, score in scores.items() if score == top]
    if len(candidates) == 1:
        return candidates[0], top
    fallback_index = len(domain.action_names_or_texts)

    def position(name: str) -> int:
        index = domain.index_for_action(name)
        return fallback_index if index is None else index

    return min(candidates, key=position), top


def training_examples(
    trackers: Iterable[TrainingTracker],
    featurizer: StateFeaturizer,
    *,
    max_history: int | None,
    omit_unset_slots: bool = False,
) -> list[Example]:
    """Rasa's ``MaxHistoryTrackerFeaturizer`` examples: (last states, next action), unique."""
    seen: set[Example] = set()
    examples: list[Example] = []
    for tracker in trackers:
        replay = tracker.replay(featurizer, omit_unset_slots=omit_unset_slots)
        unpredictable = tracker.unpredictable_events()
        states: list[FrozenState] = []
        for event, state in replay.action_frames():
            states.append(state)
            if id(event) in unpredictable:
                continue
            window = states if max_history is None else states[-max_history:]
            example = (tuple(window), action_label(event))
            if example not in seen:
                seen.add(example)
                examples.append(example)
    return examples


def action_label(event: ActionExecuted) -> str:
    """The training label of an action event (its name or end-to-end text)."""
    return event.action_name or event.action_text or ""


# --- config values ---------------------------------------------------------------


def config_int(config: Mapping[str, Any], key: str, default: int, policy: str) -> int:
    """An integer option; ``ConfigError`` naming key and value otherwise."""
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"Policy '{policy}': '{key}' has value {value!r}; expected an integer.")
    return value


def config_optional_int(
    config: Mapping[str, Any], key: str, default: int | None, policy: str
) -> int | None:
    """A positive integer or ``null`` option."""
    value = config.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"Policy '{policy}': '{key}' has value {value!r}; expected a positive integer or null."
        )
    return value


def config_float(
    config: Mapping[str, Any], key: str, default: float, policy: str, low: float, high: float
) -> float:
    """A number option within ``[low, high]``."""
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(
            f"Policy '{policy}': '{key}' has value {value!r}; "
            f"expected a number between {low} and {high}."
        )
    return float(value)


def config_bool(config: Mapping[str, Any], key: str, default: bool, policy: str) -> bool:
    """A boolean option."""
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"Policy '{policy}': '{key}' has value {value!r}; expected true/false.")
    return value


def config_str(config: Mapping[str, Any], key: str, default: str, policy: str) -> str:
    """A non-empty string option."""
    value = config.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"Policy '{policy}': '{key}' has value {value!r}; expected a name.")
    return value


def is_listen(name: str | None) -> bool:
    """Whether ``name`` is ``action_listen``."""
    return name == ACTION_LISTEN_NAME
