"""LinearSequencePolicy: a trained policy that generalizes beyond the stories.

Palaver's stand-in for Rasa's ``TEDPolicy``. The last ``max_history`` ML
states (rule-only turns hidden, as TED sees them) become one sparse vector:
for every position (0 = latest state) a bag of features (intent, entity
labels, previous action; active loop and slot features for the latest state). A multinomial logistic
regression (:mod:`palaver.policies.softmax`), trained on all story trackers
including augmented ones, scores every action; its probabilities are the
confidences. A prediction is one sparse dot product: microseconds.

At run time a bounded per-process cache maps a state window to its
prediction: a deployed bot's conversations go through the same few windows
again and again, and a hit returns exactly what the computation returned
(the cache is not persisted with the model).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from palaver.core.constants import (
    ACTION_LISTEN_NAME,
    ACTION_NAME,
    ACTION_TEXT,
    ACTIVE_LOOP,
    ENTITIES,
    INTENT,
    LOOP_NAME,
    PREVIOUS_ACTION,
    SLOTS,
    TEXT,
    USER,
)
from palaver.policies.generator import TrainingTracker
from palaver.policies.policy import (
    Policy,
    PolicyPrediction,
    TurnContext,
    config_float,
    config_int,
    config_optional_int,
    training_examples,
)
from palaver.policies.softmax import SparseRows, fit_softmax
from palaver.policies.states import DomainLike, FrozenState, StateFeaturizer, SubState

logger = logging.getLogger(__name__)

DEFAULT_POLICY_PRIORITY = 1
# TED's ``e2e_confidence_threshold``: a text-based prediction must beat it.
E2E_CONFIDENCE_THRESHOLD = 0.5
DEFAULT_MAX_HISTORY = 5
# TED's ``max_history: null`` means the whole dialogue; a linear model needs a window.
UNBOUNDED_HISTORY_WINDOW = 10

Features = tuple[list[int], list[float]]
# Bounds of the per-process caches (cleared when full: a simple, O(1) policy).
MAX_CACHED_WINDOWS = 8192
MAX_CACHED_STATES = 8192
_Scored = tuple[str, float, dict[str, float]]


def state_features(state: FrozenState, *, latest: bool = True) -> list[tuple[str, float]]:
    """Named features of one state (names are position independent).

    Slots and the active loop persist from turn to turn, so only the latest
    state (``latest``) carries them; repeating them at every position would let
    them outweigh the turn-specific intent and action features.
    """
    out: list[tuple[str, float]] = []
    for kind, sub in state:
        if kind == USER:
            out.extend(_user_features(sub))
        elif kind == PREVIOUS_ACTION:
            out.extend((f"{_ACTION_PREFIXES.get(key, key)}:{value}", 1.0) for key, value in sub)
        elif kind == ACTIVE_LOOP and latest:
            out.extend((f"loop:{value}", 1.0) for key, value in sub if key == LOOP_NAME)
        elif kind == SLOTS and latest:
            out.extend(_slot_features(sub))
    return out


_ACTION_PREFIXES = {ACTION_NAME: "action", ACTION_TEXT: "action_text"}


def _user_features(sub: SubState) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for key, value in sub:
        if key == INTENT:
            out.append((f"intent:{value}", 1.0))
        elif key == ENTITIES:
            out.extend((f"entity:{label}", 1.0) for label in value)
        elif key == TEXT:
            out.append((f"text:{value}", 1.0))
    return out


def _slot_features(sub: SubState) -> list[tuple[str, float]]:
    return [
        (f"slot:{name}:{i}", float(v))
        for name, feature in sub
        if isinstance(feature, tuple)
        for i, v in enumerate(feature)
        if v
    ]


class LinearSequencePolicy(Policy):
    """Logistic regression over the last ``max_history`` states.

    Args:
        config: ``max_history`` (5; ``null`` = 10), ``C`` (inverse regularization, 10),
            ``max_iter`` (400), ``priority`` (1). Other (TED) keys are ignored.
        name: reported policy name (``TEDPolicy`` when substituted for it).
    """

    default_priority: ClassVar[int] = DEFAULT_POLICY_PRIORITY
    known_keys: ClassVar[frozenset[str]] = frozenset({"priority", "max_history", "C", "max_iter"})

    def __init__(self, config: Mapping[str, Any], name: str = "LinearSequencePolicy") -> None:
        super().__init__(config, name)
        history = config_optional_int(config, "max_history", DEFAULT_MAX_HISTORY, name)
        self.max_history = UNBOUNDED_HISTORY_WINDOW if history is None else history
        self.regularization = config_float(config, "C", 10.0, name, 1e-6, 1e6)
        self.max_iter = config_int(config, "max_iter", 400, name)
        self.vocabulary: dict[str, int] = {}
        self.classes: list[str] = []
        self.weights: NDArray[np.float64] = np.zeros((0, 0))
        self.bias: NDArray[np.float64] = np.zeros(0)

    # --- training --------------------------------------------------------------------

    def train(
        self,
        trackers: Sequence[TrainingTracker],
        domain: DomainLike,
        featurizer: StateFeaturizer,
    ) -> None:
        """Fits the model on every story tracker (augmented ones included)."""
        stories = [t for t in trackers if not t.is_rule_tracker]
        examples = training_examples(stories, featurizer, max_history=self.max_history)
        if not examples:
            logger.info("%s: no story data; it will predict nothing", self.name)
            return
        self.vocabulary = self._vocabulary(examples)
        self.__dict__.pop("_state_cache", None)  # built for another vocabulary
        self.__dict__.pop("_window_cache", None)
        rows = [self._features(states) for states, _ in examples]
        labels = [action for _, action in examples]
        position = {name: i for i, name in enumerate(domain.action_names_or_texts)}
        # Order classes like the domain's actions so argmax ties break as in Rasa.
        self.classes = sorted(set(labels), key=lambda a: (position.get(a, len(position)), a))
        self._fit(rows, labels)

    def _vocabulary(
        self, examples: Sequence[tuple[tuple[FrozenState, ...], str]]
    ) -> dict[str, int]:
        names: dict[str, int] = {}
        for states, _ in examples:
            for state in states:
                for name, _value in state_features(state):
                    names.setdefault(name, len(names))
        return names

    def _features(self, states: Sequence[FrozenState]) -> Features:
        width = len(self.vocabulary)
        indices: list[int] = []
        values: list[float] = []
        recent = list(states)[-self.max_history :]
        for position, state in enumerate(reversed(recent)):
            offset = position * width
            for index, value in self._state_features(state, position == 0):
                indices.append(offset + index)
                values.append(value)
        return indices, values

    def _state_features(self, state: FrozenState, latest: bool) -> list[tuple[int, float]]:
        """Vocabulary indices and values of one state's known features (cached)."""
        cache = self._runtime_cache("_state_cache")
        key = (state, latest)
        found: list[tuple[int, float]] | None = cache.get(key)
        if found is None:
            vocabulary = self.vocabulary
            found = [
                (vocabulary[name], value)
                for name, value in state_features(state, latest=latest)
                if name in vocabulary
            ]
            if len(cache) >= MAX_CACHED_STATES:
                cache.clear()
            cache[key] = found
        return found

    def _runtime_cache(self, name: str) -> dict[Any, Any]:
        # Created lazily: models pickled before these caches existed lack them.
        cache: dict[Any, Any] | None = self.__dict__.get(name)
        if cache is None:
            cache = self.__dict__[name] = {}
        return cache

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_state_cache", None)
        state.pop("_window_cache", None)
        return state

    def _fit(self, rows: list[Features], labels: list[str]) -> None:
        n_features = len(self.vocabulary) * self.max_history
        class_index = {name: i for i, name in enumerate(self.classes)}
        if len(self.classes) == 1:
            self.weights = np.zeros((n_features, 1))
            self.bias = np.zeros(1)
            return
        target = np.array([class_index[label] for label in labels], dtype=np.int64)
        self.weights, self.bias = fit_softmax(
            SparseRows.from_lists(rows, n_features),
            target,
            len(self.classes),
            c=self.regularization,
            max_iter=self.max_iter,
        )

    # --- prediction ---------------------------------------------------------------------

    def probabilities(self, states: Sequence[FrozenState]) -> NDArray[np.float64]:
        """Probabilities over ``classes`` for a state window."""
        indices, values = self._features(states)
        logits = self.bias.copy()
        if indices:
            logits += np.asarray(values) @ self.weights[indices]
        logits -= logits.max()
        exp = np.exp(logits)
        result: NDArray[np.float64] = exp / exp.sum()
        return result

    def predict(self, context: TurnContext, domain: DomainLike) -> PolicyPrediction:
        """The most probable action and its probability.

        Right after a user message whose text an end-to-end story taught, the
        window is also scored with that text instead of the intent, and the
        text wins when it is at least as confident (TED's ``_pick_confidence``,
        with its ``e2e_confidence_threshold``).
        """
        if not self.classes:
            return self.prediction({}, domain)
        window = tuple(context.replay.ml_states(self.max_history))
        action, confidence, probabilities = self._scored(window)
        is_end_to_end = False
        text_window = self._text_window(context, window)
        if text_window is not None:
            by_text = self._scored(text_window)
            # A tie goes to the text: an exact trained sentence is the more specific evidence.
            if by_text[1] > E2E_CONFIDENCE_THRESHOLD and by_text[1] >= confidence:
                action, confidence, probabilities = by_text
                is_end_to_end = True
        return PolicyPrediction(
            action,
            confidence,
            self.name,
            is_end_to_end=is_end_to_end,
            policy_priority=self.priority,
            probabilities=dict(probabilities),
        )

    def _text_window(
        self, context: TurnContext, window: tuple[FrozenState, ...]
    ) -> tuple[FrozenState, ...] | None:
        """``window`` with the latest user turn featurized by its text, if that text was trained."""
        message = context.latest_message
        if (
            not window
            or message is None
            or not message.text
            or message.use_text_for_featurization
            or context.latest_action_name != ACTION_LISTEN_NAME
            or f"text:{message.text}" not in self.vocabulary
        ):
            return None
        text_sub = ((TEXT, message.text),)
        latest = tuple((kind, text_sub if kind == USER else sub) for kind, sub in window[-1])
        if latest == window[-1]:
            return None
        return (*window[:-1], latest)

    def _scored(self, window: tuple[FrozenState, ...]) -> _Scored:
        """Best action, its probability and all probabilities for a window (cached)."""
        cache = self._runtime_cache("_window_cache")
        found: _Scored | None = cache.get(window)
        if found is None:
            probs = self.probabilities(window)
            best = int(np.argmax(probs))
            found = (
                self.classes[best],
                float(probs[best]),
                dict(zip(self.classes, probs.tolist(), strict=True)),
            )
            if len(cache) >= MAX_CACHED_WINDOWS:
                cache.clear()
            cache[window] = found
        return found
