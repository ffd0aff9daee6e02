"""PolicyEnsemble: trains the configured policies and picks the next action.

Choosing follows Rasa 3.6's ``DefaultPolicyPredictionEnsemble``: a loop's
happy path ("no user" prediction) beats everything; then end-to-end
predictions beat intent-based ones; then the highest confidence wins and ties
go to the higher priority (then to the policy listed first). Because the
RulePolicy scores "no rule applies" as ``core_fallback_threshold`` on the
fallback action, that fallback wins whenever no policy is more confident.
The chosen prediction carries the events of *all* predictions (e.g.
``LoopInterrupted``) plus, right after a user message,
``DefinePrevUserUtteredFeaturization``.

A model directory holds ``manifest.json`` (readable summary, format version)
and ``policies.joblib`` (the trained policies).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from palaver import __version__
from palaver.core.constants import ACTION_LISTEN_NAME
from palaver.core.events import (
    ActionExecutionRejected,
    DefinePrevUserUtteredFeaturization,
    Event,
)
from palaver.errors import ModelError
from palaver.policies.cache import DEFAULT_REPLAY_CONVERSATIONS, ReplayCache, TrackerLike
from palaver.policies.config import build_policies
from palaver.policies.generator import TrainingTracker
from palaver.policies.policy import Policy, PolicyPrediction, TurnContext
from palaver.policies.replay import RuleOnlyData
from palaver.policies.rule import RulePolicy
from palaver.policies.states import DomainLike, StateFeaturizer

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
POLICIES_FILE = "policies.joblib"


class PolicyEnsemble:
    """Trained policies plus the per-conversation state cache.

    Args:
        policies: trained policies, in config order.
        rule_only: slots/loops only rules use (hidden from ML policies).
        warnings: warnings issued while reading the config.
    """

    def __init__(
        self,
        policies: Sequence[Policy],
        rule_only: RuleOnlyData | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        self.policies = list(policies)
        self.rule_only = rule_only or RuleOnlyData()
        self.warnings = list(warnings)
        self._cache: ReplayCache | None = None
        self._domain: DomainLike | None = None
        self._replay_conversations = DEFAULT_REPLAY_CONVERSATIONS

    def keep_replays_for(self, conversations: int) -> None:
        """Keep the replays of at least this many conversations between predictions.

        A server sizes this to its tracker cache (``palaver run
        --tracker-cache-size``); with fewer, conversations beyond the replay
        cache replay their whole session for every prediction.
        """
        self._replay_conversations = max(conversations, DEFAULT_REPLAY_CONVERSATIONS)
        if self._cache is not None:
            self._cache.max_conversations = self._replay_conversations

    # --- training ---------------------------------------------------------------

    @classmethod
    def train(
        cls,
        training_trackers: Sequence[TrainingTracker],
        domain: DomainLike,
        policies_config: Sequence[Mapping[str, Any]] | None,
    ) -> PolicyEnsemble:
        """Trains the configured policies (Rasa names accepted; see ``palaver.policies.config``).

        Raises:
            ConfigError: invalid ``policies`` section.
            TrainingError: invalid or contradicting rules, unusable data.
        """
        policies, warnings = build_policies(policies_config)
        return cls.train_built(training_trackers, domain, policies, warnings)

    @classmethod
    def train_built(
        cls,
        training_trackers: Sequence[TrainingTracker],
        domain: DomainLike,
        policies: Sequence[Policy],
        warnings: Sequence[str] = (),
    ) -> PolicyEnsemble:
        """``train`` with policies already built by ``build_policies`` (config checked)."""
        featurizer = StateFeaturizer(domain)
        if any(t.is_rule_tracker for t in training_trackers) and not any(
            p.uses_rule_trackers for p in policies
        ):
            logger.warning("Found rules but no RulePolicy in the config; the rules are ignored")
        for policy in policies:
            trackers = [
                t
                for t in training_trackers
                if (policy.uses_rule_trackers if t.is_rule_tracker else policy.uses_story_trackers)
            ]
            policy.train(trackers, domain, featurizer)
        rule_only = next(
            (p.rule_only for p in policies if isinstance(p, RulePolicy)), RuleOnlyData()
        )
        return cls(policies, rule_only, warnings)

    # --- prediction -------------------------------------------------------------------

    def predict(self, tracker: TrackerLike, domain: DomainLike) -> PolicyPrediction:
        """The next action for ``tracker`` (which is not modified)."""
        replay = self._replays(domain).replay_for(tracker)
        context = TurnContext.from_tracker(tracker, replay)
        predictions = [policy.predict(context, domain) for policy in self.policies]
        rejected = _just_rejected(tracker)
        if rejected is not None:
            predictions = [_excluding(p, rejected) for p in predictions]
        best = predictions[choose_best(predictions)]
        events: list[Event] = [event for p in predictions for event in p.events]
        if context.latest_action_name == ACTION_LISTEN_NAME:
            events.append(DefinePrevUserUtteredFeaturization(best.is_end_to_end))
        return _with_events(best, events)

    def _replays(self, domain: DomainLike) -> ReplayCache:
        cache = self._cache
        if cache is not None and (
            domain is self._domain or cache.featurizer.domain_fingerprint == domain.fingerprint()
        ):
            self._domain = domain
            return cache
        cache = ReplayCache(StateFeaturizer(domain), self.rule_only, self._replay_conversations)
        self._cache = cache
        self._domain = domain
        return cache

    # --- persistence ------------------------------------------------------------------

    def persist(self, directory: Path) -> None:
        """Writes the trained ensemble into ``directory`` (created if needed)."""
        import joblib

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(
            {"policies": self.policies, "rule_only": self.rule_only, "warnings": self.warnings},
            directory / POLICIES_FILE,
        )
        manifest = {
            "format_version": FORMAT_VERSION,
            "palaver_version": __version__,
            "policies": [
                {"name": p.name, "class": type(p).__name__, "priority": p.priority}
                for p in self.policies
            ],
            "rule_only_data": {
                "slots": sorted(self.rule_only.slots),
                "loops": sorted(self.rule_only.loops),
            },
            "warnings": self.warnings,
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> PolicyEnsemble:
        """Reads an ensemble written by :meth:`persist`.

        Raises:
            ModelError: missing files or an incompatible format.
        """
        directory = Path(directory)
        try:
            manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"No readable policy manifest in '{directory}': {exc}") from exc
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelError(
                f"Policies in '{directory}' have format version {version!r}; this Palaver "
                f"reads version {FORMAT_VERSION}. Retrain the model."
            )
        import joblib

        try:
            data = joblib.load(directory / POLICIES_FILE)
        except Exception as exc:  # joblib raises many types for corrupt files
            raise ModelError(f"Policies in '{directory}' could not be loaded: {exc}") from exc
        return cls(data["policies"], data["rule_only"], data["warnings"])

    # --- fingerprint --------------------------------------------------------------------

    @staticmethod
    def fingerprint_inputs(
        policies_config: Sequence[Mapping[str, Any]] | None, augmentation_factor: int = 50
    ) -> str:
        """A hash of everything besides domain and data that changes the trained policies."""
        payload = {
            "format_version": FORMAT_VERSION,
            "palaver_version": __version__,
            "policies": list(policies_config or []),
            "augmentation_factor": augmentation_factor,
        }
        encoded = json.dumps(payload, sort_keys=True, default=repr)
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _with_events(prediction: PolicyPrediction, events: list[Event]) -> PolicyPrediction:
    """``dataclasses.replace(prediction, events=events)``, without its per-call overhead."""
    return PolicyPrediction(
        prediction.action_name,
        prediction.confidence,
        prediction.policy_name,
        events,
        prediction.is_end_to_end,
        prediction.is_no_user_prediction,
        prediction.hide_rule_turn,
        prediction.policy_priority,
        prediction.action_metadata,
        prediction.probabilities,
    )


def choose_best(predictions: Sequence[PolicyPrediction]) -> int:
    """Index of Rasa's best prediction (first one wins a complete tie)."""
    no_user_absent = not any(p.is_no_user_prediction for p in predictions)

    def score(index: int) -> tuple[bool, bool, float, int]:
        p = predictions[index]
        return (
            p.is_no_user_prediction,
            no_user_absent and p.is_end_to_end,
            p.confidence,
            p.policy_priority,
        )

    return max(range(len(predictions)), key=score)


def _just_rejected(tracker: TrackerLike) -> str | None:
    """The action rejected by the tracker's last event, if that is a rejection."""
    events = getattr(tracker, "events", None)
    if events and isinstance(events[-1], ActionExecutionRejected):
        return str(events[-1].action_name)
    return None


def _excluding(prediction: PolicyPrediction, rejected: str) -> PolicyPrediction:
    """Rasa zeroes a just-rejected action's score before the ensemble chooses.

    The policy's next best action takes its place; a policy that scored only
    the rejected action is left with confidence 0.
    """
    if prediction.action_name != rejected:
        return prediction
    scores = {a: c for a, c in (prediction.probabilities or {}).items() if a != rejected}
    if not scores:
        return dataclasses.replace(prediction, confidence=0.0)
    action, confidence = max(scores.items(), key=lambda item: item[1])
    return dataclasses.replace(
        prediction, action_name=action, confidence=confidence, probabilities=scores
    )
