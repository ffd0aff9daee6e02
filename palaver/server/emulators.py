"""``POST /model/parse?emulation_mode=...``: parse results in other NLU services' formats.

Each emulator turns Rasa's parse JSON (``text, intent, entities,
intent_ranking``) into the response shape its service returns, exactly as
Rasa 3's emulators do: wit.ai's ``/message``, LUIS v3 ``/predict`` and
Dialogflow ES ``detectIntent``. Without a mode the parse JSON is returned as is.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from palaver.core.constants import (
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_ROLE,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
)

ParseResult = dict[str, Any]
Emulator = Callable[[Mapping[str, Any]], ParseResult]


def no_emulation(data: Mapping[str, Any]) -> ParseResult:
    """Rasa's own format: the parse result unchanged."""
    return dict(data)


def _intent(data: Mapping[str, Any]) -> Mapping[str, Any]:
    intent = data.get("intent")
    return intent if isinstance(intent, Mapping) else {}


def _entities(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entities = data.get("entities")
    if not isinstance(entities, list):
        return []
    return [e for e in entities if isinstance(e, Mapping)]


def wit(data: Mapping[str, Any]) -> ParseResult:
    """wit.ai's ``GET /message`` response (entities keyed by ``name:role``)."""
    text = str(data.get("text") or "")
    entities: dict[str, list[dict[str, Any]]] = {}
    for entity in _entities(data):
        name = entity.get(ENTITY_ATTRIBUTE_TYPE)
        role = entity.get(ENTITY_ATTRIBUTE_ROLE, name)
        start = entity.get(ENTITY_ATTRIBUTE_START)
        end = entity.get(ENTITY_ATTRIBUTE_END)
        entities.setdefault(f"{name}:{role}", []).append(
            {
                "confidence": entity.get("confidence_entity") or 1,
                "name": name,
                "value": entity.get(ENTITY_ATTRIBUTE_VALUE),
                # the entity's text before synonym mapping changed its value
                "body": text[start or 0 : end or 0],
                "start": start,
                "end": end,
                "role": role,
                "entities": [],
            }
        )
    return {"text": text, "intents": [dict(_intent(data))], "entities": entities}


def _luis_intents(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    ranking = data.get("intent_ranking")
    if isinstance(ranking, list) and ranking:
        return {
            str(item.get("name")): {"score": item.get("confidence")}
            for item in ranking
            if isinstance(item, Mapping)
        }
    top = _intent(data)
    if not top:
        return {}
    return {str(top.get("name")): {"score": top.get("confidence")}}


def _luis_entities(data: Mapping[str, Any]) -> dict[str, Any]:
    if "entities" not in data:
        return {}
    instances: dict[str, list[dict[str, Any]]] = {}
    entities: dict[str, Any] = {"$instance": instances}
    for entity in _entities(data):
        # LUIS v3 names entities by role where one is given.
        key = str(entity.get(ENTITY_ATTRIBUTE_ROLE, entity.get(ENTITY_ATTRIBUTE_TYPE)))
        start = entity.get(ENTITY_ATTRIBUTE_START)
        end = entity.get(ENTITY_ATTRIBUTE_END)
        has_span = isinstance(start, int) and isinstance(end, int)
        entities[key] = [entity.get(ENTITY_ATTRIBUTE_VALUE)]
        instances[key] = [
            {
                "role": entity.get(ENTITY_ATTRIBUTE_ROLE),
                "type": entity.get(ENTITY_ATTRIBUTE_TYPE),
                "text": entity.get(ENTITY_ATTRIBUTE_VALUE),
                "startIndex": start,
                "length": end - start if has_span else None,  # type: ignore[operator]
                "score": entity.get("confidence"),
                "modelType": entity.get("extractor"),
            }
        ]
    return entities


def luis(data: Mapping[str, Any]) -> ParseResult:
    """LUIS v3 ``/predict`` response."""
    top = _intent(data)
    return {
        "query": data.get("text"),
        "prediction": {
            "normalizedQuery": data.get("text"),
            "topIntent": top.get("name") if top else None,
            "intents": _luis_intents(data),
            "entities": _luis_entities(data),
        },
    }


def dialogflow(data: Mapping[str, Any]) -> ParseResult:
    """Dialogflow ES ``detectIntent`` response."""
    parameters: dict[str, list[Any]] = {}
    for entity in _entities(data):
        parameters.setdefault(str(entity.get(ENTITY_ATTRIBUTE_TYPE)), []).append(
            entity.get(ENTITY_ATTRIBUTE_VALUE)
        )
    intent = _intent(data)
    name = intent.get("name")
    return {
        "responseId": str(uuid.uuid1()),
        "queryResult": {
            "queryText": data.get("text"),
            "action": name,
            "parameters": parameters,
            "fulfillmentText": "",
            "fulfillmentMessages": [],
            "outputContexts": [],
            "intent": {"name": name, "displayName": name},
            "intentDetectionConfidence": intent.get("confidence"),
        },
    }


EMULATORS: dict[str, Emulator] = {"wit": wit, "luis": luis, "dialogflow": dialogflow}


def emulator_for(mode: str | None) -> Emulator:
    """The emulator for an ``emulation_mode`` value (case-insensitive).

    Raises:
        KeyError: for an unknown mode (the route answers 400).
    """
    if mode is None:
        return no_emulation
    return EMULATORS[mode.lower()]


def request_text(payload: Mapping[str, Any]) -> Any:
    """The text to parse; emulated clients may send it as a one-element list, as in Rasa."""
    text = payload.get("text")
    if isinstance(text, list) and text:
        return text[0]
    return text
