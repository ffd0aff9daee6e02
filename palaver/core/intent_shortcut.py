"""``/intent@confidence{"entity": "value"}`` messages: the intent given, NLU skipped.

Typed by a user or sent as a button payload. Parsed as Rasa 3.6 does
(``YAMLStoryReader.unpack_regex_message`` without a domain): the text is
stripped first; a confidence above 1.0 is capped at 1.0 and one that is not
a number becomes 0.0; entities that are not a JSON object are dropped; text
after the entities is ignored. Each of these is logged as a warning and the
message keeps its intent; only text that does not start with
``/<intent>`` goes to NLU. Unknown intents and entity types are kept (Rasa's
processor does not check them against the domain either).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson

logger = logging.getLogger(__name__)

PREFIX = "/"

# Rasa's pattern, group for group; ``.`` does not cross a line break.
_PATTERN = re.compile(
    r"^/(?P<intent>[^{@]+)(?P<confidence>@[0-9.]+)?(?P<entities>\{.+\})?(?P<rest>.*)"
)


def parse_intent_shortcut(text: str) -> dict[str, Any] | None:
    """Parse data for a ``/intent...`` text, or None when the text is not one."""
    stripped = text.strip()
    if not stripped.startswith(PREFIX):
        return None
    match = _PATTERN.match(stripped)
    if match is None:
        return None
    intent = match.group("intent").strip()
    if not intent:
        return None
    confidence = _confidence(match, stripped)
    entities = _entities(match, stripped)
    rest = match.group("rest")
    if rest:
        logger.warning(
            "message '%s': ignoring '%s' after the intent shortcut (expected "
            "/<intent>@<confidence>{<entities as a JSON object>})",
            stripped,
            rest,
        )
    return {
        "text": stripped,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence}],
        "entities": entities,
    }


def _confidence(match: re.Match[str], text: str) -> float:
    raw = match.group("confidence")
    if raw is None:
        return 1.0
    try:
        confidence = float(raw[1:])
    except ValueError:
        logger.warning("message '%s': confidence '%s' is not a number; using 0.0", text, raw)
        return 0.0
    if confidence > 1.0:
        logger.warning("message '%s': confidence %s is above 1.0; using 1.0", text, raw[1:])
        return 1.0
    return confidence


def _entities(match: re.Match[str], text: str) -> list[dict[str, Any]]:
    raw = match.group("entities")
    if raw is None:
        return []
    try:
        values = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        logger.warning("message '%s': entities are not valid JSON (%s); ignoring them", text, exc)
        return []
    if not isinstance(values, dict):
        logger.warning("message '%s': entities must be a JSON object; ignoring them", text)
        return []
    start, end = match.span("entities")
    return [
        {"entity": name, "value": single, "start": start, "end": end}
        for name, value in values.items()
        for single in (value if isinstance(value, list) else [value])
    ]
