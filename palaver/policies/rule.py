"""RulePolicy: fixed conversation patterns, forms, default intents, core fallback.

Behaves as Rasa 3.6's ``RulePolicy``:

* default intents win: ``restart`` -> ``action_restart``, ``back`` ->
  ``action_back``, ``session_start`` -> ``action_session_start``;
* an active loop (form) is predicted again and again (``action_listen`` after
  it) until it rejects its execution; then rules and stories handle the
  unhappy path, and returning to the loop marks it interrupted
  (``LoopInterrupted``) when stories/rules show that;
* otherwise the most specific matching rule wins with confidence ``1.0``;
* if nothing matches, ``core_fallback_action_name`` gets
  ``core_fallback_threshold``, so it wins when no other policy is more sure.

Rules learn from rule trackers; stories only feed the unhappy-path hints and
the contradiction check (``check_for_contradictions``), which also finds the
rule turns that no story covers: those are logged with ``hide_rule_turn`` so
ML policies do not see them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from palaver.core.constants import (
    ACTION_BACK_NAME,
    ACTION_DEFAULT_FALLBACK_NAME,
    ACTION_LISTEN_NAME,
    ACTION_NAME,
    ACTION_RESTART_NAME,
    ACTION_SESSION_START_NAME,
    ACTIVE_LOOP,
    LOOP_NAME,
    PREDICTED_CONFIDENCE_KEY,
    RULE_SNIPPET_ACTION_NAME,
    SHOULD_NOT_BE_SET,
    SLOTS,
    USER,
    USER_INTENT_BACK,
    USER_INTENT_RESTART,
    USER_INTENT_SESSION_START,
)
from palaver.core.events import LoopInterrupted, UserUttered
from palaver.errors import TrainingError
from palaver.policies.generator import TrainingTracker
from palaver.policies.policy import (
    Example,
    Policy,
    PolicyPrediction,
    TurnContext,
    best_action,
    config_bool,
    config_float,
    config_str,
    training_examples,
)
from palaver.policies.replay import RuleOnlyData
from palaver.policies.rule_lookup import RuleIndex, lookup_from_examples, rule_feature_key
from palaver.policies.states import (
    DomainLike,
    FrozenState,
    State,
    StateFeaturizer,
    active_loop_of,
    is_prev_action_listen,
    replace_sub_state,
    sub_state,
    thaw,
)

# Rasa 3.6 ``RULE_POLICY_PRIORITY``.
RULE_POLICY_PRIORITY = 4
DEFAULT_CORE_FALLBACK_THRESHOLD = 0.3

DEFAULT_ACTION_MAPPINGS = {
    USER_INTENT_RESTART: ACTION_RESTART_NAME,
    USER_INTENT_BACK: ACTION_BACK_NAME,
    USER_INTENT_SESSION_START: ACTION_SESSION_START_NAME,
}
# Values of the unhappy-path lookup and names of prediction sources (Rasa's).
LOOP_WAS_INTERRUPTED = "loop_was_interrupted"
DO_NOT_PREDICT_LOOP_ACTION = "do_not_predict_loop_action"
DEFAULT_RULES = "predicting default action with intent "
LOOP_RULES = "handling active loops and forms - "
LOOP_RULES_SEPARATOR = " - "
# Run-time decisions remembered per (latest states, active loop); cleared when full.
MAX_CACHED_DECISIONS = 8192


# Not frozen (a frozen __init__ is ~10x slower and this is built per message);
# treat as immutable.
@dataclass(slots=True, unsafe_hash=True)
class RuleDecision:
    """What the rules decided, before it becomes a prediction.

    Attributes:
        action: the predicted action, ``None`` if no rule applies.
        source: the rule key (or Rasa's special source name) behind it.
        returning_from_unhappy_path: tell the loop it was interrupted.
        is_end_to_end: decided from the user's text.
        is_no_user: a loop's happy path.
    """

    action: str | None = None
    source: str | None = None
    returning_from_unhappy_path: bool = False
    is_end_to_end: bool = False
    is_no_user: bool = False


_NOTHING = RuleDecision()


class RulePolicy(Policy):
    """Rasa's ``RulePolicy`` (see the module docstring).

    Args:
        config: ``core_fallback_threshold`` (0.3), ``core_fallback_action_name``
            (``action_default_fallback``), ``enable_fallback_prediction`` (true),
            ``restrict_rules`` (true), ``check_for_contradictions`` (true),
            ``use_nlu_confidence_as_score`` (false), ``priority`` (4).
        name: reported policy name.
    """

    default_priority: ClassVar[int] = RULE_POLICY_PRIORITY
    uses_rule_trackers: ClassVar[bool] = True
    known_keys: ClassVar[frozenset[str]] = frozenset(
        {
            "priority",
            "core_fallback_threshold",
            "core_fallback_action_name",
            "enable_fallback_prediction",
            "restrict_rules",
            "check_for_contradictions",
            "use_nlu_confidence_as_score",
        }
    )
    # Rasa: rules are not meant to hard-code a state machine.
    allowed_user_turns: ClassVar[int] = 1

    def __init__(self, config: Mapping[str, Any], name: str = "RulePolicy") -> None:
        super().__init__(config, name)
        self.fallback_threshold = config_float(
            config, "core_fallback_threshold", DEFAULT_CORE_FALLBACK_THRESHOLD, name, 0.0, 1.0
        )
        self.fallback_action = config_str(
            config, "core_fallback_action_name", ACTION_DEFAULT_FALLBACK_NAME, name
        )
        self.enable_fallback = config_bool(config, "enable_fallback_prediction", True, name)
        self.restrict_rules = config_bool(config, "restrict_rules", True, name)
        self.check_for_contradictions = config_bool(config, "check_for_contradictions", True, name)
        self.use_nlu_confidence = config_bool(config, "use_nlu_confidence_as_score", False, name)
        self.rules = RuleIndex({})
        self.unhappy = RuleIndex({})
        self.rules_not_in_stories: frozenset[str] = frozenset()
        self.rule_only = RuleOnlyData()

    # --- training --------------------------------------------------------------------

    def train(
        self,
        trackers: Sequence[TrainingTracker],
        domain: DomainLike,
        featurizer: StateFeaturizer,
    ) -> None:
        """Learns the rules; raises ``TrainingError`` for invalid or contradicting rules."""
        if self.fallback_action not in domain.action_names_or_texts:
            raise TrainingError(
                f"The fallback action '{self.fallback_action}' configured for the "
                f"{self.name} is not in the domain."
            )
        originals = [t for t in trackers if not t.is_augmented]
        rule_trackers = [t for t in originals if t.is_rule_tracker]
        story_trackers = [t for t in originals if not t.is_rule_tracker]
        if self.restrict_rules:
            self._check_rule_restriction(rule_trackers)
        rule_examples = training_examples(
            rule_trackers, featurizer, max_history=None, omit_unset_slots=True
        )
        lookup = lookup_from_examples(rule_examples)
        self.rules = RuleIndex({k: v for k, v in lookup.items() if v != RULE_SNIPPET_ACTION_NAME})
        story_examples = training_examples(story_trackers, featurizer, max_history=None)
        if self.check_for_contradictions:
            self.rule_only = _rule_only_data(rule_examples, story_examples)
        self.unhappy = RuleIndex(_unhappy_lookup([*rule_examples, *story_examples]))
        if self.check_for_contradictions:
            from palaver.policies.rule_analysis import RuleAnalysis

            analysis = RuleAnalysis(self, domain, featurizer)
            self.rules_not_in_stories = analysis.run(rule_trackers, originals)
        self.__dict__.pop("_decisions", None)  # decided with the rules before training

    def _check_rule_restriction(self, rule_trackers: Sequence[TrainingTracker]) -> None:
        too_long = [
            t.sender_id
            for t in rule_trackers
            if sum(isinstance(e, UserUttered) for e in t.events) > self.allowed_user_turns
        ]
        if too_long:
            raise TrainingError(
                f"Found rules '{', '.join(sorted(set(too_long)))}' that contain more than "
                f"{self.allowed_user_turns} user message. Rules are not meant to hardcode a "
                f"state machine. Please use stories for these cases."
            )

    # --- prediction --------------------------------------------------------------------

    def predict(self, context: TurnContext, domain: DomainLike) -> PolicyPrediction:
        """Rasa's ``RulePolicy.predict_action_probabilities``."""
        decision = self.decide(context, need_source=False)
        scores: dict[str, float] = {}
        if self.enable_fallback:
            scores[self.fallback_action] = self.fallback_threshold
        if decision.action is not None:
            scores[decision.action] = self._score(context)
        action, confidence = best_action(scores, domain)
        return PolicyPrediction(
            action,
            confidence,
            self.name,
            events=[LoopInterrupted(True)] if decision.returning_from_unhappy_path else [],
            is_end_to_end=decision.is_end_to_end,
            is_no_user_prediction=decision.is_no_user,
            hide_rule_turn=decision.source is not None
            and decision.source in self.rules_not_in_stories,
            policy_priority=self.priority,
            probabilities=scores,
        )

    def default_prediction(self, domain: DomainLike) -> str:
        """The action Rasa's argmax gives when no rule applies."""
        if self.enable_fallback and self.fallback_threshold > 0:
            return self.fallback_action
        return domain.action_names_or_texts[0]

    def _score(self, context: TurnContext) -> float:
        if self.use_nlu_confidence and context.latest_message is not None:
            return float(context.latest_message.intent.get(PREDICTED_CONFIDENCE_KEY, 1.0))
        return 1.0

    def decide(self, context: TurnContext, *, need_source: bool) -> RuleDecision:
        """Rasa's ``RulePolicy._predict``: defaults, loop happy path, then rules.

        Args:
            context: the conversation.
            need_source: compute the source even when no rule applies (training).
        """
        from_text = _NOTHING
        if self.rules.uses_text or self.unhappy.uses_text:
            from_text = self._from_rules(context, use_text=True, need_source=need_source)
        default = self._default_action(context)
        if default is not None and from_text.action is None:
            return RuleDecision(default, DEFAULT_RULES + str(context.latest_intent))
        loop = self._loop_happy_path(context)
        if loop.action is not None:
            return loop
        if from_text.action is not None:
            return replace(from_text, is_end_to_end=True)
        from_intent = self._from_rules(context, use_text=False, need_source=need_source)
        if from_intent.returning_from_unhappy_path or not from_text.returning_from_unhappy_path:
            return from_intent  # unchanged: skip the copy
        return replace(from_intent, returning_from_unhappy_path=True)

    @staticmethod
    def _default_action(context: TurnContext) -> str | None:
        if context.latest_action_name != ACTION_LISTEN_NAME or context.latest_message is None:
            return None
        intent = context.latest_intent
        return None if intent is None else DEFAULT_ACTION_MAPPINGS.get(intent)

    @staticmethod
    def _loop_happy_path(context: TurnContext) -> RuleDecision:
        loop = context.active_loop_name
        if loop is None or context.loop_rejected:
            return _NOTHING
        latest = context.latest_action
        if latest and latest.get(ACTION_NAME) != loop:
            return RuleDecision(loop, LOOP_RULES + loop, is_no_user=True)
        if context.latest_action_name == loop:
            source = f"{LOOP_RULES}{loop}{LOOP_RULES_SEPARATOR}{ACTION_LISTEN_NAME}"
            return RuleDecision(ACTION_LISTEN_NAME, source, is_no_user=True)
        return _NOTHING

    def _conversation(
        self, context: TurnContext, *, use_text: bool, need_source: bool
    ) -> list[FrozenState]:
        length = max(self.rules.max_length, self.unhappy.max_length, 1)
        states = context.replay.states(last=None if need_source else length)
        if use_text and states and is_prev_action_listen(states[-1]):
            message = context.latest_message
            text = message.text if message is not None else None
            states[-1] = replace_sub_state(states[-1], USER, (("text", text),) if text else None)
        return states

    def _from_rules(
        self, context: TurnContext, *, use_text: bool, need_source: bool
    ) -> RuleDecision:
        """Rasa's ``_find_action_from_rules``."""
        if use_text and context.latest_action_name != ACTION_LISTEN_NAME:
            return _NOTHING
        frozen = self._conversation(context, use_text=use_text, need_source=need_source)
        loop = context.active_loop_name
        if need_source:  # training: the source of a miss depends on the whole conversation
            return self._match(frozen, loop, need_source=True)
        # At run time the decision depends only on the latest states and the loop, and a
        # deployed bot meets the same few of those again and again: remember them.
        cache: dict[tuple[tuple[FrozenState, ...], str | None], RuleDecision] | None
        cache = self.__dict__.get("_decisions")
        if cache is None:
            cache = self.__dict__["_decisions"] = {}
        key = (tuple(frozen), loop)
        decision = cache.get(key)
        if decision is None:
            decision = self._match(frozen, loop, need_source=False)
            if len(cache) >= MAX_CACHED_DECISIONS:
                cache.clear()
            cache[key] = decision
        return decision

    def _match(
        self, frozen: list[FrozenState], loop: str | None, *, need_source: bool
    ) -> RuleDecision:
        conversation = [thaw(s) for s in frozen]
        best = RuleIndex.best(self.rules.matching(conversation))
        predicted = best.value if best is not None else None
        returning = False
        if loop is not None:
            conditions = {rule.value for rule in self.unhappy.matching(conversation)}
            # A general rule predicted action_listen inside the loop: go back to the loop.
            if (
                best is not None
                and predicted == ACTION_LISTEN_NAME
                and not _loop_of(best.states[-1])
            ):
                if DO_NOT_PREDICT_LOOP_ACTION not in conditions:
                    return RuleDecision(loop, best.key)
                predicted = None
            returning = LOOP_WAS_INTERRUPTED in conditions
        if best is not None:
            source: str | None = best.key
        else:
            source = rule_feature_key(frozen) if need_source else None
        return RuleDecision(predicted, source, returning)

    # --- persistence ------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_decisions", None)
        state["rules"] = self.rules.lookup
        state["unhappy"] = self.unhappy.lookup
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["rules"] = RuleIndex(state["rules"])
        state["unhappy"] = RuleIndex(state["unhappy"])
        self.__dict__.update(state)


def _loop_of(state: State) -> str | None:
    name = state.get(ACTIVE_LOOP, {}).get(LOOP_NAME)
    if not name or name == SHOULD_NOT_BE_SET:
        return None
    return str(name)


def _unhappy_lookup(examples: Sequence[Example]) -> dict[str, str]:
    """Rasa's ``_create_loop_unhappy_lookup_from_states``."""
    lookup: dict[str, str] = {}
    for states, action in examples:
        loop = active_loop_of(states[-1])
        if loop is None:
            continue
        if len(states) == 1 or not sub_state(states[-2], "prev_action"):
            window: list[FrozenState] = [states[-1]]
        else:
            window = [(("prev_action", sub_state(states[-2], "prev_action")),), states[-1]]
        key = rule_feature_key(window)
        if key is None:
            continue
        after_listen = is_prev_action_listen(states[-1])
        if after_listen and action == loop:
            lookup[key] = LOOP_WAS_INTERRUPTED
        elif not after_listen and action != loop:
            lookup[key] = DO_NOT_PREDICT_LOOP_ACTION
    return lookup


def _rule_only_data(
    rule_examples: Sequence[Example], story_examples: Sequence[Example]
) -> RuleOnlyData:
    """Slots and loops mentioned by rules but by no story."""
    rule_slots, rule_loops = _slots_and_loops(rule_examples)
    story_slots, story_loops = _slots_and_loops(story_examples)
    return RuleOnlyData(
        frozenset(rule_slots - story_slots - {SHOULD_NOT_BE_SET}),
        frozenset(rule_loops - story_loops - {SHOULD_NOT_BE_SET}),
    )


def _slots_and_loops(examples: Sequence[Example]) -> tuple[set[str], set[str]]:
    slots: set[str] = set()
    loops: set[str] = set()
    for states, _ in examples:
        for state in states:
            slots.update(name for name, _ in sub_state(state, SLOTS))
            for key, value in sub_state(state, ACTIVE_LOOP):
                if key == LOOP_NAME and value:
                    loops.add(str(value))
    return slots, loops
