from __future__ import annotations

from palaver.nlu.bilou import decode, entity_tags
from palaver.nlu.tokenizer import WhitespaceTokenizer
from palaver.nlu.training_data import EntitySpan


def test_tags_for_multi_token_and_single_token_entities() -> None:
    text = "fly from New York City to Rome"
    tokens = WhitespaceTokenizer({}).tokenize(text)
    entities = [
        EntitySpan(9, 22, "city", "New York City", role="from"),
        EntitySpan(26, 30, "city", "Rome", role="to"),
    ]
    tags, roles, groups = entity_tags(tokens, entities, bilou=True)
    assert tags == ["O", "O", "B-city", "I-city", "L-city", "O", "U-city"]
    assert roles == ["O", "O", "from", "from", "from", "O", "to"]
    assert groups == ["O"] * 7
    plain, _, _ = entity_tags(tokens, entities, bilou=False)
    assert plain == ["O", "O", "city", "city", "city", "O", "city"]


def test_decode_bilou_and_plain_tags() -> None:
    assert decode(["O", "B-city", "I-city", "L-city", "U-city"], bilou=True) == [
        (1, 4, "city"),
        (4, 5, "city"),
    ]
    # a run without a B- still becomes one entity
    assert decode(["I-x", "L-x", "O", "U-y"], bilou=True) == [(0, 2, "x"), (3, 4, "y")]
    assert decode(["a", "a", "O", "a", "b"], bilou=False) == [(0, 2, "a"), (3, 4, "a"), (4, 5, "b")]
