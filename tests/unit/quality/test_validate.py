"""``palaver data validate``: every kind of mistake is found, with its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from palaver.quality.issues import Issue, Level
from palaver.quality.validate import ValidationResult, validate_project
from tests.unit.quality.helpers import BASE, changed, write_project

ROOT = Path(__file__).resolve().parents[3]


def _validate(tmp_path: Path, files: dict[str, str], **kwargs: object) -> ValidationResult:
    return validate_project(write_project(tmp_path, files), **kwargs)  # type: ignore[arg-type]


def _codes(result: ValidationResult) -> set[str]:
    return {issue.code for issue in result.issues}


def _one(result: ValidationResult, code: str) -> Issue:
    found = [issue for issue in result.issues if issue.code == code]
    assert found, f"no {code} in {[i.format() for i in result.issues]}"
    return found[0]


def test_the_base_project_is_clean(tmp_path: Path) -> None:
    result = _validate(tmp_path, BASE)
    assert result.issues == []
    assert result.exit_code() == 0
    assert result.counts["nlu examples"] == 8


@pytest.mark.parametrize("bot", ["moodbot", "formbot"])
def test_example_bots_have_no_errors(bot: str) -> None:
    result = validate_project(ROOT / "examples" / bot)
    assert result.errors == []


def test_an_example_in_two_intents_fails_only_with_fail_on_warnings(tmp_path: Path) -> None:
    # As `rasa data validate`: a warning (Rasa's responseselectorbot has one), exit 0 by default.
    result = _validate(
        tmp_path, changed({"data/nlu.yml": ("    - see you\n", "    - see you\n    - hi\n")})
    )
    assert _one(result, "duplicate-example").level is Level.WARNING
    assert result.exit_code() == 0
    assert result.exit_code(fail_on_warnings=True) == 1


# (edits, expected code, expected level, file, line)
MISTAKES = [
    pytest.param(
        {"data/nlu.yml": ("- intent: greet", "- intent: welcome")},
        "nlu-intent-not-in-domain",
        Level.ERROR,
        "data/nlu.yml",
        3,
        id="nlu intent not in domain",
    ),
    pytest.param(
        {"data/nlu.yml": ("    - see you\n", "    - see you\n    - hi\n")},
        "duplicate-example",
        Level.WARNING,
        "data/nlu.yml",
        11,
        id="same example in two intents",
    ),
    pytest.param(
        {"data/nlu.yml": ("    - hello\n", "    - hello\n    - Hello \n")},
        "repeated-example",
        Level.WARNING,
        "data/nlu.yml",
        7,
        id="same example twice in one intent",
    ),
    pytest.param(
        {"data/nlu.yml": ("[small](size)", "[small](crust)")},
        "nlu-entity-not-in-domain",
        Level.ERROR,
        "data/nlu.yml",
        13,
        id="nlu entity not in domain",
    ),
    pytest.param(
        {"domain.yml": ("  - request_pizza\n", "  - request_pizza\n  - thank\n")},
        "intent-without-examples",
        Level.WARNING,
        "domain.yml",
        7,
        id="intent without examples",
    ),
    pytest.param(
        {"data/stories.yml": ("  - intent: greet\n", "  - intent: wave\n")},
        "intent-not-in-domain",
        Level.ERROR,
        "data/stories.yml",
        5,
        id="story intent not in domain",
    ),
    pytest.param(
        {"data/stories.yml": ("  - action: utter_greet\n", "  - action: action_wave\n")},
        "action-not-in-domain",
        Level.ERROR,
        "data/stories.yml",
        6,
        id="story action not in domain",
    ),
    pytest.param(
        {"data/stories.yml": ("  - action: utter_greet\n", "  - action: utter_wave\n")},
        "response-missing",
        Level.ERROR,
        "data/stories.yml",
        6,
        id="utter action without response",
    ),
    pytest.param(
        {"tests/test_stories.yml": ("    intent: greet\n", "    intent: hello_there\n")},
        "intent-not-in-domain",
        Level.WARNING,
        "tests/test_stories.yml",
        5,
        id="test story intent not in domain (a warning: tests train nothing)",
    ),
    pytest.param(
        {
            "data/stories.yml": (
                "  - active_loop: pizza_form\n",
                "  - active_loop: pizza_form\n  - slot_was_set:\n    - size: huge\n",
            )
        },
        "invalid-slot-value",
        Level.ERROR,
        "data/stories.yml",
        11,
        id="categorical value not allowed",
    ),
    pytest.param(
        {
            "data/stories.yml": (
                "  - active_loop: pizza_form\n",
                "  - active_loop: pizza_form\n  - slot_was_set:\n    - crust: thin\n",
            )
        },
        "slot-not-in-domain",
        Level.ERROR,
        "data/stories.yml",
        11,
        id="story slot not in domain",
    ),
    pytest.param(
        {"domain.yml": ("        entity: size\n", "        entity: pizza_size\n")},
        "slot-mapping-invalid",
        Level.ERROR,
        "domain.yml",
        10,
        id="slot mapping reads unknown entity",
    ),
    pytest.param(
        {
            "domain.yml": (
                "        entity: size\n",
                "        entity: size\n        intent: [nope]\n",
            )
        },
        "slot-mapping-unknown-intent",
        Level.WARNING,
        "domain.yml",
        10,
        id="slot mapping names an unknown intent (Rasa accepts it)",
    ),
    pytest.param(
        {"domain.yml": ('  utter_ask_size:\n    - text: "Which size?"\n', "")},
        "form-slot-no-question",
        Level.ERROR,
        "domain.yml",
        17,
        id="form cannot ask",
    ),
    pytest.param(
        {
            "domain.yml": (
                "        entity: size\n",
                "        entity: size\n        conditions:\n          - active_loop: other\n",
            )
        },
        "form-slot-unfillable",
        Level.ERROR,
        "domain.yml",
        19,
        id="form cannot fill its slot",
    ),
    pytest.param(
        {
            "domain.yml": (
                "      - size\nresponses:",
                "      - size\n  lonely_form:\n    required_slots:\n      - size\nresponses:",
            )
        },
        "form-never-activated",
        Level.WARNING,
        "domain.yml",
        20,
        id="unreachable form",
    ),
    pytest.param(
        {"domain.yml": ("  utter_done:", "  utter_unused:\n    - text: x\n  utter_done:")},
        "response-not-used",
        Level.WARNING,
        "domain.yml",
        27,
        id="unused response",
    ),
    pytest.param(
        {"domain.yml": ("{size} pizza", "{size} pizza for {name}")},
        "response-unknown-placeholder",
        Level.WARNING,
        "domain.yml",
        27,
        id="placeholder names no slot",
    ),
    pytest.param(
        {"domain.yml": ("entities:\n", "actions:\n  - action_order\nentities:\n")},
        "action-not-used",
        Level.WARNING,
        "domain.yml",
        8,
        id="unused custom action",
    ),
    pytest.param(
        {
            "data/stories.yml": (
                "  - intent: greet\n",
                "  - checkpoint: nowhere\n  - intent: greet\n",
            )
        },
        "checkpoint-unreached",
        Level.WARNING,
        "data/stories.yml",
        5,
        id="checkpoint never reached",
    ),
]


@pytest.mark.parametrize(("edits", "code", "level", "file", "line"), MISTAKES)
def test_each_mistake_is_found_where_it_is(
    tmp_path: Path,
    edits: dict[str, tuple[str, str]],
    code: str,
    level: Level,
    file: str,
    line: int,
) -> None:
    result = _validate(tmp_path, changed(edits))
    issue = _one(result, code)
    assert issue.level is level
    assert issue.where(tmp_path) == f"{file}:{line}"
    assert "\n" not in issue.message
    assert result.exit_code(fail_on_warnings=True) == 1
    assert result.exit_code() == (1 if level is Level.ERROR else 0)


def test_story_conflict_names_both_stories(tmp_path: Path) -> None:
    conflicting = """\
- story: order, then bye
  steps:
  - intent: greet
  - action: utter_goodbye
"""
    result = _validate(
        tmp_path, changed({}, {"data/more.yml": 'version: "3.1"\nstories:\n' + conflicting})
    )
    issue = _one(result, "story-conflict")
    assert issue.level is Level.ERROR
    assert "after intent 'greet'" in issue.message
    assert "'utter_greet' in 'order'" in issue.message
    assert "'utter_goodbye' in 'order, then bye'" in issue.message
    assert issue.where(tmp_path) in ("data/stories.yml:3", "data/more.yml:3")


def test_conflicts_depend_on_max_history(tmp_path: Path) -> None:
    # Both stories greet, then differ two turns later after the same last turn.
    stories = """\
version: "3.1"
stories:
- story: long a
  steps:
  - intent: greet
  - action: utter_greet
  - intent: inform
  - action: utter_greet
  - intent: goodbye
  - action: utter_goodbye
- story: long b
  steps:
  - intent: request_pizza
  - action: utter_greet
  - intent: inform
  - action: utter_greet
  - intent: goodbye
  - action: utter_greet
"""
    files = changed({}, {"data/stories.yml": stories})
    assert "story-conflict" in _codes(_validate(tmp_path, files, max_history=2))
    assert "story-conflict" not in _codes(_validate(tmp_path, files, max_history=5))


def test_rule_contradicting_a_story(tmp_path: Path) -> None:
    story = """\
version: "3.1"
stories:
- story: greet with bye
  steps:
  - intent: greet
  - action: utter_goodbye
"""
    result = _validate(tmp_path, changed({}, {"data/stories.yml": story}))
    issue = _one(result, "rule-contradiction")
    assert "greet with bye" in issue.message
    assert issue.where(tmp_path) == "data/stories.yml:3"


def test_retrieval_intent_without_response(tmp_path: Path) -> None:
    nlu = 'version: "3.1"\nnlu:\n- intent: faq/ask_name\n  examples: |\n    - who are you\n'
    result = _validate(tmp_path, changed({}, {"data/faq.yml": nlu}))
    issue = _one(result, "retrieval-intent-without-response")
    assert issue.where(tmp_path) == "data/faq.yml:3"


def test_two_stage_fallback_rule_is_not_an_undeclared_form(tmp_path: Path) -> None:
    # Rasa's rules example activates the built-in two-stage fallback as a loop.
    rule = """\
version: "3.1"
rules:
- rule: two-stage fallback
  steps:
  - intent: nlu_fallback
  - action: action_two_stage_fallback
  - active_loop: action_two_stage_fallback
"""
    result = _validate(tmp_path, changed({}, {"data/fallback.yml": rule}))
    assert result.errors == []
    wrong = changed(
        {}, {"data/fallback.yml": rule.replace("active_loop: action_two", "active_loop: two")}
    )
    assert _one(_validate(tmp_path, wrong), "form-not-in-domain").level is Level.ERROR


def test_a_project_that_does_not_load_is_one_error(tmp_path: Path) -> None:
    files = changed({"domain.yml": ("intents:\n", "intents:\n  bad: [\n")})
    result = _validate(tmp_path, files)
    assert [i.code for i in result.issues] == ["invalid-project"]
    assert result.issues[0].file is not None and result.issues[0].file.endswith("domain.yml")
    assert result.exit_code() == 1


def test_issues_are_sorted_errors_first(tmp_path: Path) -> None:
    files = changed(
        {
            "domain.yml": ("  utter_done:", "  utter_unused:\n    - text: x\n  utter_done:"),
            "data/stories.yml": ("  - intent: greet\n", "  - intent: wave\n"),
        }
    )
    levels = [issue.level for issue in _validate(tmp_path, files).issues]
    assert levels == sorted(levels, key=lambda level: level is Level.WARNING)
    assert levels[0] is Level.ERROR and levels[-1] is Level.WARNING


def test_issue_format_is_compiler_style(tmp_path: Path) -> None:
    issue = Issue(Level.ERROR, "x-y", "broken", str(tmp_path / "data" / "a.yml"), 4)
    assert issue.format(tmp_path) == "data/a.yml:4: error: broken [x-y]"
    assert Issue(Level.WARNING, "z", "hmm").format() == "warning: hmm [z]"


def test_github_annotation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    issue = Issue(Level.WARNING, "z", "50% done", str(tmp_path / "data" / "a,b.yml"), 7)
    assert issue.github() == "::warning file=data/a%2Cb.yml,line=7::50%25 done [z]"
    assert Issue(Level.ERROR, "x", "no file").github() == "::error::no file [x]"


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("  - name: RulePolicy\n", "  - name: RulePolicy\n  - name: FlowPolicy\n"), "FlowPolicy"),
        (("  - name: DIETClassifier\n", "  - name: LLMCommandGenerator\n"), "LLMCommandGenerator"),
    ],
    ids=["unknown policy", "unknown component"],
)
def test_config_that_training_refuses_is_an_error(
    tmp_path: Path, edit: tuple[str, str], needle: str
) -> None:
    result = _validate(tmp_path, changed({"config.yml": edit}))
    issue = _one(result, "config-invalid")
    assert issue.level is Level.ERROR
    assert needle in issue.message
