"""``{slot}`` placeholder filling, with Rasa's rules.

- ``{name}`` is replaced by ``str(values[name])``; any name without a value
  leaves the whole template untouched (Rasa logs and returns the template).
- ``{{`` and ``}}`` are literal braces, so ``{{name}}`` renders as ``{name}``.
- Dicts and lists are filled recursively; other values pass through.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

# One token: an escaped brace pair, or a placeholder without newline or braces.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^\n{}]+?)\}")


class _MissingValue(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def interpolate_text(template: str, values: Mapping[str, Any]) -> str:
    """Fill the placeholders of one string (see the module docstring)."""
    if "{" not in template and "}" not in template:
        return template

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name not in values:
            raise _MissingValue(name)
        return str(values[name])

    try:
        return _TOKEN.sub(replace, template)
    except _MissingValue as missing:
        logger.warning(
            "Failed to fill response template: no slot or argument named '%s'; "
            "the template is returned unfilled.",
            missing.name,
        )
        return template


def interpolate(template: Any, values: Mapping[str, Any]) -> Any:
    """Fill strings anywhere inside ``template``; returns a new object."""
    if isinstance(template, str):
        return interpolate_text(template, values)
    if isinstance(template, dict):
        return {key: interpolate(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [interpolate(item, values) for item in template]
    return template
