"""Slots: featurization, definitions, persistence, coercion."""

from __future__ import annotations

from typing import Any

import pytest

from palaver.core.slots import (
    AnySlot,
    BooleanSlot,
    CategoricalSlot,
    FloatSlot,
    ListSlot,
    Slot,
    TextSlot,
    bool_from_any,
    knowledge_base_slots,
    requested_slot,
    session_start_metadata_slot,
    slot_from_definition,
)
from palaver.errors import ProjectDataError

ENTITY_MAPPING = [{"type": "from_entity", "entity": "city"}]


@pytest.mark.parametrize(
    ("value", "expected"), [(None, [0.0]), ("Berlin", [1.0]), ("", [1.0]), (0, [1.0])]
)
def test_text_features(value: Any, expected: list[float]) -> None:
    slot = TextSlot("city", ENTITY_MAPPING)
    slot.value = value
    assert slot.as_feature() == expected
    assert slot.feature_dimensionality() == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, [0.0, 0.0]),
        (True, [1.0, 1.0]),
        (False, [1.0, 0.0]),
        ("true", [1.0, 1.0]),
        (" False ", [1.0, 0.0]),
        ("1", [1.0, 1.0]),
        (0, [1.0, 0.0]),
        (1.0, [1.0, 1.0]),
        ("maybe", [0.0, 0.0]),
        ([True], [0.0, 0.0]),
    ],
)
def test_bool_features(value: Any, expected: list[float]) -> None:
    slot = BooleanSlot("flag")
    slot.value = value
    assert slot.as_feature() == expected
    assert slot.feature_dimensionality() == 2


def test_bool_coercion() -> None:
    slot = BooleanSlot("flag")
    assert slot.coerce_value("TRUE") is True
    assert slot.coerce_value("false") is False
    assert slot.coerce_value("maybe") == "maybe"
    assert slot.is_valid_value("true")
    assert slot.is_valid_value(None)
    assert not slot.is_valid_value("maybe")
    assert bool_from_any(1) is True
    with pytest.raises(TypeError):
        bool_from_any(None)
    with pytest.raises(ValueError, match="maybe"):
        bool_from_any("maybe")


def test_bool_value_is_stored_as_given() -> None:
    # Rasa 3.6 keeps the raw value in the tracker; only featurization interprets it.
    slot = BooleanSlot("flag")
    slot.value = "true"
    assert slot.value == "true"


def test_categorical_one_hot_and_other() -> None:
    slot = slot_from_definition(
        "size", {"type": "categorical", "values": ["Small", "medium", 3, None], "mappings": []}
    )
    assert isinstance(slot, CategoricalSlot)
    assert slot.values == ["small", "medium", "3", "__other__"]
    assert slot.feature_dimensionality() == 4
    assert slot.as_feature() == [0.0, 0.0, 0.0, 0.0]
    slot.value = "SMALL"
    assert slot.as_feature() == [1.0, 0.0, 0.0, 0.0]
    slot.value = 3
    assert slot.as_feature() == [0.0, 0.0, 1.0, 0.0]
    slot.value = "huge"
    assert slot.as_feature() == [0.0, 0.0, 0.0, 1.0]
    assert slot.persistence_info()["values"] == ["small", "medium", "3"]


def test_categorical_without_other_ignores_unknown_values() -> None:
    slot = CategoricalSlot("size", [], ["a", "b"])
    slot.value = "c"
    assert slot.as_feature() == [0.0, 0.0]
    slot.add_default_value()
    slot.add_default_value()
    assert slot.values == ["a", "b", "__other__"]


def test_categorical_coercion() -> None:
    slot = CategoricalSlot("size", [], ["small", "medium"])
    assert slot.coerce_value("Small") == "small"
    assert slot.coerce_value("huge") == "huge"
    assert slot.is_valid_value("MEDIUM")
    assert not slot.is_valid_value("huge")
    assert slot.is_valid_value(None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, [0.0, 0.0]),
        (5, [1.0, 0.5]),
        ("2.5", [1.0, 0.25]),
        (-3, [1.0, 0.0]),
        (42, [1.0, 1.0]),
        ("many", [0.0, 0.0]),
    ],
)
def test_float_features_are_scaled_and_clamped(value: Any, expected: list[float]) -> None:
    slot = slot_from_definition("n", {"type": "float", "min_value": 0, "max_value": 10})
    slot.value = value
    assert slot.as_feature() == expected
    assert slot.feature_dimensionality() == 2


def test_float_definition_and_coercion() -> None:
    slot = slot_from_definition("n", {"type": "float", "initial_value": 0.5})
    assert isinstance(slot, FloatSlot)
    assert (slot.min_value, slot.max_value, slot.value) == (0.0, 1.0, 0.5)
    assert slot.coerce_value("3") == 3.0
    assert slot.coerce_value("x") == "x"
    assert slot.is_valid_value(2)
    assert not slot.is_valid_value("x")
    with pytest.raises(ProjectDataError, match="min_value"):
        FloatSlot("n", min_value=5, max_value=5)
    with pytest.raises(ProjectDataError, match="'max_value' must be a number"):
        slot_from_definition("n", {"type": "float", "max_value": "big"})


@pytest.mark.parametrize(
    ("value", "stored", "expected"),
    [
        (None, None, [0.0]),
        ([], [], [0.0]),
        (["a"], ["a"], [1.0]),
        ("a", ["a"], [1.0]),
        ("", "", [0.0]),
    ],
)
def test_list_slot(value: Any, stored: Any, expected: list[float]) -> None:
    slot = ListSlot("items")
    slot.value = value
    assert slot.value == stored
    assert slot.as_feature() == expected


def test_any_slot_is_never_featurized() -> None:
    slot = slot_from_definition("blob", {"type": "any"})
    assert isinstance(slot, AnySlot)
    assert slot.influence_conversation is False
    slot.value = {"x": 1}
    assert slot.as_feature() == []
    assert slot.feature_dimensionality() == 0
    assert not slot.has_features()
    with pytest.raises(ProjectDataError, match="cannot influence"):
        slot_from_definition("blob", {"type": "any", "influence_conversation": True})


def test_unfeaturized_slots() -> None:
    slot = slot_from_definition("city", {"type": "text", "influence_conversation": False})
    slot.value = "x"
    assert slot.as_feature() == []
    assert slot.feature_dimensionality() == 0


@pytest.mark.parametrize(
    ("type_name", "cls"),
    [
        ("text", TextSlot),
        ("bool", BooleanSlot),
        ("categorical", CategoricalSlot),
        ("float", FloatSlot),
        ("list", ListSlot),
        ("any", AnySlot),
        ("rasa.shared.core.slots.TextSlot", TextSlot),
        ("rasa.shared.core.slots.CategoricalSlot", CategoricalSlot),
    ],
)
def test_slot_types(type_name: str, cls: type[Slot]) -> None:
    slot = slot_from_definition("s", {"type": type_name, "mappings": []})
    assert type(slot) is cls
    assert slot.type_name == cls.type_name
    assert slot.influence_conversation is (cls is not AnySlot)


def test_persistence_info_is_rasas_domain_json() -> None:
    definition = {
        "type": "text",
        "initial_value": "x",
        "influence_conversation": False,
        "mappings": [{"type": "from_text", "conditions": [{"active_loop": "f"}]}],
    }
    slot = slot_from_definition("s", definition)
    assert slot.persistence_info() == {
        "type": "rasa.shared.core.slots.TextSlot",
        "initial_value": "x",
        "influence_conversation": False,
        "mappings": definition["mappings"],
    }
    float_slot = slot_from_definition("f", {"type": "float", "max_value": 100})
    assert float_slot.persistence_info() == {
        "type": "rasa.shared.core.slots.FloatSlot",
        "initial_value": None,
        "influence_conversation": True,
        "mappings": [],
        "max_value": 100,
        "min_value": 0.0,
    }
    assert slot_from_definition("f", float_slot.persistence_info()).persistence_info() == (
        float_slot.persistence_info()
    )


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({}, "needs a 'type'"),
        ({"type": "number"}, "unknown type 'number'; valid types are: text, bool"),
        ({"type": "my.module.Slot"}, "unknown type 'my.module.Slot'"),
        ({"type": "text", "mappings": {"type": "from_text"}}, "'mappings' must be a list"),
        ({"type": "text", "mappings": ["from_text"]}, "mapping 1: must be a mapping"),
        ({"type": "text", "mappings": [{"entity": "x"}]}, "mapping 1: 'type' is None"),
        ({"type": "text", "mappings": [{"type": "from_llm"}]}, "'type' is 'from_llm'; valid"),
        (
            {"type": "text", "mappings": [{"type": "from_text"}, {"type": "from_entity"}]},
            "mapping 2: a 'from_entity' mapping needs an 'entity'",
        ),
        ({"type": "bool", "mappings": [{"type": "from_intent"}]}, "needs a 'value'"),
        ({"type": "bool", "mappings": [{"type": "from_trigger_intent"}]}, "needs a 'value'"),
        ({"type": "text", "influence_conversation": "yes"}, "'influence_conversation'"),
        ({"type": "categorical", "values": "a"}, "'values' must be a list"),
        ({"type": "float", "initial_value": "1"}, "'initial_value' must be a number"),
    ],
)
def test_bad_definitions(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(ProjectDataError) as info:
        slot_from_definition("s", definition)
    assert message in str(info.value)
    assert "'s'" in str(info.value)


def test_bad_definition_container() -> None:
    with pytest.raises(ProjectDataError, match="must be a mapping"):
        slot_from_definition("s", "text")  # type: ignore[arg-type]


def test_valid_mappings_are_kept_raw() -> None:
    mappings = [
        {"type": "from_entity", "entity": "city", "role": "from", "intent": ["inform"]},
        {"type": "from_intent", "intent": "affirm", "value": True},
        {"type": "from_trigger_intent", "intent": "start", "value": "x"},
        {"type": "from_text", "not_intent": "chitchat"},
        {"type": "custom", "action": "action_fill"},
    ]
    slot = slot_from_definition("s", {"type": "any", "mappings": mappings})
    assert slot.mappings is mappings


def test_reset_and_has_been_set() -> None:
    slot = slot_from_definition("s", {"type": "text", "initial_value": "init"})
    assert slot.value == "init"
    assert not slot.has_been_set
    slot.value = "other"
    assert slot.has_been_set
    slot.reset()
    assert slot.value == "init"
    assert not slot.has_been_set


def test_copy_is_independent() -> None:
    slot = CategoricalSlot("c", [], ["a"], "a")
    slot.value = "b"
    clone = slot.copy()
    assert type(clone) is CategoricalSlot
    assert (clone.name, clone.value, clone.has_been_set, clone.values) == ("c", "b", True, ["a"])
    clone.value = "a"
    clone.add_default_value()
    assert slot.value == "b"
    assert slot.values == ["a"]
    float_clone = FloatSlot("f", min_value=-1, max_value=3).copy()
    assert (float_clone.min_value, float_clone.max_value) == (-1, 3)


def test_default_slots() -> None:
    requested = requested_slot()
    assert (requested.name, requested.influence_conversation, requested.is_builtin) == (
        "requested_slot",
        False,
        True,
    )
    metadata = session_start_metadata_slot()
    assert isinstance(metadata, AnySlot)
    assert metadata.name == "session_started_metadata"
    assert [s.name for s in knowledge_base_slots()] == [
        "knowledge_base_listed_objects",
        "knowledge_base_last_object",
        "knowledge_base_last_object_type",
    ]


def test_repr() -> None:
    assert repr(TextSlot("a", initial_value="x")) == "<TextSlot(a: 'x')>"
