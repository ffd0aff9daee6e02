"""MemoizationPolicy and AugmentedMemoizationPolicy (Rasa 3.6).

Memoization remembers, for every action of the (non-augmented) training
stories, the last ``max_history`` states before it. At prediction time an
exact match of the conversation's last states predicts that action with
confidence ``1.0``; no match predicts nothing. Windows seen with different
actions are forgotten (ambiguous).

The augmented variant, when the exact lookup fails, forgets the oldest
turns one by one (replaying only the latest ``max_history`` turns, so slots
set before them count as unset) and looks up again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from palaver.core.constants import ACTION_LISTEN_NAME, PREDICTED_CONFIDENCE_KEY
from palaver.core.events import ActionExecuted, Event
from palaver.policies.generator import TrainingTracker
from palaver.policies.policy import (
    Policy,
    PolicyPrediction,
    TurnContext,
    config_bool,
    config_optional_int,
    training_examples,
)
from palaver.policies.replay import Replay
from palaver.policies.states import DomainLike, FrozenState, StateFeaturizer

# Rasa 3.6 ``MEMOIZATION_POLICY_PRIORITY``.
MEMOIZATION_POLICY_PRIORITY = 3
DEFAULT_MAX_HISTORY = 5

Key = tuple[FrozenState, ...]


class MemoizationPolicy(Policy):
    """Exact recall of training story windows.

    Args:
        config: ``max_history`` (5), ``priority`` (3), ``use_nlu_confidence_as_score``.
        name: reported policy name.
    """

    default_priority: ClassVar[int] = MEMOIZATION_POLICY_PRIORITY
    known_keys: ClassVar[frozenset[str]] = frozenset(
        {
            "priority",
            "max_history",
            "use_nlu_confidence_as_score",
            "enable_feature_string_compression",
        }
    )

    def __init__(self, config: Mapping[str, Any], name: str = "MemoizationPolicy") -> None:
        super().__init__(config, name)
        self.max_history = config_optional_int(config, "max_history", DEFAULT_MAX_HISTORY, name)
        self.use_nlu_confidence = config_bool(config, "use_nlu_confidence_as_score", False, name)
        self.lookup: dict[Key, str] = {}

    def train(
        self,
        trackers: Sequence[TrainingTracker],
        domain: DomainLike,
        featurizer: StateFeaturizer,
    ) -> None:
        """Memorizes every (window, action) of the original story trackers."""
        originals = [t for t in trackers if not t.is_augmented and not t.is_rule_tracker]
        lookup: dict[Key, str] = {}
        ambiguous: set[Key] = set()
        for states, action in training_examples(
            originals, featurizer, max_history=self.max_history
        ):
            if states in ambiguous:
                continue
            if states in lookup and lookup[states] != action:
                ambiguous.add(states)
                del lookup[states]
            elif states not in lookup:
                lookup[states] = action
        self.lookup = lookup

    def predict(self, context: TurnContext, domain: DomainLike) -> PolicyPrediction:
        """``1.0`` for the memorized action of the latest window, else nothing."""
        states = self._window(context.replay.ml_states(self.max_history))
        action = self.lookup.get(states)
        if action is None:
            action = self.recall_further(context)
        if action is None:
            return self.prediction({}, domain)
        return self.prediction({action: self._score(context)}, domain)

    def recall_further(self, context: TurnContext) -> str | None:
        """Hook for the augmented variant."""
        return None

    def _window(self, states: list[FrozenState]) -> Key:
        if self.max_history is not None:
            states = states[-self.max_history :]
        return tuple(states)

    def _score(self, context: TurnContext) -> float:
        if self.use_nlu_confidence and context.latest_message is not None:
            return float(context.latest_message.intent.get(PREDICTED_CONFIDENCE_KEY, 1.0))
        return 1.0


class AugmentedMemoizationPolicy(MemoizationPolicy):
    """Memoization that also recalls windows with earlier slot values forgotten."""

    def __init__(self, config: Mapping[str, Any], name: str = "AugmentedMemoizationPolicy") -> None:
        super().__init__(config, name)

    def recall_further(self, context: TurnContext) -> str | None:
        """Rasa's ``_recall_using_truncation``."""
        replay = context.replay
        events = _tail(replay.applied_events(), self.max_history)
        old = self._window(replay.ml_states(self.max_history))
        while True:
            events = _strip_to_next_action(events)
            if not events:
                return None
            truncated = Replay(replay.featurizer, rule_only=replay.rule_only).feed_all(events)
            states = self._window(truncated.ml_states(self.max_history))
            if states != old:
                action = self.lookup.get(states)
                if action is not None:
                    return action
                old = states
            events = events[1:]


def _tail(events: list[Event], max_history: int | None) -> list[Event]:
    """Rasa's trim: from the latest ``action_listen`` beyond ``max_history`` actions on."""
    if not max_history:
        return events
    actions = 0
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if isinstance(event, ActionExecuted):
            actions += 1
            if actions > max_history and event.action_name == ACTION_LISTEN_NAME:
                return events[index:]
    return events


def _strip_to_next_action(events: list[Event]) -> list[Event]:
    for index, event in enumerate(events):
        if isinstance(event, ActionExecuted):
            return events[index:]
    return []
