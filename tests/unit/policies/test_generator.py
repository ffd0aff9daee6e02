"""Training tracker generation (palaver.policies.generator)."""

from __future__ import annotations

from palaver.core.constants import ACTION_LISTEN_NAME, RULE_SNIPPET_ACTION_NAME, SHOULD_NOT_BE_SET
from palaver.core.events import ActionExecuted, ActiveLoop, Event, SlotSet, UserUttered
from palaver.data.stories import (
    ActionStep,
    ActiveLoopStep,
    CheckpointStep,
    OrStep,
    SlotStep,
    UserStep,
)
from palaver.policies.generator import TrainingTracker, generate_training_trackers
from tests.unit.policies.helpers import domain, rule, story


def _summary(events: list[Event]) -> list[str]:
    out = []
    for event in events:
        if isinstance(event, UserUttered):
            out.append(f"U:{event.intent_name}")
        elif isinstance(event, ActionExecuted):
            out.append(event.action_name or f"T:{event.action_text}")
        elif isinstance(event, SlotSet):
            out.append(f"S:{event.key}={event.value}")
        elif isinstance(event, ActiveLoop):
            out.append(f"L:{event.name}")
    return out


def _originals(trackers: list[TrainingTracker]) -> list[TrainingTracker]:
    return [t for t in trackers if not t.is_augmented]


def test_story_gets_listens_before_user_turns_and_at_the_end() -> None:
    trackers = generate_training_trackers(
        [story("s", UserStep("greet"), ActionStep("utter_greet"), SlotStep("cuisine", "x"))],
        [],
        domain(),
        augmentation_factor=0,
    )
    assert len(trackers) == 1
    assert _summary(trackers[0].events) == [
        ACTION_LISTEN_NAME,
        "U:greet",
        "utter_greet",
        "S:cuisine=x",
        ACTION_LISTEN_NAME,
    ]
    assert trackers[0].sender_id == "s" and not trackers[0].is_rule_tracker


def test_checkpoints_join_stories_and_multiple_continuations() -> None:
    stories = [
        story("start", UserStep("greet"), ActionStep("utter_greet"), CheckpointStep("greeted")),
        story("a", CheckpointStep("greeted"), UserStep("bye"), ActionStep("utter_bye")),
        story("b", CheckpointStep("greeted"), UserStep("thanks"), ActionStep("utter_thanks")),
        story("other", UserStep("ask_price"), ActionStep("utter_price"), CheckpointStep("greeted")),
    ]
    trackers = _originals(generate_training_trackers(stories, [], domain()))
    names = sorted(t.sender_id for t in trackers)
    assert names == ["other > a", "other > b", "start > a", "start > b"]
    joined = next(t for t in trackers if t.sender_id == "start > b")
    assert _summary(joined.events) == [
        ACTION_LISTEN_NAME,
        "U:greet",
        "utter_greet",
        ACTION_LISTEN_NAME,
        "U:thanks",
        "utter_thanks",
        ACTION_LISTEN_NAME,
    ]


def test_checkpoint_slot_conditions_filter_trackers() -> None:
    stories = [
        story("gold", SlotStep("tier", "gold"), UserStep("greet"), CheckpointStep("c")),
        story("silver", SlotStep("tier", "silver"), UserStep("greet"), CheckpointStep("c")),
        story("only gold", CheckpointStep("c", {"tier": "gold"}), ActionStep("utter_price")),
    ]
    trackers = _originals(generate_training_trackers(stories, [], domain()))
    assert [t.sender_id for t in trackers] == ["gold > only gold"]


def test_or_steps_expand_into_one_tracker_per_alternative() -> None:
    trackers = generate_training_trackers(
        [
            story(
                "s",
                OrStep([UserStep("affirm"), UserStep("thanks")]),
                ActionStep("utter_welcome"),
            )
        ],
        [],
        domain(),
        augmentation_factor=0,
    )
    intents = sorted(
        str(e.intent_name) for t in trackers for e in t.events if isinstance(e, UserUttered)
    )
    assert intents == ["affirm", "thanks"]


def test_rules_get_snippet_actions_conditions_and_must_not_be_set() -> None:
    rules = [
        rule(
            "in form",
            UserStep("chitchat"),
            ActionStep("utter_chitchat"),
            conditions=[ActiveLoopStep("restaurant_form"), SlotStep("cuisine", None)],
            wait_for_user_input=False,
        ),
        rule("start", UserStep("greet"), ActionStep("utter_welcome"), conversation_start=True),
    ]
    trackers = generate_training_trackers([], rules, domain())
    by_name = {t.sender_id: t for t in trackers}
    assert all(t.is_rule_tracker and not t.is_augmented for t in trackers)
    assert _summary(by_name["in form"].events) == [
        "L:restaurant_form",
        f"S:cuisine={SHOULD_NOT_BE_SET}",
        RULE_SNIPPET_ACTION_NAME,
        ACTION_LISTEN_NAME,
        "U:chitchat",
        "utter_chitchat",
        RULE_SNIPPET_ACTION_NAME,
        ACTION_LISTEN_NAME,
    ]
    # The leading snippet action is no training label.
    assert by_name["in form"].unpredictable == frozenset({2})
    assert _summary(by_name["start"].events) == [
        ACTION_LISTEN_NAME,
        "U:greet",
        "utter_welcome",
        ACTION_LISTEN_NAME,
    ]


def test_story_starting_with_an_action_marks_it_unpredictable() -> None:
    trackers = generate_training_trackers(
        [story("s", ActionStep("utter_greet"), UserStep("greet"), ActionStep("utter_welcome"))],
        [],
        domain(),
        augmentation_factor=0,
    )
    assert trackers[0].unpredictable == frozenset({0})


def test_active_loop_null_in_stories_stays_none() -> None:
    trackers = generate_training_trackers(
        [story("s", UserStep("greet"), ActionStep("restaurant_form"), ActiveLoopStep(None))],
        [],
        domain(),
        augmentation_factor=0,
    )
    assert "L:None" in _summary(trackers[0].events)


def test_augmentation_is_bounded_seeded_and_marked() -> None:
    stories = [
        story(f"s{i}", UserStep(intent), ActionStep(action))
        for i, (intent, action) in enumerate(
            [("greet", "utter_greet"), ("bye", "utter_bye"), ("thanks", "utter_thanks")] * 4
        )
    ]
    first = generate_training_trackers(stories, [], domain(), augmentation_factor=5, seed=1)
    again = generate_training_trackers(stories, [], domain(), augmentation_factor=5, seed=1)
    augmented = [t for t in first if t.is_augmented]
    assert 0 < len(augmented) <= 5 * 10
    assert [t.sender_id for t in first] == [t.sender_id for t in again]
    # An augmented tracker is stories glued together: more than one user turn.
    assert all(sum(isinstance(e, UserUttered) for e in t.events) > 1 for t in augmented)
    none = generate_training_trackers(stories, [], domain(), augmentation_factor=0)
    assert not any(t.is_augmented for t in none)


def test_duplicate_stories_are_deduplicated() -> None:
    stories = [story(n, UserStep("greet"), ActionStep("utter_greet")) for n in ("a", "b")]
    trackers = generate_training_trackers(stories, [], domain(), augmentation_factor=0)
    assert len(trackers) == 1
