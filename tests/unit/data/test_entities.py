from __future__ import annotations

import pytest

from palaver.data.entities import EntityAnnotationError, parse_annotated_text, strip_annotations
from palaver.nlu.training_data import EntitySpan


def test_plain_text_has_no_entities() -> None:
    assert parse_annotated_text("hello there") == ("hello there", ())


def test_simple_and_legacy_synonym_annotations() -> None:
    text, entities = parse_annotated_text("fly from [Berlin](city) to [NYC](city:New York) now")
    assert text == "fly from Berlin to NYC now"
    assert entities == (
        EntitySpan(9, 15, "city", "Berlin"),
        EntitySpan(19, 22, "city", "New York"),
    )
    assert text[19:22] == "NYC"


def test_dict_annotation_with_role_group_and_value() -> None:
    text, entities = parse_annotated_text(
        'to [LA]{"entity": "city", "role": "to", "group": "2", "value": "Los Angeles"}!'
    )
    assert text == "to LA!"
    assert entities == (EntitySpan(3, 5, "city", "Los Angeles", role="to", group="2"),)


def test_list_of_dicts_annotates_the_same_text_several_times() -> None:
    text, entities = parse_annotated_text(
        'at [7pm][{"entity": "time"}, {"entity": "slot", "role": "start"}] ok'
    )
    assert text == "at 7pm ok"
    assert entities == (
        EntitySpan(3, 6, "time", "7pm"),
        EntitySpan(3, 6, "slot", "7pm", role="start"),
    )


def test_brackets_without_annotation_stay_text() -> None:
    assert parse_annotated_text("a [note] here") == ("a [note] here", ())


@pytest.mark.parametrize(
    ("example", "message"),
    [
        ('[LA]{"entity": "city",}', "invalid entity annotation"),
        ("[LA]{entity: city}", "invalid entity annotation"),
        ('[LA]{"value": "x"}', 'needs an "entity" name'),
        ('[LA]{"entity": "city", "role": 3}', '"role" must be a string'),
    ],
)
def test_bad_dict_annotations(example: str, message: str) -> None:
    with pytest.raises(EntityAnnotationError, match=message):
        parse_annotated_text(example)


def test_strip_annotations() -> None:
    assert strip_annotations('[a](x) and [b]{"entity": "y"}') == "a and b"
