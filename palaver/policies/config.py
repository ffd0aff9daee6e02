"""The ``policies:`` section of ``config.yml`` -> policy instances.

Rasa 3.6 names map as follows:

==============================  =============================================
``RulePolicy``                  :class:`~palaver.policies.rule.RulePolicy`
``MemoizationPolicy``           :class:`~palaver.policies.memoization.MemoizationPolicy`
``AugmentedMemoizationPolicy``  :class:`~palaver.policies.memoization.AugmentedMemoizationPolicy`
``TEDPolicy``                   substituted by :class:`~palaver.policies.ml.LinearSequencePolicy`
                                (``max_history`` and ``priority`` carry over;
                                TED's network options are ignored)
``UnexpecTEDIntentPolicy``      dropped: it only adds ``action_unlikely_intent``
                                hints from a neural intent model; without it the
                                bot behaves as Rasa with the policy never firing
==============================  =============================================

Each substitution or drop logs one warning naming the policy. Any other name
raises :class:`~palaver.errors.ConfigError` listing the valid names. An empty
section means the defaults: ``RulePolicy``, ``MemoizationPolicy`` and
``LinearSequencePolicy``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from palaver.errors import ConfigError
from palaver.policies.memoization import AugmentedMemoizationPolicy, MemoizationPolicy
from palaver.policies.ml import LinearSequencePolicy
from palaver.policies.policy import Policy
from palaver.policies.rule import RulePolicy

logger = logging.getLogger(__name__)

POLICIES: dict[str, type[Policy]] = {
    "RulePolicy": RulePolicy,
    "MemoizationPolicy": MemoizationPolicy,
    "AugmentedMemoizationPolicy": AugmentedMemoizationPolicy,
    "LinearSequencePolicy": LinearSequencePolicy,
}
SUBSTITUTED: dict[str, type[Policy]] = {"TEDPolicy": LinearSequencePolicy}
DROPPED: dict[str, str] = {
    "UnexpecTEDIntentPolicy": (
        "it only predicts 'action_unlikely_intent' from a neural intent model that Palaver "
        "does not have; the bot behaves as if it never fired"
    ),
}
DEFAULT_POLICIES: tuple[dict[str, Any], ...] = (
    {"name": "RulePolicy"},
    {"name": "MemoizationPolicy"},
    {"name": "LinearSequencePolicy", "max_history": 5},
)


def valid_names() -> list[str]:
    """Every accepted policy name."""
    return sorted({*POLICIES, *SUBSTITUTED, *DROPPED})


def build_policies(
    policies_config: Sequence[Mapping[str, Any]] | None,
) -> tuple[list[Policy], list[str]]:
    """Policies for a ``policies:`` list, and the warnings issued about it.

    Raises:
        ConfigError: an entry without a name, an unknown name, a bad option value,
            or nothing usable left.
    """
    entries = list(policies_config or DEFAULT_POLICIES)
    policies: list[Policy] = []
    warnings: list[str] = []
    for index, entry in enumerate(entries):
        policy = _build_one(index, entry, warnings)
        if policy is not None:
            policies.append(policy)
    if not policies:
        raise ConfigError(
            "No usable policy in the 'policies' section of config.yml; "
            f"valid policies: {', '.join(valid_names())}."
        )
    _warn_duplicate_priorities(policies)
    return policies, warnings


def _build_one(index: int, entry: Mapping[str, Any], warnings: list[str]) -> Policy | None:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        raise ConfigError(f"Policy #{index + 1} in config.yml has no 'name': {entry!r}.")
    name = _rasa_name(entry["name"])
    options = {k: v for k, v in entry.items() if k != "name"}
    if name in DROPPED:
        _warn(warnings, f"Policy '{name}' is not supported and was dropped: {DROPPED[name]}.")
        return None
    if name in SUBSTITUTED:
        cls = SUBSTITUTED[name]
        _warn(
            warnings,
            f"Policy '{name}' is substituted by Palaver's {cls.__name__} "
            f"(max_history and priority carry over; other options are ignored).",
        )
        known = {k: v for k, v in options.items() if k in cls.known_keys}
        return cls(known, name)
    cls_or_none = POLICIES.get(name)
    if cls_or_none is None:
        raise ConfigError(
            f"Unknown policy '{entry['name']}' in config.yml; "
            f"valid policies: {', '.join(valid_names())}."
        )
    unknown = sorted(set(options) - cls_or_none.known_keys)
    if unknown:
        logger.warning("Policy '%s': ignoring unknown options %s", name, unknown)
    return cls_or_none({k: v for k, v in options.items() if k not in unknown}, name)


def _rasa_name(name: str) -> str:
    """``rasa.core.policies.rule_policy.RulePolicy`` -> ``RulePolicy``."""
    if "." not in name:
        return name
    if name.startswith("rasa."):
        return name.rsplit(".", 1)[1]
    raise ConfigError(
        f"Custom policy '{name}' cannot be loaded: Palaver runs no Python policy code; "
        f"valid policies: {', '.join(valid_names())}."
    )


def _warn(warnings: list[str], message: str) -> None:
    logger.warning("%s", message)
    warnings.append(message)


def _warn_duplicate_priorities(policies: Sequence[Policy]) -> None:
    by_priority: dict[int, list[str]] = {}
    for policy in policies:
        by_priority.setdefault(policy.priority, []).append(policy.name)
    for priority, names in by_priority.items():
        if len(names) > 1:
            logger.warning(
                "Policies %s share priority %d; ties between them go to the first listed",
                names,
                priority,
            )
