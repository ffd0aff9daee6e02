"""Token tags for entity annotations (BILOU or plain) and their decoding."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from palaver.nlu.message import Token
from palaver.nlu.training_data import EntitySpan

logger = logging.getLogger(__name__)

NO_ENTITY = "O"


def covered_tokens(tokens: Sequence[Token], start: int, end: int) -> list[int]:
    """Indices of the tokens that overlap the character span ``[start, end)``."""
    return [i for i, t in enumerate(tokens) if t.start < end and t.end > start]


def entity_tags(
    tokens: Sequence[Token], entities: Sequence[EntitySpan], bilou: bool
) -> tuple[list[str], list[str], list[str]]:
    """Per-token entity, role and group tags for annotated ``entities``."""
    tags = [NO_ENTITY] * len(tokens)
    roles = [NO_ENTITY] * len(tokens)
    groups = [NO_ENTITY] * len(tokens)
    for entity in entities:
        indices = covered_tokens(tokens, entity.start, entity.end)
        if not indices:
            logger.debug(
                "nlu.bilou.misaligned entity=%s start=%d end=%d",
                entity.entity,
                entity.start,
                entity.end,
            )
            continue
        for position, index in enumerate(indices):
            tags[index] = _tag(entity.entity, position, len(indices), bilou)
            roles[index] = entity.role or NO_ENTITY
            groups[index] = entity.group or NO_ENTITY
    return tags, roles, groups


def _tag(entity: str, position: int, length: int, bilou: bool) -> str:
    if not bilou:
        return entity
    if length == 1:
        return f"U-{entity}"
    if position == 0:
        return f"B-{entity}"
    return f"L-{entity}" if position == length - 1 else f"I-{entity}"


def decode(tags: Sequence[str], bilou: bool) -> list[tuple[int, int, str]]:
    """``(first_token, end_token, entity)`` spans; lenient about broken BILOU runs."""
    spans: list[tuple[int, int, str]] = []
    current: list[int | str] | None = None  # [first, end, entity]
    for index, tag in enumerate(tags):
        if tag == NO_ENTITY:
            current = None
            continue
        prefix, entity = (tag[:1], tag[2:]) if bilou and tag[1:2] == "-" else ("", tag)
        starts_new = prefix in ("B", "U") or current is None or current[2] != entity
        if starts_new:
            current = [index, index + 1, entity]
            spans.append((index, index + 1, entity))
        elif current is not None:
            current[1] = index + 1
            spans[-1] = (int(current[0]), index + 1, entity)
        if prefix in ("L", "U"):
            current = None
    return spans
