"""Stories and rules that make training ambiguous.

* Story conflicts (``rasa data validate stories``): two stories reach the same
  dialogue state history (the last ``max_history`` states) and continue with
  different actions, so no policy can learn both.
* Rule contradictions: what ``RulePolicy`` training would refuse, found by
  training just the rule policy (fast: no ML).
* Checkpoints that no story reaches, or that lead nowhere.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from palaver.core.constants import (
    ACTION_UNLIKELY_INTENT_NAME,
    INTENT,
    USER,
)
from palaver.core.domain import Domain
from palaver.data.config import ProjectConfig
from palaver.data.stories import StoryBlock
from palaver.errors import ConfigError, TrainingError
from palaver.policies.generator import STORY_START, TrainingTracker, generate_training_trackers
from palaver.policies.states import FrozenState, StateFeaturizer, prev_action_name, sub_value
from palaver.quality.issues import NOWHERE, Issue, Level, Location
from palaver.quality.usage import Usage

ERROR, WARNING = Level.ERROR, Level.WARNING
DEFAULT_MAX_HISTORY = 5
RULE_POLICY = "RulePolicy"
_NAMED_BLOCK = re.compile(r"(?:rule|story|rules)(?:\(s\))? '([^']+)'")

History = tuple[FrozenState, ...]


def max_history_of(config: ProjectConfig) -> int:
    """The largest ``max_history`` configured for a policy (Rasa's default 5 otherwise)."""
    values = [p["max_history"] for p in config.policies if isinstance(p.get("max_history"), int)]
    return max(values, default=DEFAULT_MAX_HISTORY)


class BlockFinder:
    """Story/rule blocks by name (generated trackers are named ``a > b`` at checkpoints)."""

    def __init__(self, blocks: Sequence[StoryBlock]) -> None:
        self._by_name: dict[str, StoryBlock] = {}
        for block in blocks:
            self._by_name.setdefault(block.name, block)

    def where(self, tracker_name: str) -> Location:
        block = self._by_name.get(tracker_name)
        if block is None:
            block = self._by_name.get(tracker_name.split(" > ", 1)[0])
        return (block.filename, block.line) if block is not None else NOWHERE

    def named(self, tracker_name: str) -> str:
        """The story name to show: the tracker name, without ``STORY_START`` noise."""
        return tracker_name.replace(f"{STORY_START} > ", "")


# --- story conflicts ----------------------------------------------------------------------


def story_conflicts(stories: Sequence[StoryBlock], domain: Domain, max_history: int) -> list[Issue]:
    """Same state history, different next action, in two stories."""
    blocks = [block for block in stories if not block.is_rule]
    trackers = generate_training_trackers(blocks, [], domain, augmentation_factor=0)
    featurizer = StateFeaturizer(domain)
    table: dict[History, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for tracker in trackers:
        for history, action in _predictions(tracker, featurizer, max_history):
            names = table[history][action]
            if tracker.sender_id not in names:
                names.append(tracker.sender_id)
    finder = BlockFinder(blocks)
    return [
        _conflict_issue(history, actions, finder)
        for history, actions in table.items()
        if len(actions) > 1
    ]


def _predictions(
    tracker: TrainingTracker, featurizer: StateFeaturizer, max_history: int
) -> list[tuple[History, str]]:
    unpredictable = tracker.unpredictable_events()
    frames = list(tracker.replay(featurizer).action_frames())
    states = [state for _, state in frames]
    found = []
    for position, (event, _) in enumerate(frames):
        if id(event) in unpredictable or event.action_name == ACTION_UNLIKELY_INTENT_NAME:
            continue
        history = tuple(states[max(0, position - max_history + 1) : position + 1])
        found.append((history, event.action_name or event.action_text or ""))
    return found


def _after(state: FrozenState) -> str:
    intent = sub_value(state, USER, INTENT)
    action = prev_action_name(state)
    if intent and action in (None, "action_listen"):
        return f"intent '{intent}'"
    if action:
        return f"action '{action}'"
    return "the conversation start"


def _conflict_issue(
    history: History, actions: Mapping[str, list[str]], finder: BlockFinder
) -> Issue:
    ordered = sorted(actions.items(), key=lambda item: item[1][0])
    parts = []
    for action, names in ordered:
        shown = ", ".join(f"'{finder.named(n)}'" for n in names[:3])
        more = f" (+{len(names) - 3} more)" if len(names) > 3 else ""
        parts.append(f"'{action}' in {shown}{more}")
    first = ordered[0][1][0]
    message = (
        f"story conflict after {_after(history[-1])}: "
        + "; ".join(parts)
        + " (the same history cannot lead to different actions)"
    )
    return Issue.at(ERROR, "story-conflict", message, finder.where(first))


# --- rule contradictions ------------------------------------------------------------------


def rule_contradictions(
    stories: Sequence[StoryBlock],
    rules: Sequence[StoryBlock],
    domain: Domain,
    config: ProjectConfig,
) -> list[Issue]:
    """What training the configured ``RulePolicy`` would reject."""
    from palaver.policies.config import build_policies

    entries = [p for p in config.policies if _is_rule_policy(p)]
    if not entries or not rules:
        return []
    try:
        policies, _ = build_policies(entries)
    except ConfigError as exc:
        return [Issue(ERROR, "config-invalid", str(exc))]
    trackers = generate_training_trackers(stories, rules, domain, augmentation_factor=0)
    featurizer = StateFeaturizer(domain)
    finder = BlockFinder([*stories, *rules])
    for policy in policies:
        usable = [
            t
            for t in trackers
            if (policy.uses_rule_trackers if t.is_rule_tracker else policy.uses_story_trackers)
        ]
        try:
            policy.train(usable, domain, featurizer)
        except TrainingError as exc:
            return _training_issues(str(exc), finder)
    return []


def _is_rule_policy(entry: Mapping[str, Any]) -> bool:
    return str(entry.get("name", "")).rsplit(".", 1)[-1] == RULE_POLICY


def _training_issues(message: str, finder: BlockFinder) -> list[Issue]:
    items = [line[2:] for line in message.splitlines() if line.startswith("- ")]
    if not items:
        items = [message.splitlines()[0] if message else "rule training failed"]
    issues = []
    for item in items:
        named = _NAMED_BLOCK.search(item)
        where = finder.where(named.group(1).split(", ")[0]) if named else NOWHERE
        issues.append(Issue.at(ERROR, "rule-contradiction", item.rstrip("."), where))
    return issues


# --- checkpoints ----------------------------------------------------------------------------


def checkpoint_issues(usage: Usage) -> list[Issue]:
    """Checkpoints that start a block but end none (never reached), and the reverse."""
    issues = [
        Issue.at(
            WARNING,
            "checkpoint-unreached",
            f"checkpoint '{name}' is never reached: no story or rule ends with it",
            places[0],
        )
        for name, places in sorted(usage.checkpoints_start.items())
        if name not in usage.checkpoints_end and name != STORY_START
    ]
    issues.extend(
        Issue.at(
            WARNING,
            "checkpoint-leads-nowhere",
            f"checkpoint '{name}' leads nowhere: no story or rule starts with it",
            places[0],
        )
        for name, places in sorted(usage.checkpoints_end.items())
        if name not in usage.checkpoints_start
    )
    return issues
