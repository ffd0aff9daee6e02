"""Request bodies of the model routes: project documents, NLU test data, test stories."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from palaver.data.project import Project
from palaver.server.errors import ErrorResponse
from palaver.server.training_payload import (
    nlu_from_document,
    parse_document,
    stories_from_text,
    write_project,
)

PROJECT = textwrap.dedent(
    """
    version: "3.1"
    language: en
    pipeline:
    - name: WhitespaceTokenizer
    - name: CountVectorsFeaturizer
    - name: LogisticRegressionClassifier
    policies:
    - name: RulePolicy
    intents:
    - greet
    - goodbye
    responses:
      utter_greet:
      - text: "Hey!"
      utter_goodbye:
      - text: "Bye"
    session_config:
      session_expiration_time: 60
      carry_over_slots_to_new_session: true
    nlu:
    - intent: greet
      examples: |
        - hey
        - hello
    - intent: goodbye
      examples: |
        - bye
    rules:
    - rule: say goodbye
      steps:
      - intent: goodbye
      - action: utter_goodbye
    stories:
    - story: greet
      steps:
      - intent: greet
      - action: utter_greet
    force: false
    """
)


def test_project_document_becomes_a_loadable_project(tmp_path: Path) -> None:
    write_project(parse_document(PROJECT, "application/x-yaml"), tmp_path)
    project = Project.load(tmp_path)
    assert {"greet", "goodbye"} <= set(project.domain.intents)
    assert "utter_greet" in project.domain.responses
    assert project.config.policies == [{"name": "RulePolicy"}]
    assert [e.text for e in project.nlu.examples] == ["hey", "hello", "bye"]
    assert [s.name for s in project.stories] == ["greet"]
    assert [r.name for r in project.rules] == ["say goodbye"]


def test_json_documents_are_accepted(tmp_path: Path) -> None:
    document = parse_document(
        '{"intents": ["greet"], "nlu": [{"intent": "greet", "examples": "- hi\\n- hey\\n"}]}',
        "application/json",
    )
    write_project(document, tmp_path)
    assert not (tmp_path / "config.yml").exists()
    assert [e.text for e in Project.load(tmp_path).nlu.examples] == ["hi", "hey"]


@pytest.mark.parametrize(
    ("text", "media_type", "message"),
    [
        ("nlu: [", "application/x-yaml", "not contain valid YAML"),
        ("{", "application/json", "not valid JSON"),
        ("- a list", "application/x-yaml", "must be a mapping"),
    ],
)
def test_unparsable_documents(text: str, media_type: str, message: str) -> None:
    with pytest.raises(ErrorResponse, match=message) as info:
        parse_document(text, media_type)
    assert info.value.status == 400


def test_unknown_keys_and_empty_documents(tmp_path: Path) -> None:
    with pytest.raises(ErrorResponse, match=r"Unknown key.*storiez"):
        write_project({"storiez": [], "nlu": []}, tmp_path)
    with pytest.raises(ErrorResponse, match="no training data"):
        write_project({"pipeline": []}, tmp_path)


def test_nlu_test_data_from_yaml() -> None:
    document = parse_document(
        "nlu:\n- intent: inform\n  examples: |\n    - to [Berlin](city)\n", "application/x-yaml"
    )
    (example,) = nlu_from_document(document).examples
    assert (example.text, example.intent) == ("to Berlin", "inform")
    assert [(e.entity, e.start, e.end, e.value) for e in example.entities] == [
        ("city", 3, 9, "Berlin")
    ]


def test_nlu_test_data_from_rasa_json() -> None:
    document = {
        "rasa_nlu_data": {
            "common_examples": [
                {
                    "text": "to Berlin",
                    "intent": "inform",
                    "entities": [{"start": 3, "end": 9, "entity": "city", "value": "BER"}],
                }
            ]
        }
    }
    (example,) = nlu_from_document(document).examples
    assert example.entities[0].value == "BER"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"nlu": []}, "no NLU examples"),
        ({"rasa_nlu_data": []}, "must be an object"),
        ({"rasa_nlu_data": {"common_examples": [{"intent": "x"}]}}, "non-empty 'text'"),
        (
            {"rasa_nlu_data": {"common_examples": [{"text": "ab", "entities": [{"start": 0}]}]}},
            "'start' < 'end'",
        ),
        ({"nlu": "not a list"}, "Invalid NLU data"),
    ],
)
def test_invalid_nlu_test_data(document: dict[str, object], message: str) -> None:
    with pytest.raises(ErrorResponse, match=message):
        nlu_from_document(document)


def test_test_stories() -> None:
    text = textwrap.dedent(
        """
        stories:
        - story: happy
          steps:
          - user: |
              hello
            intent: greet
          - action: utter_greet
        """
    )
    (story,) = stories_from_text(text, {})
    assert story.name == "happy"
    with pytest.raises(ErrorResponse, match="no stories"):
        stories_from_text("stories: []", {})
    with pytest.raises(ErrorResponse, match="unknown key"):
        stories_from_text("nlu: []", {})
    with pytest.raises(ErrorResponse, match="Invalid test stories"):
        stories_from_text("stories:\n- story: x\n  steps:\n  - bogus: 1\n", {})
