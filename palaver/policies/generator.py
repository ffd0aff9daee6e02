"""Training trackers from stories and rules (Rasa's ``TrainingDataGenerator``).

Story and rule blocks are cut into *segments* at checkpoints (and copied for
every ``or`` alternative); segments are glued at matching checkpoints, phase by
phase, until no new checkpoint is reached. Every user turn is preceded by
``action_listen`` and a story end gets a final ``action_listen``. Rules get
Rasa's snippet action ``...`` in front (unless ``conversation_start``) and at
the end (with ``wait_for_user_input: false``); in rules ``slot: null`` and
``active_loop: null`` mean "must not be set". Trackers with equal states are
deduplicated. Stories are then augmented: up to ``augmentation_factor`` story
ends (seeded sample) start over from the beginning, for three rounds, and at
most ``10 * augmentation_factor`` augmented trackers are kept.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from palaver.core.constants import (
    ACTION_LISTEN_NAME,
    FULL_RETRIEVAL_INTENT_NAME_KEY,
    INTENT_NAME_KEY,
    PREDICTED_CONFIDENCE_KEY,
    RULE_SNIPPET_ACTION_NAME,
    SHOULD_NOT_BE_SET,
)
from palaver.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    AllSlotsReset,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from palaver.data.stories import (
    ActionStep,
    ActiveLoopStep,
    CheckpointStep,
    OrStep,
    SlotStep,
    StoryBlock,
    StoryStep,
    UserStep,
)
from palaver.policies.replay import Replay
from palaver.policies.states import DomainLike, StateFeaturizer

logger = logging.getLogger(__name__)

STORY_START = "STORY_START"
_AUGMENTATION_ROUNDS = 3
_REVERTS = (ActionReverted, UserUtteranceReverted, Restarted)


@dataclass(slots=True)
class TrainingTracker:
    """One generated conversation.

    Attributes:
        sender_id: the names of the blocks it was made of, joined by `` > ``.
        events: its events (Rasa events; shared with other trackers, do not mutate).
        is_rule_tracker: made from rules.
        is_augmented: made by story concatenation (only ML policies use these).
        unpredictable: indices (into ``events``) of actions that are no
            training labels: the first action of a story that starts with one.
    """

    sender_id: str
    events: list[Event]
    is_rule_tracker: bool = False
    is_augmented: bool = False
    unpredictable: frozenset[int] = frozenset()

    def replay(self, featurizer: StateFeaturizer, *, omit_unset_slots: bool = False) -> Replay:
        """The tracker's applied events and states."""
        return Replay(featurizer, omit_unset_slots=omit_unset_slots).feed_all(self.events)

    def unpredictable_events(self) -> set[int]:
        """``id()`` of the unpredictable action events (for use with replays)."""
        return {id(self.events[i]) for i in self.unpredictable}


def generate_training_trackers(
    stories: Sequence[StoryBlock],
    rules: Sequence[StoryBlock],
    domain: DomainLike,
    augmentation_factor: int = 50,
    seed: int = 42,
) -> list[TrainingTracker]:
    """All training conversations of a project: story trackers, then rule trackers.

    Args:
        stories: story blocks (blocks with ``is_rule`` set are treated as rules).
        rules: rule blocks.
        domain: the domain (slots and their initial values).
        augmentation_factor: story ends reused per augmentation round (0 disables).
        seed: seed of the augmentation sampling.
    """
    blocks = [*stories, *rules]
    story_blocks = [b for b in blocks if not b.is_rule]
    rule_blocks = [b for b in blocks if b.is_rule]
    rand = random.Random(seed)
    featurizer = StateFeaturizer(domain)
    generated: list[TrainingTracker] = []
    for group, is_rule in ((story_blocks, False), (rule_blocks, True)):
        segments = [segment for block in group for segment in _segments(block)]
        generator = _Generator(segments, domain, featurizer, is_rule, augmentation_factor, rand)
        generated.extend(generator.generate())
    return generated


# --- segments -------------------------------------------------------------------------


@dataclass(slots=True)
class _Checkpoint:
    name: str
    conditions: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Segment:
    block_name: str
    start: list[_Checkpoint]
    events: list[Event] = field(default_factory=list)
    end: list[str] = field(default_factory=list)

    def copy(self) -> _Segment:
        return _Segment(self.block_name, list(self.start), list(self.events), list(self.end))

    def explicit_events(self) -> list[Event]:
        """The events with ``action_listen`` before user turns and at a story end."""
        events: list[Event] = []
        for event in self.events:
            if isinstance(event, UserUttered):
                _add_listen(events)
            events.append(event)
        if not self.end:
            _add_listen(events)
        return events


def _add_listen(events: list[Event]) -> None:
    last = events[-1] if events else None
    if not (isinstance(last, ActionExecuted) and last.action_name == ACTION_LISTEN_NAME):
        events.append(ActionExecuted(ACTION_LISTEN_NAME))


class _SegmentBuilder:
    """Rasa's ``StoryStepBuilder``: cuts one block at its checkpoints."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.done: list[_Segment] = []
        self.current: list[_Segment] = []
        self.start: list[_Checkpoint] = []

    def add_checkpoint(self, name: str, conditions: dict[str, Any]) -> None:
        if not self.current:
            self.start.append(_Checkpoint(name, dict(conditions)))
            return
        additional = []
        for segment in self.current:
            if segment.end:
                clone = segment.copy()
                clone.end = [name]
                additional.append(clone)
            else:
                segment.end = [name]
        self.current.extend(additional)

    def add_alternatives(self, events: Sequence[Event]) -> None:
        self._ensure_current()
        if len(events) == 1:
            for segment in self.current:
                segment.events.append(events[0])
            return
        updated = []
        for segment in self.current:
            for event in events:
                clone = segment.copy()
                clone.events.append(event)
                updated.append(clone)
        self.current = updated

    def finish(self) -> list[_Segment]:
        return [*self.done, *self.current]

    def _ensure_current(self) -> None:
        completed = [s for s in self.current if s.end]
        unfinished = [s for s in self.current if not s.end]
        self.done.extend(completed)
        if unfinished:
            self.current = unfinished
            return
        start = self._previous_end_checkpoints() or [_Checkpoint(STORY_START)]
        self.current = [_Segment(self.name, start)]

    def _previous_end_checkpoints(self) -> list[_Checkpoint]:
        if not self.current:
            return list(self.start)
        names = dict.fromkeys(name for s in self.current for name in s.end)
        return [_Checkpoint(name) for name in names]


def _segments(block: StoryBlock) -> list[_Segment]:
    builder = _SegmentBuilder(block.name)
    if block.is_rule:
        for step in block.conditions:
            _add_step(builder, step, is_rule=True)
        if not block.conversation_start:
            builder.add_alternatives([ActionExecuted(RULE_SNIPPET_ACTION_NAME)])
    for step in block.steps:
        _add_step(builder, step, is_rule=block.is_rule)
    if block.is_rule and not block.wait_for_user_input:
        builder.add_alternatives([ActionExecuted(RULE_SNIPPET_ACTION_NAME)])
    return builder.finish()


def _add_step(builder: _SegmentBuilder, step: StoryStep, *, is_rule: bool) -> None:
    if isinstance(step, CheckpointStep):
        builder.add_checkpoint(step.name, step.slots)
    elif isinstance(step, OrStep):
        builder.add_alternatives([_event(alt, is_rule) for alt in step.alternatives])
    else:
        builder.add_alternatives([_event(step, is_rule)])


def _event(step: UserStep | ActionStep | SlotStep | ActiveLoopStep, is_rule: bool) -> Event:
    if isinstance(step, UserStep):
        intent: dict[str, Any] = {}
        if step.intent:
            intent = {INTENT_NAME_KEY: step.intent, PREDICTED_CONFIDENCE_KEY: 1.0}
            if step.full_retrieval_intent:
                intent[FULL_RETRIEVAL_INTENT_NAME_KEY] = step.full_retrieval_intent
        return UserUttered(step.text, intent, [dict(e) for e in step.entities])
    if isinstance(step, ActionStep):
        return ActionExecuted(step.name, action_text=step.action_text)
    # Rules distinguish "not set" from "set to None": `null` means must-not-be-set.
    if isinstance(step, SlotStep):
        value = SHOULD_NOT_BE_SET if is_rule and step.value is None else step.value
        return SlotSet(step.name, value)
    name = SHOULD_NOT_BE_SET if is_rule and step.name is None else step.name
    return ActiveLoop(name)


def _mark_unpredictable(segments: Iterable[_Segment]) -> set[int]:
    """The first action of a segment at a story start, if before any user turn."""
    marked: set[int] = set()
    for segment in segments:
        if not any(cp.name == STORY_START for cp in segment.start):
            continue
        for event in segment.events:
            if isinstance(event, UserUttered):
                break
            if isinstance(event, ActionExecuted):
                marked.add(id(event))
                break
    return marked


# --- generation ---------------------------------------------------------------------------


@dataclass(slots=True)
class _GenTracker:
    name: str
    events: list[Event]
    replay: Replay
    slots: dict[str, Any]
    is_rule: bool
    is_augmented: bool = False

    def copy(self, name: str) -> _GenTracker:
        return _GenTracker(
            name,
            list(self.events),
            self.replay.copy(),
            dict(self.slots),
            self.is_rule,
            self.is_augmented,
        )

    def update(self, event: Event, initial_slots: dict[str, Any]) -> None:
        self.events.append(event)
        self.replay.feed(event)
        if isinstance(event, SlotSet):
            self.slots[event.key] = event.value
        elif isinstance(event, AllSlotsReset | Restarted | SessionStarted):
            self.slots = dict(initial_slots)
        elif isinstance(event, ActionReverted | UserUtteranceReverted):
            self.slots = dict(initial_slots)
            for applied in self.replay.applied_events():
                if isinstance(applied, SlotSet):
                    self.slots[applied.key] = applied.value

    def states_hash(self, extra: tuple[Any, ...] = ()) -> int:
        return hash((tuple(self.replay.states()), *extra))


@dataclass(slots=True)
class _LoopState:
    active: defaultdict[str, list[_GenTracker]] = field(default_factory=lambda: defaultdict(list))
    finished: list[_GenTracker] = field(default_factory=list)
    story_ends: list[_GenTracker] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    previous_unused: set[str] = field(default_factory=set)
    reached: bool = False
    phase: int = 0


class _Generator:
    """One run of Rasa's generation loop over story or rule segments."""

    def __init__(
        self,
        segments: list[_Segment],
        domain: DomainLike,
        featurizer: StateFeaturizer,
        is_rule: bool,
        augmentation_factor: int,
        rand: random.Random,
    ) -> None:
        self.segments = segments
        self.featurizer = featurizer
        self.is_rule = is_rule
        self.augmentation_factor = max(0, augmentation_factor)
        self.max_augmented = self.augmentation_factor * 10
        self.rand = rand
        self.initial_slots = {slot.name: slot.initial_value for slot in domain.slots}
        self.hashed_ends: set[int] = set()
        self.unpredictable = _mark_unpredictable(segments)

    def generate(self) -> list[TrainingTracker]:
        if not self.segments:
            return []
        finished = self._run()
        if self.augmentation_factor > 0:
            original = [t for t in finished if not t.is_augmented]
            augmented = self._subsample([t for t in finished if t.is_augmented], self.max_augmented)
            finished = original + augmented
        logger.debug("Generated %d %s trackers", len(finished), "rule" if self.is_rule else "story")
        return [self._finish(t) for t in finished]

    def _run(self) -> list[_GenTracker]:
        init = _GenTracker("", [], Replay(self.featurizer), dict(self.initial_slots), self.is_rule)
        loop = _LoopState()
        loop.active[STORY_START].append(init)
        min_rounds = _AUGMENTATION_ROUNDS if not self.is_rule and self.augmentation_factor else 0
        while not loop.reached or loop.phase < min_rounds:
            if not any(loop.active.values()):
                break
            unused: set[str] = set()
            for segment in self.segments:
                self._step(segment, loop, unused)
            loop.phase += 1
            if not loop.reached:
                self._check_reached(loop, unused)
            if loop.reached:
                loop.used = set()
                loop.active = self._augmentation_starts(loop.story_ends)
        return [*loop.finished, *loop.story_ends]

    def _step(self, segment: _Segment, loop: _LoopState, unused: set[str]) -> None:
        incoming = self._incoming(segment, loop.active, loop.used, unused)
        if not incoming:
            return
        incoming = self._unique(incoming)
        if loop.reached:
            incoming = self._subsample(incoming, self.max_augmented)
        trackers, ends = self._process(segment, incoming)
        loop.finished.extend(ends)
        for end in segment.end:
            loop.active[end].extend(trackers)
            if end in loop.used:
                unused.add(end)
        if not segment.end:
            loop.story_ends.extend(self._unique_ends(trackers))

    @staticmethod
    def _check_reached(loop: _LoopState, unused: set[str]) -> None:
        """Rasa's heuristic: all reachable checkpoints are reached when nothing changes."""
        unused |= {name for name in loop.active if name not in loop.used}
        loop.active = defaultdict(
            list, {n: loop.active.get(n, []) for n in unused if n != STORY_START}
        )
        loop.reached = unused == loop.previous_unused or not any(loop.active.values())
        loop.previous_unused = unused
        if loop.reached:
            for name in unused - loop.used:
                loop.finished.extend(loop.active[name])
            loop.phase = 0

    @staticmethod
    def _incoming(
        segment: _Segment,
        active: defaultdict[str, list[_GenTracker]],
        used: set[str],
        unused: set[str],
    ) -> list[_GenTracker]:
        incoming: list[_GenTracker] = []
        for start in segment.start:
            if active[start.name]:
                incoming.extend(_filter(active[start.name], start.conditions))
                used.add(start.name)
            elif start.name not in used:
                unused.add(start.name)
        return incoming

    def _process(
        self, segment: _Segment, incoming: list[_GenTracker]
    ) -> tuple[list[_GenTracker], list[_GenTracker]]:
        events = segment.explicit_events()
        if not events:
            return [], []
        trackers = [t.copy(_sender(t.name, segment.block_name)) for t in incoming]
        ends: list[_GenTracker] = []
        for event in events:
            for tracker in trackers:
                if isinstance(event, _REVERTS):
                    ends.append(tracker.copy(tracker.name))
                tracker.update(event, self.initial_slots)
        return trackers, ends

    def _unique(self, trackers: list[_GenTracker]) -> list[_GenTracker]:
        seen: set[int] = set()
        unique = []
        for tracker in trackers:
            hashed = tracker.states_hash()
            if hashed not in seen:
                seen.add(hashed)
                unique.append(tracker)
        return unique

    def _unique_ends(self, trackers: list[_GenTracker]) -> list[_GenTracker]:
        unique = []
        for tracker in trackers:
            hashed = tracker.states_hash((tracker.is_rule,))
            if hashed not in self.hashed_ends:
                self.hashed_ends.add(hashed)
                unique.append(tracker)
        return unique

    def _augmentation_starts(
        self, story_ends: list[_GenTracker]
    ) -> defaultdict[str, list[_GenTracker]]:
        active: defaultdict[str, list[_GenTracker]] = defaultdict(list)
        for tracker in self._subsample(story_ends, self.augmentation_factor):
            # Every story ends with action_listen and starts with one: undo the end.
            clone = tracker.copy(tracker.name)
            clone.is_augmented = True
            clone.update(ActionReverted(), self.initial_slots)
            active[STORY_START].append(clone)
        return active

    def _subsample(self, trackers: list[_GenTracker], limit: int) -> list[_GenTracker]:
        trackers = list(trackers)
        self.rand.shuffle(trackers)
        return trackers[:limit]

    def _finish(self, tracker: _GenTracker) -> TrainingTracker:
        unpredictable = frozenset(
            i for i, event in enumerate(tracker.events) if id(event) in self.unpredictable
        )
        return TrainingTracker(
            tracker.name, tracker.events, tracker.is_rule, tracker.is_augmented, unpredictable
        )


def _filter(trackers: list[_GenTracker], conditions: dict[str, Any]) -> list[_GenTracker]:
    for name, value in conditions.items():
        trackers = [t for t in trackers if t.slots.get(name) == value]
    return trackers


def _sender(current: str, block_name: str) -> str:
    if not current:
        return block_name
    if block_name and block_name not in current.split(" > "):
        return f"{current} > {block_name}"
    return current
