"""Replaying test stories against trained example models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from palaver.core.model import LoadedModel, load_model
from palaver.data.project import Project
from palaver.data.stories import StoryBlock
from palaver.data.stories_reader import StoryReader
from palaver.data.yaml_io import read_yaml
from palaver.quality.core_test import entities_match, run_story_tests, story_trackers
from palaver.quality.failed_stories import ALL_GOOD, stories_yaml
from palaver.training import train_project

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
FIXTURES = Path(__file__).parent / "fixtures"


def _train(name: str, out: Path, root: Path = EXAMPLES) -> tuple[Project, LoadedModel]:
    result = train_project(root / name, out_dir=out, progress=lambda _: None)
    return Project.load(root / name), load_model(result.archive)


@pytest.fixture(scope="module")
def moodbot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, LoadedModel]:
    return _train("moodbot", tmp_path_factory.mktemp("moodbot"))


@pytest.fixture(scope="module")
def formbot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, LoadedModel]:
    return _train("formbot", tmp_path_factory.mktemp("formbot"))


@pytest.fixture(scope="module")
def faqbot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, LoadedModel]:
    return _train("faqbot", tmp_path_factory.mktemp("faqbot"), FIXTURES)


def _stories(text: str, project: Project) -> list[StoryBlock]:
    content = read_yaml('version: "3.1"\nstories:\n' + text, "tests/extra.yml")
    reader = StoryReader({slot.name: slot.type_name for slot in project.domain.slots})
    return reader.read(content["stories"], is_rule=False, container=content)


def _story(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["stories"] if s["name"] == name)


def test_moodbot_test_stories_pass(moodbot: tuple[Project, LoadedModel]) -> None:
    project, model = moodbot
    report = run_story_tests(model, project.test_stories)
    assert report["failed_stories"] == []
    assert report["report"]["conversation_accuracy"] == {
        "accuracy": 1.0,
        "correct": 5,
        "with_warnings": 0,
        "total": 5,
    }
    assert report["accuracy"] == 1.0
    assert report["is_end_to_end_evaluation"] is True
    assert {a["action"] for a in report["actions"]} >= {"utter_greet", "utter_happy"}
    first = report["stories"][0]
    assert first["file"].endswith("test_stories.yml") and first["line"] == 4


def test_formbot_stories_pass_with_the_form_rejecting(formbot: tuple[Project, LoadedModel]) -> None:
    project, model = formbot
    report = run_story_tests(model, project.test_stories)
    assert report["failed_stories"] == []
    # Chitchat during the form: the form is predicted first, then rejected, then utter_chitchat.
    chitchat = _story(report, "chitchat during the form")
    actions = [s for s in chitchat["steps"] if s["kind"] == "action"]
    named = [s for s in actions if s["expected"] != "action_listen"]
    assert [s["expected"] for s in named] == [
        "restaurant_form",
        "utter_chitchat",
        "restaurant_form",
    ]
    assert all(s["correct"] for s in actions)


WRONG = """\
- story: wrong action
  steps:
  - user: |
      hello
    intent: greet
  - action: utter_happy
- story: wrong intent
  steps:
  - user: |
      I am very sad
    intent: greet
  - action: utter_greet
"""


def test_a_wrong_action_and_a_wrong_intent_fail_their_stories(
    moodbot: tuple[Project, LoadedModel],
) -> None:
    project, model = moodbot
    report = run_story_tests(model, _stories(WRONG, project))
    assert sorted(report["failed_stories"]) == ["wrong action", "wrong intent"]
    action = next(s for s in _story(report, "wrong action")["steps"] if not s["correct"])
    assert (action["expected"], action["predicted"]) == ("utter_happy", "utter_greet")
    assert action["policy"] == "RulePolicy" or action["policy"].endswith("Policy")
    wrong_intent = _story(report, "wrong intent")["steps"]
    user = next(s for s in wrong_intent if s["kind"] == "user")
    assert (user["expected"], user["predicted"], user["correct"]) == (
        "greet",
        "mood_unhappy",
        False,
    )
    # The story's intent is applied, so the next action is judged on 'greet' and is right.
    assert all(s["correct"] for s in wrong_intent if s["kind"] == "action")
    failed = stories_yaml([s for s in report["stories"] if not s["passed"]])
    assert "- action: utter_happy  # predicted: utter_greet" in failed
    assert "intent: greet  # predicted: mood_unhappy" in failed
    assert stories_yaml([]) == ALL_GOOD


RESPONSE_NAMED = """\
- story: the response is named
  steps:
  - user: |
      what is your name
    intent: faq/ask_name
  - action: utter_faq/ask_name
  - action: action_listen
  - user: |
      bye
    intent: goodbye
  - action: utter_goodbye
- story: the wrong response is named
  steps:
  - user: |
      what is your name
    intent: faq/ask_name
  - action: utter_faq/ask_license
"""


def test_a_retrieval_action_can_name_its_response(faqbot: tuple[Project, LoadedModel]) -> None:
    # As in `rasa test`: `action: utter_faq/ask_name` is matched against `utter_faq` with the
    # response selector's choice, and the conversation goes on as the server logs it.
    project, model = faqbot
    report = run_story_tests(model, _stories(RESPONSE_NAMED, project))
    assert report["failed_stories"] == ["the wrong response is named"]
    named = [s for s in _story(report, "the response is named")["steps"] if s["kind"] == "action"]
    assert all(s["correct"] for s in named)
    assert [(s["expected"], s["predicted"]) for s in named if s["expected"] != "action_listen"] == [
        ("utter_faq/ask_name", "utter_faq/ask_name"),
        ("utter_goodbye", "utter_goodbye"),
    ]
    wrong = next(
        s for s in _story(report, "the wrong response is named")["steps"] if not s["correct"]
    )
    assert (wrong["expected"], wrong["predicted"]) == (
        "utter_faq/ask_license",
        "utter_faq/ask_name",
    )


TWINS = """\
- story: hello one way
  steps:
  - user: |
      hello
    intent: greet
  - action: utter_greet
- story: hello another way
  steps:
  - user: |
      I am sad
    intent: greet
  - action: utter_greet
"""


def test_stories_with_the_same_intents_are_all_tested(
    moodbot: tuple[Project, LoadedModel],
) -> None:
    project, model = moodbot
    blocks = _stories(TWINS, project)
    assert len(story_trackers(blocks, model.domain)) == 2
    report = run_story_tests(model, blocks)
    assert report["failed_stories"] == ["hello another way"]


def test_rules_in_test_files_are_not_replayed(moodbot: tuple[Project, LoadedModel]) -> None:
    project, model = moodbot
    report = run_story_tests(model, [*project.rules, *_stories(TWINS, project)[:1]])
    assert [s["name"] for s in report["stories"]] == ["hello one way"]


def test_without_e2e_user_texts_are_not_checked(moodbot: tuple[Project, LoadedModel]) -> None:
    project, model = moodbot
    report = run_story_tests(model, _stories(TWINS, project), e2e=False)
    assert report["failed_stories"] == []
    assert report["is_end_to_end_evaluation"] is False


@pytest.mark.parametrize(
    ("expected", "found", "match"),
    [
        ([], [], True),
        (
            [{"entity": "city", "value": "Berlin", "start": 3, "end": 9}],
            [{"entity": "city", "value": "Berlin", "start": 3, "end": 9, "extractor": "CRF"}],
            True,
        ),
        (
            [{"entity": "city", "value": "Berlin", "start": 3, "end": 9}],
            [{"entity": "city", "value": "Berlin", "start": 4, "end": 9}],
            False,
        ),
        (
            [{"entity": "city", "value": "Berlin"}],
            [{"entity": "city", "value": "Berlin", "start": 4, "end": 10}],
            True,
        ),
        (
            [{"entity": "city", "value": "Berlin", "role": "to"}],
            [{"entity": "city", "value": "Berlin"}],
            False,
        ),
        ([{"entity": "number", "value": "2"}], [{"entity": "number", "value": 2}], True),
        ([], [{"entity": "city", "value": "x"}], False),
    ],
)
def test_entities_match(
    expected: list[dict[str, Any]], found: list[dict[str, Any]], match: bool
) -> None:
    assert entities_match(expected, found) is match
