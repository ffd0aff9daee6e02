"""Validation of a ``responses:`` section (domain files and NLU data files).

The rules are those of Rasa's ``responses.yml`` schema: every response is a
non-empty list of variation mappings, each with a ``text`` or a ``custom``
payload, built from a fixed set of keys. Response texts may name slots that do
not exist: Rasa renders those literally, so that is not an error here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from palaver.data.yaml_io import error_at, kind

_VARIATION_KEYS = frozenset(
    {
        "id",
        "text",
        "image",
        "custom",
        "buttons",
        "button_type",
        "quick_replies",
        "attachment",
        "elements",
        "channel",
        "metadata",
        "condition",
    }
)
_STRING_KEYS = ("id", "text", "image", "button_type", "channel")
_LIST_OF_MAPS_KEYS = ("buttons", "quick_replies", "elements")
_MAP_KEYS = ("custom", "attachment")


def validate_responses(responses: Any, container: Any = None, key: str = "responses") -> None:
    """Checks a ``responses`` mapping.

    Args:
        responses: the value under the ``responses`` key.
        container: the mapping holding that key (for error locations).
        key: the key's name.

    Raises:
        ProjectDataError: at the first invalid response or variation.
    """
    if responses is None:
        return
    if not isinstance(responses, Mapping):
        raise error_at(container, f"'{key}' must be a mapping, got {kind(responses)}", key)
    ids: dict[str, str] = {}
    for name, variations in responses.items():
        if not isinstance(name, str) or not name:
            raise error_at(responses, f"response name must be a string, got {name!r}", name)
        if not isinstance(variations, list) or not variations:
            raise error_at(
                responses,
                f"response '{name}' must be a non-empty list of variations, got {kind(variations)}",
                name,
            )
        for index, variation in enumerate(variations):
            _validate_variation(name, variations, index, variation)
            _check_response_id(name, variations, index, variation, ids)


def _validate_variation(name: str, variations: Any, index: int, variation: Any) -> None:
    if not isinstance(variation, Mapping):
        raise error_at(
            variations,
            f"variation {index + 1} of response '{name}' must be a mapping, got {kind(variation)}",
            index=index,
        )
    unknown = sorted(str(k) for k in variation if k not in _VARIATION_KEYS)
    if unknown:
        raise error_at(
            variation,
            f"response '{name}' has unknown key '{unknown[0]}'; "
            f"allowed keys: {', '.join(sorted(_VARIATION_KEYS))}",
            unknown[0],
        )
    if variation.get("text") is None and not variation.get("custom"):
        raise error_at(
            variations,
            f"variation {index + 1} of response '{name}' needs a 'text' or a 'custom' payload",
            index=index,
        )
    _check_value_types(name, variation)
    _check_condition(name, variation)


def _check_value_types(name: str, variation: Mapping[str, Any]) -> None:
    for key in _STRING_KEYS:
        value = variation.get(key)
        if value is not None and not isinstance(value, str):
            raise error_at(
                variation, f"response '{name}': '{key}' must be a string, got {kind(value)}", key
            )
    for key in _MAP_KEYS:
        value = variation.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise error_at(
                variation, f"response '{name}': '{key}' must be a mapping, got {kind(value)}", key
            )
    for key in _LIST_OF_MAPS_KEYS:
        value = variation.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise error_at(variation, f"response '{name}': '{key}' must be a list of mappings", key)


def _check_condition(name: str, variation: Mapping[str, Any]) -> None:
    condition = variation.get("condition")
    if condition is None:
        return
    if not isinstance(condition, list):
        raise error_at(
            variation,
            f"response '{name}': 'condition' must be a list, got {kind(condition)}",
            "condition",
        )
    for index, item in enumerate(condition):
        if not isinstance(item, Mapping) or not item:
            raise error_at(
                condition,
                f"response '{name}': each condition must be a mapping "
                "like {type: slot, name: my_slot, value: x}",
                index=index,
            )
        unknown = sorted(str(k) for k in item if k not in ("type", "name", "value"))
        if unknown:
            raise error_at(
                item,
                f"response '{name}': condition has unknown key '{unknown[0]}' "
                "(allowed: type, name, value)",
                unknown[0],
            )
        for key in ("type", "name"):
            if key in item and not isinstance(item[key], str):
                raise error_at(item, f"response '{name}': condition '{key}' must be a string", key)


def _check_response_id(
    name: str, variations: Any, index: int, variation: Mapping[str, Any], ids: dict[str, str]
) -> None:
    response_id = variation.get("id")
    if not response_id:
        return
    if response_id in ids:
        raise error_at(
            variations,
            f"duplicate response id '{response_id}' (in '{ids[response_id]}' and '{name}')",
            index=index,
        )
    ids[response_id] = name
