"""Inline entity annotations in training texts, as Rasa writes them.

- ``[Berlin](city)``: entity ``city``, value ``Berlin``.
- ``[NYC](city:New York)``: legacy synonym form, value ``New York``.
- ``[LA]{"entity": "city", "value": "Los Angeles", "role": "to", "group": "1"}``.
- ``[7pm][{"entity": "time"}, {"entity": "slot", "role": "start"}]``: several
  entities on the same text.

Offsets refer to the plain text, after the annotation markup is removed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from palaver.nlu.training_data import EntitySpan

# Rasa's ENTITY_REGEX (rasa/shared/nlu/training_data/entities_parser.py).
ENTITY_REGEX = re.compile(
    r"\[(?P<entity_text>[^\]]+?)\]"
    r"(\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)"
    r"|\{(?P<entity_dict>[^}]+?)\}"
    r"|\[(?P<list_entity_dicts>.*?)\])"
)
_SINGLE_ENTITY_DICT = re.compile(r"{(?P<entity_dict>[^}]+?)\}")
_DICT_KEYS = ("entity", "value", "role", "group")


class EntityAnnotationError(ValueError):
    """An annotation whose ``{...}`` part is not a valid entity dict."""


def parse_annotated_text(example: str) -> tuple[str, tuple[EntitySpan, ...]]:
    """Splits an annotated example into plain text and entity spans.

    Raises:
        EntityAnnotationError: for invalid JSON or a dict without a string ``entity``.
    """
    if "[" not in example:
        return example, ()
    entities: list[EntitySpan] = []
    pieces: list[str] = []
    position = 0
    plain_length = 0
    for match in ENTITY_REGEX.finditer(example):
        before = example[position : match.start()]
        pieces.append(before)
        plain_length += len(before)
        text = match.group("entity_text")
        start, end = plain_length, plain_length + len(text)
        entities.extend(_spans(match, text, start, end))
        pieces.append(text)
        plain_length += len(text)
        position = match.end()
    pieces.append(example[position:])
    return "".join(pieces), tuple(entities)


def _spans(match: re.Match[str], text: str, start: int, end: int) -> list[EntitySpan]:
    if match.group("entity"):
        value = match.group("value") or text
        return [EntitySpan(start, end, match.group("entity"), value)]
    if match.group("entity_dict"):
        return [_span_from_dict(match.group("entity_dict"), text, start, end)]
    inner = match.group("list_entity_dicts") or ""
    return [
        _span_from_dict(m.group("entity_dict"), text, start, end)
        for m in _SINGLE_ENTITY_DICT.finditer(inner)
    ]


def _span_from_dict(body: str, text: str, start: int, end: int) -> EntitySpan:
    try:
        data: Any = json.loads(f"{{{body}}}")
    except json.JSONDecodeError as exc:
        raise EntityAnnotationError(
            f"invalid entity annotation '[{text}]{{{body}}}': {exc.msg} (it must be JSON, "
            'e.g. {"entity": "city", "value": "Berlin"})'
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("entity"), str):
        raise EntityAnnotationError(
            f"entity annotation '[{text}]{{{body}}}' needs an \"entity\" name"
        )
    for key in _DICT_KEYS:
        if key in data and not isinstance(data[key], str):
            raise EntityAnnotationError(
                f"entity annotation '[{text}]{{{body}}}': \"{key}\" must be a string"
            )
    return EntitySpan(
        start,
        end,
        data["entity"],
        data.get("value", text),
        role=data.get("role"),
        group=data.get("group"),
    )


def strip_annotations(example: str) -> str:
    """The plain text of an annotated example (annotation markup removed)."""
    if "[" not in example:
        return example
    return ENTITY_REGEX.sub(lambda m: m.group("entity_text"), example)
