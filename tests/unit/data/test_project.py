from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from palaver.core.constants import DEFAULT_ACTION_NAMES
from palaver.core.domain import Domain
from palaver.data.project import Project
from palaver.data.stories import ActionStep, SlotStep, UserStep
from palaver.errors import ProjectDataError
from palaver.nlu.training_data import EntitySpan
from tests.unit.data.util import FIXTURES, MINIMAL_DOMAIN, dedent, line_of, write_files


def _copy_fixture(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


# --- valid projects ----------------------------------------------------------------------


def test_moodbot_project() -> None:
    project = Project.load(FIXTURES / "moodbot")
    assert project.domain == Domain.load(FIXTURES / "moodbot" / "domain.yml")
    assert len(project.nlu.examples) == 68
    assert {ex.intent for ex in project.nlu.examples} == {
        "greet",
        "goodbye",
        "affirm",
        "deny",
        "mood_great",
        "mood_unhappy",
        "bot_challenge",
    }
    assert [s.name for s in project.stories] == ["happy path", "sad path 1", "sad path 2"]
    assert [r.name for r in project.rules] == [
        "Say goodbye anytime the user says goodbye",
        "Say 'I am a bot' anytime the user challenges",
    ]
    assert project.stories[0].steps == [
        UserStep("greet"),
        ActionStep(name="utter_greet"),
        UserStep("mood_great"),
        ActionStep(name="utter_happy"),
    ]
    assert len(project.test_stories) == 7
    assert project.test_stories[0].steps[0] == UserStep("greet", [], "hello there!")
    assert project.config.auto_configured == {"pipeline", "policies"}
    assert project.config.assistant_id == "placeholder_default"
    assert [p.name for p in project.data_files] == ["nlu.yml", "rules.yml", "stories.yml"]


def test_formbot_project() -> None:
    project = Project.load(FIXTURES / "formbot")
    nlu = project.nlu
    by_text = {ex.text: ex for ex in nlu.examples}
    assert by_text["fly to SF from LA"].entities == (
        EntitySpan(7, 9, "city", "San Francisco", role="destination"),
        EntitySpan(15, 17, "city", "Los Angeles", role="departure", group="1"),
    )
    assert by_text["italian please"].metadata == {"example": {"source": "handwritten"}}
    assert by_text["yes"].intent == "affirm"
    assert by_text["on"].intent == "affirm"  # YAML 1.2: "on" is text
    assert nlu.synonyms["veggie"] == "vegetarian"
    assert nlu.synonyms["mexican food"] == "mexican"
    assert [r.pattern for r in nlu.regexes] == ["\\d{1,2}", "^[0-9]+$"]
    assert nlu.lookups[0].elements == ("italian", "mexican", "chinese")

    after_form = project.stories[1]
    assert SlotStep("feedback", "filled") in after_form.steps
    assert SlotStep("outdoor_seating", None) in after_form.steps
    submit = project.rules[1]
    assert submit.wait_for_user_input is False
    assert project.rules[2].conversation_start is True
    # bot texts of stories become e2e actions at the end of the action list
    assert project.domain.action_texts == ["What a great choice!"]
    assert project.domain.action_names_or_texts[-1] == "What a great choice!"
    assert project.domain.action_names_or_texts[: len(DEFAULT_ACTION_NAMES)] == list(
        DEFAULT_ACTION_NAMES
    )
    assert project.config.pipeline[0] == {"name": "WhitespaceTokenizer"}


def test_retrieval_project() -> None:
    project = Project.load(FIXTURES / "retrieval")
    domain = project.domain
    assert domain.retrieval_intents == ["chitchat", "faq"]
    intents = domain.as_dict()["intents"]
    assert intents == [
        {"chitchat": {"use_entities": [], "is_retrieval_intent": True}},
        {"faq": {"is_retrieval_intent": True}},
        "greet",
    ]
    assert domain.as_dict()["actions"] == ["utter_chitchat", "utter_faq"]
    # responses in data files override the domain's, as in Rasa
    assert domain.responses["utter_faq/ask_name"] == [{"text": "I am a bot called Palaver."}]
    assert set(project.nlu.responses) == {
        "utter_faq/ask_name",
        "utter_faq/ask_weather",
        "utter_chitchat/ask_howdoing",
    }
    assert "utter_greet" not in project.nlu.responses
    assert project.retrieval_intents == ["chitchat", "faq"]
    assert project.config.auto_configured == {"pipeline", "policies"}
    # the completed domain survives the model archive round trip
    assert Domain.from_yaml(domain.as_yaml()) == domain


def test_split_domain_project() -> None:
    project = Project.load(FIXTURES / "split_domain")
    domain = project.domain
    assert {"greet", "goodbye", "inform"} <= set(domain.intents)
    assert domain.forms["city_form"]["required_slots"] == ["city"]
    assert domain.session_config.session_expiration_time == 0
    assert domain.action_texts == ["Tschüss!"]
    assert project.config.language == "de"
    names = [p.relative_to(FIXTURES / "split_domain").as_posix() for p in project.data_files]
    assert names == [
        "data/core/stories.yml",
        "data/core/test_weather.yml",
        "data/nlu/greet.yml",
        "data/nlu/more/inform.yaml",
    ]
    assert [s.name for s in project.stories] == ["weather", "weather test"]
    assert [s.name for s in project.test_stories] == ["weather test"]
    assert [r.name for r in project.rules] == ["goodbye"]
    assert len(project.nlu.examples) == 5


def test_explicit_paths(tmp_path: Path) -> None:
    root = _copy_fixture("split_domain", tmp_path)
    project = Project.load(
        tmp_path,
        domain=[root / "domain" / "intents.yml", root / "domain" / "forms.yaml"],
        config=root / "config.yml",
        data=[root / "data" / "nlu" / "greet.yml"],
    )
    assert [p.name for p in project.data_files] == ["greet.yml"]
    assert project.domain.responses == {}
    assert project.config.language == "de"


def test_missing_config_and_data_use_defaults(tmp_path: Path) -> None:
    write_files(tmp_path, {"domain.yml": MINIMAL_DOMAIN})
    project = Project.load(tmp_path)
    assert project.config.auto_configured == {"pipeline", "policies"}
    assert project.nlu.examples == []
    assert project.stories == [] and project.rules == [] and project.test_stories == []


def test_missing_domain(tmp_path: Path) -> None:
    with pytest.raises(ProjectDataError, match=r"no domain\.yml"):
        Project.load(tmp_path)


def test_missing_explicit_data_path(tmp_path: Path) -> None:
    write_files(tmp_path, {"domain.yml": MINIMAL_DOMAIN})
    with pytest.raises(ProjectDataError, match="data file or directory not found"):
        Project.load(tmp_path, data=tmp_path / "nope")


# --- fingerprint ---------------------------------------------------------------------------


def test_fingerprint_is_stable_and_ignores_layout(tmp_path: Path) -> None:
    root = _copy_fixture("moodbot", tmp_path)
    original = Project.load(FIXTURES / "moodbot").fingerprint()
    assert Project.load(root).fingerprint() == original
    stories = root / "data" / "stories.yml"
    stories.write_text("# a comment\n\n" + stories.read_text(), encoding="utf-8")
    (root / "tests" / "test_stories.yml").write_text("stories: []\n", encoding="utf-8")
    assert Project.load(root).fingerprint() == original


@pytest.mark.parametrize(
    ("relative", "old", "new"),
    [
        ("data/nlu.yml", "- hey dude", "- hey buddy"),
        ("data/stories.yml", "action: utter_happy", "action: utter_greet"),
        ("data/rules.yml", "intent: goodbye", "intent: greet"),
        ("domain.yml", "Bye", "Ciao"),
        ("config.yml", "language: en", "language: de"),
    ],
)
def test_fingerprint_changes_with_content(
    tmp_path: Path, relative: str, old: str, new: str
) -> None:
    root = _copy_fixture("moodbot", tmp_path)
    before = Project.load(root).fingerprint()
    path = root / relative
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    assert Project.load(root).fingerprint() != before


# --- invalid projects ------------------------------------------------------------------------

INVALID_CASES: list[tuple[str, str, str, str]] = [
    (
        "data/nlu.yml",
        """
        nlu:
        - intent: greet
          examples: |
            - hi
          - hello
        """,
        "- hello",
        "invalid YAML",
    ),
    (
        "data/stories.yml",
        """
        version: "3.1"
        stories: []
        story:
        - story: x
          steps: []
        """,
        "story:",
        "unknown top-level key 'story'",
    ),
    (
        "data/stories.yml",
        """
        stories:
        - story: x
          steps:
          - intent: greet
          - utter: utter_greet
        """,
        "utter:",
        "unknown key 'utter'",
    ),
    (
        "data/nlu.yml",
        """
        nlu:
        - intent: inform
          examples: |
            - fly to [LA]{"entity": "city", "value": Los Angeles}
        """,
        "fly to",
        "invalid entity annotation",
    ),
    (
        "domain.yml",
        """
        intents:
          - greet
        slots:
          name:
            type: strng
            mappings:
              - type: from_text
        """,
        "type: strng",
        "unknown type 'strng'",
    ),
    (
        "domain.yml",
        """
        intents:
          - greet
        forms:
          name_form:
            required_slots:
              - name
        """,
        "- name",
        "requires slot 'name'",
    ),
    (
        "data/responses.yml",
        """
        responses:
          utter_faq/x:
            - txt: hi
        """,
        "txt: hi",
        "unknown key 'txt'",
    ),
    (
        "tests/test_stories.yml",
        """
        stories:
        - story: x
          steps:
          - user: hi
            intent: greet
          - actions: utter_greet
        """,
        "actions:",
        "unknown key 'actions'",
    ),
]


@pytest.mark.parametrize(("relative", "content", "needle", "message"), INVALID_CASES)
def test_invalid_projects_name_file_and_line(
    tmp_path: Path, relative: str, content: str, needle: str, message: str
) -> None:
    files = {"domain.yml": MINIMAL_DOMAIN, relative: content}
    write_files(tmp_path, files)
    with pytest.raises(ProjectDataError) as info:
        Project.load(tmp_path)
    error = info.value
    assert message in str(error)
    assert error.filename == str(tmp_path / relative)
    assert error.line == line_of(dedent(content), needle)


def test_data_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    write_files(tmp_path, {"domain.yml": MINIMAL_DOMAIN, "data/list.yml": "- a\n- b\n"})
    with pytest.raises(ProjectDataError, match="must be a mapping") as info:
        Project.load(tmp_path)
    assert info.value.line == 1


def test_unrelated_files_in_tests_are_skipped(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "domain.yml": MINIMAL_DOMAIN,
            "tests/nlu_test.yml": "nlu:\n- intent: greet\n  examples: |\n    - hi\n",
        },
    )
    assert Project.load(tmp_path).test_stories == []


def test_newer_data_file_versions_are_skipped(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "domain.yml": MINIMAL_DOMAIN,
            "data/nlu.yml": 'version: "9.0"\nnlu:\n- intent: greet\n  examples: |\n    - hi\n',
        },
    )
    project = Project.load(tmp_path)
    assert project.nlu.examples == []
    assert project.data_files == []


# --- performance -------------------------------------------------------------------------------


def test_loading_15000_examples(tmp_path: Path) -> None:
    """A large NLU file loads completely (its speed is measured in bench/, not here)."""
    rng = random.Random(0)
    words = ["book", "a", "flight", "hotel", "weather", "in", "city", "please", "cheap", "today"]
    lines = ['version: "3.1"', "nlu:"]
    for intent in range(150):
        lines += [f"- intent: intent_{intent}", "  examples: |"]
        for index in range(100):
            text = " ".join(rng.choice(words) for _ in range(10))
            if index % 3 == 0:
                text += ' to [LA]{"entity": "city", "role": "to", "value": "Los Angeles"}'
            lines.append(f"    - {text} [Berlin](city)")
    write_files(tmp_path, {"domain.yml": MINIMAL_DOMAIN})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nlu.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    project = Project.load(tmp_path)

    assert len(project.nlu.examples) == 15_000
    roles = [e.role for ex in project.nlu.examples for e in ex.entities if e.role]
    assert len(roles) == 150 * 34


def test_yaml_without_training_data_keys_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_files(
        tmp_path,
        {"domain.yml": MINIMAL_DOMAIN, "data/flows.yml": 'version: "3.1"\nflows: {}\n'},
    )
    project = Project.load(tmp_path)
    assert project.stories == []
    assert "flows.yml has none of the training data keys" in caplog.text


def test_unquoted_version_in_data_is_read_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_files(
        tmp_path,
        {
            "domain.yml": MINIMAL_DOMAIN,
            "data/nlu.yml": "version: 3.1\nnlu:\n- intent: greet\n  examples: |\n    - hi\n",
        },
    )
    project = Project.load(tmp_path)
    assert [ex.text for ex in project.nlu.examples] == ["hi"]
    assert "should be a quoted string" in caplog.text
