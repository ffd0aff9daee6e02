"""Rasa's rule contradiction check (``RulePolicy._analyze_rules``).

After learning, the rule policy predicts every action of every rule and story
(as in ``rasa test``). First over the rules, to learn which rule keys produce
which actions; then over all trackers: a prediction that differs from the
action in the data, made by a rule key that rules used with a different
action, is a contradiction and fails training with the names of the
conflicting rules and stories. The keys (and the default-intent and loop
predictions) never confirmed by a story are returned: predictions made by them
are "rule-only turns", hidden from ML policies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from palaver.core.constants import ACTION_LISTEN_NAME, PREVIOUS_ACTION, RULE_SNIPPET_ACTION_NAME
from palaver.core.events import ActionExecuted, ActionExecutionRejected
from palaver.errors import TrainingError
from palaver.policies.generator import TrainingTracker
from palaver.policies.policy import TurnContext, action_label
from palaver.policies.replay import Replay
from palaver.policies.states import DomainLike, StateFeaturizer

if TYPE_CHECKING:
    from palaver.policies.rule import RulePolicy

Prediction = tuple[str | None, str | None]


class RuleAnalysis:
    """One contradiction check of a freshly trained rule policy.

    Args:
        policy: the rule policy (its rules may lose keys the check deems story turns).
        domain: the domain.
        featurizer: the domain's state featurizer.
    """

    def __init__(self, policy: RulePolicy, domain: DomainLike, featurizer: StateFeaturizer) -> None:
        self.policy = policy
        self.domain = domain
        self.featurizer = featurizer
        self.sources: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)

    def run(
        self, rule_trackers: Sequence[TrainingTracker], all_trackers: Sequence[TrainingTracker]
    ) -> frozenset[str]:
        """Checks for contradictions; returns the sources no story confirms.

        Raises:
            TrainingError: listing every contradiction.
        """
        from palaver.policies.rule import DEFAULT_ACTION_MAPPINGS, DEFAULT_RULES, LOOP_RULES

        self._run(rule_trackers, collect=True)
        errors, used = self._run(all_trackers, collect=False)
        if errors:
            text = "\n".join(errors)
            raise TrainingError(
                f"Contradicting rules or stories found:\n{text}\n"
                f"Please update your stories and rules so that they don't contradict each other."
            )
        sources = set(self.sources)
        sources.update(DEFAULT_RULES + intent for intent in DEFAULT_ACTION_MAPPINGS)
        for loop in self.domain.forms:
            sources.add(LOOP_RULES + loop)
            sources.add(f"{LOOP_RULES}{loop} - {ACTION_LISTEN_NAME}")
        return frozenset(s for s in sources if s not in used)

    def _run(
        self, trackers: Sequence[TrainingTracker], *, collect: bool
    ) -> tuple[list[str], set[str]]:
        errors: list[str] = []
        used: set[str] = set()
        for tracker in trackers:
            running = Replay(self.featurizer)
            unpredictable = tracker.unpredictable_events()
            # The first action of every tracker (and after a snippet) is unpredictable.
            skip_next = True
            for event in tracker.replay(self.featurizer).applied_events():
                if not isinstance(event, ActionExecuted):
                    running.feed(event)
                    continue
                if event.action_name == RULE_SNIPPET_ACTION_NAME:
                    skip_next = True
                elif skip_next or id(event) in unpredictable:
                    skip_next = False
                else:
                    gold = action_label(event)
                    predicted, source = self._predicted(running, tracker, gold)
                    if collect:
                        self._collect(tracker, predicted, gold, source)
                    else:
                        if not tracker.is_rule_tracker and predicted == gold and source:
                            used.add(source)
                        errors.extend(self._check(tracker, predicted, gold, source))
                running.feed(event)
        return errors, used

    def _predict(self, running: Replay, tracker: TrainingTracker) -> Prediction:
        context = TurnContext.from_replay(running)
        decision = self.policy.decide(context, need_source=True)
        if decision.action is None:
            if not tracker.is_rule_tracker:
                return None, decision.source
            return self.policy.default_prediction(self.domain), decision.source
        return decision.action, decision.source

    def _predicted(self, running: Replay, tracker: TrainingTracker, gold: str) -> Prediction:
        predicted, source = self._predict(running, tracker)
        loop = running.current.active_loop_name
        if loop is not None and predicted != gold and predicted == loop:
            # No action server here: emulate the loop rejecting, as `rasa test` does.
            running.feed(ActionExecutionRejected(loop))
            predicted, source = self._predict(running, tracker)
        return predicted, source

    def _collect(
        self, tracker: TrainingTracker, predicted: str | None, gold: str, source: str | None
    ) -> None:
        from palaver.policies.rule import DEFAULT_RULES, LOOP_RULES

        if not source:
            return
        name = tracker.sender_id
        if predicted is not None and source.startswith((DEFAULT_RULES, LOOP_RULES)):
            gold, name = predicted, source
        self.sources[source].append((name, gold))

    def _check(
        self, tracker: TrainingTracker, predicted: str | None, gold: str, source: str | None
    ) -> list[str]:
        if not predicted or not source or predicted == gold:
            return []
        if self._should_delete(source, tracker, predicted):
            self.policy.rules.remove(source)
            return []
        contradicting = sorted({name for name, action in self.sources[source] if action != gold})
        if not contradicting:
            return []
        kind = "rule" if tracker.is_rule_tracker else "story"
        message = (
            f"- the prediction of the action '{gold}' in {kind} '{tracker.sender_id}' "
            f"is contradicting with rule(s) '{', '.join(contradicting)}'"
        )
        if predicted != self.policy.fallback_action:
            message += f" which predicted action '{predicted}'"
        return [message + "."]

    def _should_delete(self, source: str, tracker: TrainingTracker, predicted: str) -> bool:
        """A story continues where a rule would listen: drop that rule turn (Rasa)."""
        if (
            tracker.is_rule_tracker
            or source.count(PREVIOUS_ACTION) > 1
            or predicted != ACTION_LISTEN_NAME
        ):
            return False
        prefix = source[:-2]
        return any(key.startswith(prefix) and key != source for key in self.policy.rules.lookup)
