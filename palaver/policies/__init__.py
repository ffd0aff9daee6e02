"""Dialogue policies: Rasa-compatible rule, memoization and ML policies.

The processor needs only :class:`PolicyEnsemble` (``train`` / ``predict`` /
``persist`` / ``load``) and :class:`PolicyPrediction`; training needs
:func:`generate_training_trackers` too.
"""

from palaver.policies.ensemble import PolicyEnsemble
from palaver.policies.generator import TrainingTracker, generate_training_trackers
from palaver.policies.policy import PolicyPrediction

__all__ = [
    "PolicyEnsemble",
    "PolicyPrediction",
    "TrainingTracker",
    "generate_training_trackers",
]
