from __future__ import annotations

import pytest

from palaver.data.stories import (
    ActionStep,
    ActiveLoopStep,
    CheckpointStep,
    OrStep,
    SlotStep,
    StoryBlock,
    UserStep,
)
from palaver.data.stories_reader import StoryReader
from palaver.data.yaml_io import read_yaml
from palaver.errors import ProjectDataError
from tests.unit.data.util import dedent, line_of

SLOT_TYPES = {"name": "text", "confirmed": "bool", "visited": "list", "size": "float"}


def _read(text: str) -> tuple[list[StoryBlock], list[StoryBlock]]:
    content = read_yaml(dedent(text), "stories.yml")
    reader = StoryReader(SLOT_TYPES)
    stories = reader.read(content.get("stories"), is_rule=False, container=content)
    rules = reader.read(content.get("rules"), is_rule=True, container=content)
    return stories, rules


def _error(text: str) -> ProjectDataError:
    with pytest.raises(ProjectDataError) as info:
        _read(text)
    assert info.value.filename == "stories.yml"
    return info.value


def test_story_steps() -> None:
    text = """
        stories:
        - story: all steps
          metadata:
            owner: qa
          steps:
          - intent: /greet
          - action: utter_greet
          - intent: inform
            entities:
            - city: Berlin
            - name
            - city: Paris
              role: destination
              group: "1"
          - slot_was_set:
            - name: Ada
            - name
            - confirmed
            - visited
          - active_loop: my_form
          - active_loop: null
          - bot: Hello there!
          - checkpoint: done
            slot_was_set:
            - size: 3
          - intent: faq/ask_name
          - metadata: ignored
        """
    (story,), rules = _read(text)
    assert rules == []
    assert story.name == "all steps"
    assert story.metadata == {"owner": "qa"}
    assert (story.filename, story.line) == ("stories.yml", 2)
    assert story.steps == [
        UserStep("greet"),
        ActionStep(name="utter_greet"),
        UserStep(
            "inform",
            [
                {"entity": "city", "value": "Berlin"},
                {"entity": "name", "value": ""},
                {"entity": "city", "value": "Paris", "role": "destination", "group": "1"},
            ],
        ),
        SlotStep("name", "Ada"),
        SlotStep("name", "filled"),
        SlotStep("confirmed", None),
        SlotStep("visited", ["filled"]),
        ActiveLoopStep("my_form"),
        ActiveLoopStep(None),
        ActionStep(action_text="Hello there!"),
        CheckpointStep("done", {"size": 3}),
        UserStep("faq", full_retrieval_intent="faq/ask_name"),
    ]
    assert story.steps[1].line == line_of(dedent(text), "utter_greet")


def test_end_to_end_user_steps() -> None:
    (story,), _ = _read(
        """
        stories:
        - story: e2e
          steps:
          - user: |
              I live in [Berlin]{"entity": "city", "role": "home"}
          - bot: nice
          - user: '/inform{"city": ["Rome", "Oslo"]}'
            intent: inform
        """
    )
    first, _, third = story.steps
    assert first == UserStep(
        None,
        [{"start": 10, "end": 16, "entity": "city", "value": "Berlin", "role": "home"}],
        "I live in Berlin",
    )
    assert isinstance(third, UserStep)
    assert third.intent == "inform"
    assert third.text == '/inform{"city": ["Rome", "Oslo"]}'
    assert [e["value"] for e in third.entities] == ["Rome", "Oslo"]
    assert third.entities[0] == {"entity": "city", "value": "Rome", "start": 7, "end": 33}


def test_or_steps() -> None:
    (story,), _ = _read(
        """
        stories:
        - story: or
          steps:
          - or:
            - intent: affirm
            - intent: thanks
              entities:
              - name: Ada
          - or:
            - slot_was_set:
              - confirmed: true
            - slot_was_set:
              - confirmed: false
        """
    )
    assert story.steps == [
        OrStep([UserStep("affirm"), UserStep("thanks", [{"entity": "name", "value": "Ada"}])]),
        OrStep([SlotStep("confirmed", True), SlotStep("confirmed", False)]),
    ]


def test_rules_with_conditions_and_flags() -> None:
    _, rules = _read(
        """
        rules:
        - rule: submit
          condition:
          - active_loop: my_form
          - slot_was_set:
            - name: Ada
          steps:
          - action: my_form
          - active_loop: null
          - bot: thanks
          wait_for_user_input: false
        - rule: start
          conversation_start: true
          steps:
          - intent: greet
          - action: utter_greet
        """
    )
    submit, start = rules
    assert submit.is_rule
    assert submit.conditions == [ActiveLoopStep("my_form"), SlotStep("name", "Ada")]
    assert (submit.wait_for_user_input, submit.conversation_start) == (False, False)
    assert (start.wait_for_user_input, start.conversation_start) == (True, True)
    assert start.conditions == []


def test_blocks_without_steps_are_skipped() -> None:
    stories, _ = _read(
        """
        stories:
        - story: empty
          steps: []
        - story: real
          steps:
          - action: a
        """
    )
    assert [s.name for s in stories] == ["real"]


def test_unknown_step_key_points_at_the_step() -> None:
    text = """
        stories:
        - story: typo
          steps:
          - intent: greet
          - actoin: utter_greet
        """
    error = _error(text)
    assert error.line == line_of(dedent(text), "actoin")
    assert "unknown key 'actoin'" in str(error)


@pytest.mark.parametrize(
    ("text", "needle", "message"),
    [
        (
            """
            stories:
            - story: mixed
              steps:
              - intent: greet
                action: utter_greet
            """,
            "action: utter_greet",
            "cannot have the key 'action'",
        ),
        (
            """
            stories:
            - story: string step
              steps:
              - utter_greet
            """,
            "- utter_greet",
            "must be a mapping",
        ),
        (
            """
            rules:
            - rule: checkpoint
              steps:
              - checkpoint: c1
            """,
            "checkpoint: c1",
            "not allowed in a rule",
        ),
        (
            """
            stories:
            - story: slots
              steps:
              - slot_was_set:
                  name: Ada
            """,
            "slot_was_set",
            "must be a list",
        ),
        (
            """
            stories:
            - stroy: x
              steps: []
            """,
            "stroy",
            "unknown key 'stroy'",
        ),
        (
            """
            stories:
            - story: only rules have them
              condition: []
              steps:
              - action: a
            """,
            "condition",
            "unknown key 'condition'",
        ),
        (
            """
            rules:
            - rule: bad flag
              wait_for_user_input: "no"
              steps:
              - action: a
            """,
            "wait_for_user_input",
            "must be true or false",
        ),
        (
            """
            stories:
            - story: bad json
              steps:
              - user: 'go to [LA]{"entity": city}'
            """,
            "go to",
            "invalid entity annotation",
        ),
        (
            """
            stories:
            - story: empty intent
              steps:
              - intent: ""
            """,
            "intent:",
            "non-empty",
        ),
        (
            """
            rules:
            - rule: condition with an action
              condition:
              - action: a
              steps:
              - action: b
            """,
            "action: a",
            "not allowed in a rule condition",
        ),
        (
            """
            stories:
            - story: or with action
              steps:
              - or:
                - action: a
            """,
            "action: a",
            "each 'or' alternative",
        ),
    ],
)
def test_malformed_blocks(text: str, needle: str, message: str) -> None:
    error = _error(text)
    assert message in str(error)
    assert error.line == line_of(dedent(text), needle)


def test_stories_must_be_a_list() -> None:
    error = _error("stories:\n  story: x\n")
    assert error.line == 1
