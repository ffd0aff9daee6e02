from __future__ import annotations

import pytest

from palaver.data.nlu_reader import read_nlu, retrieval_intents
from palaver.data.yaml_io import read_yaml
from palaver.errors import ProjectDataError
from palaver.nlu.training_data import EntitySpan, LookupTable, NLUTrainingData, RegexFeature
from tests.unit.data.util import dedent, line_of


def _read(text: str) -> NLUTrainingData:
    content = read_yaml(dedent(text), "nlu.yml")
    return read_nlu(content["nlu"], content)


def _error(text: str) -> ProjectDataError:
    with pytest.raises(ProjectDataError) as info:
        _read(text)
    assert info.value.filename == "nlu.yml"
    return info.value


def test_block_examples_with_annotations_and_synonyms() -> None:
    data = _read(
        """
        nlu:
        - intent: inform
          examples: |
            - [Berlin](city)
            - I need a table for [two](number:2)
            -   spaced out
            not an example line
        """
    )
    assert [(ex.text, ex.intent) for ex in data.examples] == [
        ("Berlin", "inform"),
        ("I need a table for two", "inform"),
        ("spaced out", "inform"),
    ]
    assert data.examples[1].entities == (EntitySpan(19, 22, "number", "2"),)
    assert data.synonyms == {"two": "2"}


def test_list_examples_and_metadata() -> None:
    data = _read(
        """
        nlu:
        - intent: greet
          metadata:
            sentiment: neutral
          examples:
          - text: hi
            metadata:
              source: web
          - hello
        - intent: bye
          examples: |
            - bye
        """
    )
    first, second, third = data.examples
    assert first.metadata == {"intent": {"sentiment": "neutral"}, "example": {"source": "web"}}
    assert second.metadata == {"intent": {"sentiment": "neutral"}}
    assert third.metadata is None


def test_synonym_regex_lookup_blocks() -> None:
    data = _read(
        """
        nlu:
        - synonym: New York
          examples: |
            - NYC
            - big apple
        - regex: zipcode
          examples: |
            - \\d{5}
        - lookup: city
          examples: |
            - Berlin
            - Paris
        """
    )
    assert data.synonyms == {"nyc": "New York", "big apple": "New York"}
    assert data.regexes == [RegexFeature("zipcode", "\\d{5}")]
    assert data.lookups == [LookupTable("city", ("Berlin", "Paris"))]
    assert data.examples == []


def test_retrieval_intents() -> None:
    data = _read(
        """
        nlu:
        - intent: faq/ask_name
          examples: |
            - who are you
        - intent: faq/ask_age
          examples: |
            - how old are you
        - intent: greet
          examples: |
            - hi
        """
    )
    assert data.examples[0].intent == "faq/ask_name"
    assert retrieval_intents(data) == ["faq"]


def test_bad_entity_json_points_at_the_example_line() -> None:
    text = """
        nlu:
        - intent: inform
          examples: |
            - fine
            - to [LA]{"entity": "city",} please
        """
    error = _error(text)
    assert error.line == line_of(dedent(text), "to [LA]")
    assert "invalid entity annotation" in str(error)


def test_bad_entity_json_in_list_example() -> None:
    text = """
        nlu:
        - intent: inform
          examples:
          - text: 'to [LA]{"entity": 1}'
        """
    assert _error(text).line == line_of(dedent(text), "to [LA]")


def test_unknown_item_key() -> None:
    text = """
        nlu:
        - intent: greet
          exmples: |
            - hi
        """
    error = _error(text)
    assert error.line == line_of(dedent(text), "exmples")
    assert "unknown key 'exmples'" in str(error)


def test_item_without_type() -> None:
    text = """
        nlu:
        - intnt: greet
          examples: |
            - hi
        """
    assert _error(text).line == line_of(dedent(text), "intnt")


def test_two_item_types() -> None:
    text = """
        nlu:
        - intent: greet
          synonym: hello
        """
    assert "no single item type" in str(_error(text))


def test_invalid_regex_points_at_its_line() -> None:
    text = """
        nlu:
        - regex: broken
          examples: |
            - ok
            - (unclosed
        """
    assert _error(text).line == line_of(dedent(text), "(unclosed")


def test_examples_of_wrong_type() -> None:
    text = """
        nlu:
        - intent: greet
          examples: 3
        """
    assert _error(text).line == line_of(dedent(text), "examples")


def test_metadata_only_allowed_for_intents() -> None:
    text = """
        nlu:
        - synonym: x
          metadata: {}
          examples: |
            - y
        """
    assert _error(text).line == line_of(dedent(text), "metadata")


def test_nlu_must_be_a_list() -> None:
    text = """
        nlu:
          intent: greet
        """
    assert _error(text).line == 1
