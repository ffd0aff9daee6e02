"""``get_last_event_for`` reads applied events in O(tail): same answers as a full replay."""

from __future__ import annotations

import random

import pytest

from palaver.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    BotUttered,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from palaver.core.tracker import DialogueStateTracker

LISTEN = "action_listen"


def _random_event(rng: random.Random, t: float) -> Event:
    kind = rng.choice(
        ["user", "user", "action", "action", "listen", "bot", "slot", "loop", "form", "undo",
         "rewind", "restart", "session", "noloop"]
    )  # fmt: skip
    if kind == "user":
        return UserUttered("hi", {"name": rng.choice(["greet", "deny"]), "confidence": 1.0},
                           timestamp=t)  # fmt: skip
    if kind == "action":
        return ActionExecuted(rng.choice(["utter_a", "utter_b"]), timestamp=t)
    if kind == "listen":
        return ActionExecuted(LISTEN, timestamp=t)
    if kind == "bot":
        return BotUttered("hello", timestamp=t)
    if kind == "slot":
        return SlotSet("name", "x", timestamp=t)
    if kind == "loop":
        return ActiveLoop("some_form", timestamp=t)
    if kind == "form":
        return ActionExecuted("some_form", timestamp=t)
    if kind == "noloop":
        return ActiveLoop(None, timestamp=t)
    if kind == "undo":
        return ActionReverted(timestamp=t)
    if kind == "rewind":
        return UserUtteranceReverted(timestamp=t)
    if kind == "restart":
        return Restarted(timestamp=t)
    return SessionStarted(timestamp=t)


def _replayed(tracker: DialogueStateTracker, event_type: object, excluded: list[str],
              skip: int) -> Event | None:  # fmt: skip
    for event in reversed(tracker.applied_events()):
        if not isinstance(event, event_type):  # type: ignore[arg-type]
            continue
        if isinstance(event, ActionExecuted) and event.action_name in excluded:
            continue
        if skip == 0:
            return event
        skip -= 1
    return None


@pytest.mark.parametrize("seed", range(300))
def test_tail_scan_matches_full_replay(seed: int) -> None:
    rng = random.Random(seed)
    tracker = DialogueStateTracker("s", [])
    for i in range(rng.randint(0, 40)):
        tracker.update(_random_event(rng, float(i)))
        for event_type in (UserUttered, ActionExecuted, BotUttered, (UserUttered, BotUttered)):
            for excluded in ([], [LISTEN]):
                for skip in (0, 1, 2):
                    expected = _replayed(tracker, event_type, excluded, skip)
                    got = tracker.get_last_event_for(event_type, excluded, skip)  # type: ignore[arg-type]
                    assert got is expected
