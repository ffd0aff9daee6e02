"""Incremental replay of a conversation into dialogue states.

Rasa computes states by replaying ``tracker.applied_events()`` into a fresh
tracker and taking a state before every ``ActionExecuted`` (plus one at the
end), for every prediction. :class:`Replay` does the same work once per
event: it keeps the *applied* events as a stack of frames (rewinds pop
frames, a repeated loop execution collapses frames, as in
``DialogueStateTracker.applied_events``) and stores each action's state in its
frame. Reading the last ``n`` states is then O(n), however long the
conversation is.

Two state variants exist, as in Rasa:

* the plain one (``past_states``), used by rules and for training;
* the ML one (``ignore_rule_only_turns=True``): turns predicted by rules that
  do not appear in stories (``hide_rule_turn``) are hidden, and slots/loops
  that only rules use are removed. It is computed only with ``track_ml``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from palaver.core.constants import (
    ACTION_LISTEN_NAME,
    ACTION_SESSION_START_NAME,
    ACTIVE_LOOP,
    PREVIOUS_ACTION,
    SHOULD_NOT_BE_SET,
    SLOTS,
    USER,
)
from palaver.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    AllSlotsReset,
    DefinePrevUserUtteredFeaturization,
    EntitiesAdded,
    Event,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from palaver.policies.states import (
    FrozenState,
    SlotFeature,
    StateFeaturizer,
    SubState,
    action_sub_state,
    is_prev_action_listen,
    replace_sub_state,
    sub_state,
    sub_value,
)

_RESETS = (Restarted, SessionStarted)
# Events a repeated loop execution removes (Rasa keeps everything else).
_COLLAPSED = (ActionExecuted, UserUttered, DefinePrevUserUtteredFeaturization)


@dataclass(frozen=True, slots=True)
class RuleOnlyData:
    """Slots and loops that appear in rules but in no story (hidden from ML policies)."""

    slots: frozenset[str] = frozenset()
    loops: frozenset[str] = frozenset()


# Not frozen: a frozen dataclass's __init__ costs ~10x more (object.__setattr__
# per field) and this one is built several times per message. Treat it as
# immutable; unsafe_hash keeps it hashable as before.
@dataclass(slots=True, unsafe_hash=True)
class Snapshot:
    """The replayed tracker state after some event (immutable, shared between frames)."""

    slots: tuple[SlotFeature | None, ...]
    slot_mask: int = 0
    message: UserUttered | None = None
    user: SubState | None = None
    prev_action: SubState | None = None
    action_name: str | None = None
    loop: str | None = None
    loop_rejected: bool = False
    followup: str | None = ACTION_LISTEN_NAME

    @property
    def active_loop_name(self) -> str | None:
        """The active loop, ``None`` for none or ``should_not_be_set``."""
        if not self.loop or self.loop == SHOULD_NOT_BE_SET:
            return None
        return self.loop

    def but(self, **changes: Any) -> Snapshot:
        """A copy with some fields changed (faster than ``dataclasses.replace``)."""
        get = changes.get
        return Snapshot(
            get("slots", self.slots),
            get("slot_mask", self.slot_mask),
            get("message", self.message),
            get("user", self.user),
            get("prev_action", self.prev_action),
            get("action_name", self.action_name),
            get("loop", self.loop),
            get("loop_rejected", self.loop_rejected),
            get("followup", self.followup),
        )


# Not frozen: a frozen dataclass's __init__ costs ~10x more (object.__setattr__
# per field) and this one is built several times per message. Treat it as
# immutable; unsafe_hash keeps it hashable as before.
@dataclass(slots=True, unsafe_hash=True)
class _MLChain:
    """Rasa's running variables of ``states_for_tracker_history(ignore_rule_only_turns)``."""

    turn_was_hidden: bool = False
    last_ml_action: SubState | None = None
    last_ml_state: FrozenState | None = None
    emitted: FrozenState | None = None


_NO_CHAIN = _MLChain()


@dataclass(slots=True)
class _Frame:
    event: Event
    snap: Snapshot
    state: FrozenState | None = None  # action frames: the state before the action
    chain: _MLChain | None = None  # action frames, with ``track_ml``


@dataclass(slots=True)
class Replay:
    """Applied events of one conversation and the states they produce.

    Args:
        featurizer: the domain's state featurizer.
        omit_unset_slots: leave out slots never set (Rasa's rule training states).
        rule_only: what to hide from ML states; ``None`` disables ML states.
    """

    featurizer: StateFeaturizer
    omit_unset_slots: bool = False
    rule_only: RuleOnlyData | None = None
    frames: list[_Frame] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    loop_names: set[str] = field(default_factory=set)
    initial: Snapshot | None = None
    version: int = 0
    _final_ml: tuple[int, FrozenState | None] = (-1, None)
    _final_plain: tuple[int, FrozenState | None] = (-1, None)

    def __post_init__(self) -> None:
        if self.initial is None:
            self.initial = Snapshot(slots=self.featurizer.initial_slots)

    # --- reading ---------------------------------------------------------------

    @property
    def current(self) -> Snapshot:
        """The state after the latest applied event."""
        if self.frames:
            return self.frames[-1].snap
        assert self.initial is not None
        return self.initial

    def applied_events(self) -> list[Event]:
        """The applied events (Rasa's ``tracker.applied_events()``)."""
        return [frame.event for frame in self.frames]

    def action_frames(self) -> Iterable[tuple[ActionExecuted, FrozenState]]:
        """Every applied action with the state before it."""
        for index in self.actions:
            frame = self.frames[index]
            assert isinstance(frame.event, ActionExecuted) and frame.state is not None
            yield frame.event, frame.state

    def state_of(self, snap: Snapshot) -> FrozenState:
        """The (plain) state of a snapshot."""
        return self.featurizer.build_state(
            snap.user,
            snap.prev_action,
            snap.loop,
            snap.slots,
            snap.slot_mask if self.omit_unset_slots else None,
        )

    def states(self, last: int | None = None) -> list[FrozenState]:
        """Plain states: one before every applied action plus the current one.

        Args:
            last: only the latest ``last`` states (all if ``None``).
        """
        if last is not None and last <= 0:
            return []
        if last is None:
            indices: list[int] = self.actions
        elif last == 1:
            indices = []
        else:
            indices = self.actions[-(last - 1) :]
        out = [state for i in indices if (state := self.frames[i].state) is not None]
        out.append(self._current_state())
        return out

    def _current_state(self) -> FrozenState:
        """``state_of(current)``, computed once per version (several policies ask)."""
        version, state = self._final_plain
        if version != self.version or state is None:
            state = self.state_of(self.current)
            self._final_plain = (self.version, state)
        return state

    def ml_states(self, last: int | None = None) -> list[FrozenState]:
        """ML states (rule-only turns hidden); needs ``rule_only`` to be set."""
        if self.rule_only is None:
            raise ValueError("This replay does not track ML states (rule_only is None).")
        version, final = self._final_ml
        if version != self.version:
            # As in ``_push``: the plain state is the ML state's base unless unset
            # slots are omitted from plain states.
            plain = None if self.omit_unset_slots else self._current_state()
            final = self._chain_step(self._last_chain(), self.current, False, plain).emitted
            self._final_ml = (self.version, final)
        out: list[FrozenState] = [] if final is None else [final]
        for index in reversed(self.actions):
            if last is not None and len(out) >= last:
                break
            chain = self.frames[index].chain
            if chain is not None and chain.emitted is not None:
                out.append(chain.emitted)
        out.reverse()
        return out

    def copy(self) -> Replay:
        """An independent copy (frames are immutable and shared)."""
        return Replay(
            self.featurizer,
            self.omit_unset_slots,
            self.rule_only,
            list(self.frames),
            list(self.actions),
            set(self.loop_names),
            self.initial,
            self.version,
        )

    # --- feeding ---------------------------------------------------------------

    def feed_all(self, events: Iterable[Event]) -> Replay:
        """Feeds events in order; returns ``self``."""
        for event in events:
            self.feed(event)
        return self

    def feed(self, event: Event) -> None:
        """Applies one event with Rasa's applied-events semantics."""
        self.version += 1
        if isinstance(event, ActiveLoop) and event.name:
            self.loop_names.add(event.name)
        if isinstance(event, _RESETS):
            self._reset(event)
        elif isinstance(event, ActionReverted):
            self._pop_until(ActionExecuted)
        elif isinstance(event, UserUtteranceReverted):
            self._pop_until(UserUttered)
            self._pop_until(ActionExecuted)
        elif (
            isinstance(event, ActionExecuted)
            and event.action_name in self.loop_names
            and not self._first_loop_execution_or_unhappy_path(event.action_name)
        ):
            self._collapse_loop(event.action_name)
        else:
            self._push(event)

    def _reset(self, event: Event) -> None:
        self.frames.clear()
        self.actions.clear()
        assert self.initial is not None
        followup = ACTION_SESSION_START_NAME if isinstance(event, Restarted) else ACTION_LISTEN_NAME
        self.initial = Snapshot(slots=self.featurizer.initial_slots, followup=followup)

    def _pop_until(self, event_type: type[Event]) -> None:
        while self.frames:
            frame = self._pop()
            if isinstance(frame.event, event_type):
                return

    def _pop(self) -> _Frame:
        frame = self.frames.pop()
        if self.actions and self.actions[-1] == len(self.frames):
            self.actions.pop()
        return frame

    def _first_loop_execution_or_unhappy_path(self, loop_name: str) -> bool:
        next_action: str | None = None
        for frame in reversed(self.frames):
            event = frame.event
            if isinstance(event, ActiveLoop) and event.name is None:
                return True
            if isinstance(event, ActionExecutionRejected) and event.action_name == loop_name:
                return True
            if (
                isinstance(event, UserUttered)
                and next_action is not None
                and next_action != loop_name
            ):
                return True
            if isinstance(event, ActionExecuted):
                if event.action_name == loop_name:
                    return False
                next_action = event.action_name
        return True

    def _collapse_loop(self, loop_name: str) -> None:
        """Drop actions and user turns since the previous loop execution; keep the rest."""
        kept: list[Event] = []
        while self.frames:
            event = self.frames[-1].event
            if isinstance(event, ActionExecuted) and event.action_name == loop_name:
                break
            self._pop()
            if not isinstance(event, _COLLAPSED):
                kept.append(event)
        for event in reversed(kept):
            self._push(event)

    def _push(self, event: Event) -> None:
        before = self.current
        after = self._apply(before, event)
        frame = _Frame(event, after)
        if isinstance(event, ActionExecuted):
            frame.state = self.state_of(before)
            if self.rule_only is not None:
                plain = None if self.omit_unset_slots else frame.state
                frame.chain = self._chain_step(
                    self._last_chain(), before, event.hide_rule_turn, plain
                )
            self.actions.append(len(self.frames))
        self.frames.append(frame)

    # --- event effects ----------------------------------------------------------------

    def _apply(self, snap: Snapshot, event: Event) -> Snapshot:
        if isinstance(event, ActionExecuted):
            return self._apply_action(snap, event)
        if isinstance(event, UserUttered):
            user = self.featurizer.user_sub_state(event)
            # snap.but(message=event, user=user, followup=None), without the kwargs
            return Snapshot(
                snap.slots, snap.slot_mask, event, user, snap.prev_action,
                snap.action_name, snap.loop, snap.loop_rejected, None,
            )  # fmt: skip
        if isinstance(event, SlotSet):
            return self._apply_slot(snap, event)
        if isinstance(event, ActiveLoop):
            return snap.but(loop=event.name, loop_rejected=False)
        if isinstance(event, ActionExecutionRejected):
            rejected = snap.loop_rejected or (
                snap.active_loop_name is not None and event.action_name == snap.active_loop_name
            )
            return snap.but(loop_rejected=rejected)
        if isinstance(event, AllSlotsReset):
            return snap.but(slots=self.featurizer.initial_slots, slot_mask=0)
        if isinstance(event, FollowupAction):
            return snap.but(followup=event.action_name)
        if (
            isinstance(event, EntitiesAdded | DefinePrevUserUtteredFeaturization)
            and snap.message is not None
            and snap.action_name == ACTION_LISTEN_NAME
        ):
            # Both change the latest message in place (as in Rasa); re-featurize it.
            return Snapshot(
                snap.slots, snap.slot_mask, snap.message,
                self.featurizer.user_sub_state(snap.message), snap.prev_action,
                snap.action_name, snap.loop, snap.loop_rejected, snap.followup,
            )  # fmt: skip
        return snap

    @staticmethod
    def _apply_action(snap: Snapshot, event: ActionExecuted) -> Snapshot:
        name = event.action_name or event.action_text
        rejected = snap.loop_rejected
        if snap.active_loop_name is not None and event.action_name == snap.active_loop_name:
            rejected = False
        # snap.but(prev_action=..., action_name=name, loop_rejected=rejected, followup=None)
        return Snapshot(
            snap.slots, snap.slot_mask, snap.message, snap.user,
            action_sub_state(event.action_name, event.action_text), name, snap.loop,
            rejected, None,
        )  # fmt: skip

    def _apply_slot(self, snap: Snapshot, event: SlotSet) -> Snapshot:
        index = self.featurizer.slot_index.get(event.key)
        if index is None:
            return snap
        slots = list(snap.slots)
        slots[index] = self.featurizer.slot_feature(index, event.value)
        return snap.but(slots=tuple(slots), slot_mask=snap.slot_mask | 1 << index)

    # --- ML states (ignore_rule_only_turns) -------------------------------------------

    def _last_chain(self) -> _MLChain:
        if not self.actions:
            return _NO_CHAIN
        chain = self.frames[self.actions[-1]].chain
        return _NO_CHAIN if chain is None else chain

    def _chain_step(
        self, prev: _MLChain, snap: Snapshot, hide: bool, plain: FrozenState | None = None
    ) -> _MLChain:
        """One step of Rasa's ``states_for_tracker_history(ignore_rule_only_turns=True)``."""
        last_ml_action = prev.last_ml_action
        if not prev.turn_was_hidden:
            last_ml_action = snap.prev_action
        hidden = prev.turn_was_hidden
        # Followup actions and happy-path loop executions keep the hidden flag.
        if not snap.followup and snap.action_name != snap.active_loop_name:
            hidden = hide
        if hidden:
            return _MLChain(True, last_ml_action, prev.last_ml_state, None)
        state = self._ml_state(snap, prev.last_ml_state, last_ml_action, plain)
        return _MLChain(False, last_ml_action, state, state)

    def _ml_state(
        self,
        snap: Snapshot,
        last_ml_state: FrozenState | None,
        last_ml_action: SubState | None,
        plain: FrozenState | None,
    ) -> FrozenState:
        rule_only = self.rule_only
        assert rule_only is not None
        state = plain
        if state is None:
            state = self.featurizer.build_state(snap.user, snap.prev_action, snap.loop, snap.slots)
        if rule_only.slots:
            kept = tuple(item for item in sub_state(state, SLOTS) if item[0] not in rule_only.slots)
            state = replace_sub_state(state, SLOTS, kept)
        if rule_only.loops and sub_value(state, ACTIVE_LOOP, "name") in rule_only.loops:
            state = replace_sub_state(state, ACTIVE_LOOP, None)
        if last_ml_state is not None and not is_prev_action_listen(state):
            # A rule turn in between: keep the user input of the last ML state.
            state = replace_sub_state(state, USER, sub_state(last_ml_state, USER) or None)
        if last_ml_action and last_ml_action != snap.prev_action:
            state = replace_sub_state(state, PREVIOUS_ACTION, last_ml_action)
        return state
