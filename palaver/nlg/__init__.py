"""Natural language generation: domain responses or an NLG server.

``create_nlg(config, domain)`` builds the generator for endpoints.yml's
``nlg`` section, with Rasa's rules: no section, or ``type: template`` /
``type: response``, uses the domain's responses; a ``url`` with ``type:
callback`` (or no type) uses the NLG server; a dotted path loads a custom
class, called as ``cls(endpoint_config=config, domain=domain)``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from palaver.errors import ConfigError
from palaver.nlg.base import BotMessage, NaturalLanguageGenerator
from palaver.nlg.templates import TemplatedNaturalLanguageGenerator

if TYPE_CHECKING:
    from palaver.actions.endpoint import HttpClient
    from palaver.core.domain import Domain

__all__ = [
    "BotMessage",
    "NaturalLanguageGenerator",
    "TemplatedNaturalLanguageGenerator",
    "create_nlg",
]

TEMPLATE_TYPES = ("template", "response")
CALLBACK_TYPE = "callback"


def create_nlg(
    config: Mapping[str, Any] | None,
    domain: Domain,
    http: HttpClient | None = None,
    rng: random.Random | None = None,
) -> NaturalLanguageGenerator:
    """The generator for endpoints.yml's ``nlg`` section.

    Args:
        config: the ``nlg`` section, or ``None``.
        domain: the model's domain (its responses, and the callback fallback).
        http: the process-wide HTTP client for a callback NLG (shares its pool).
        rng: random source for template variations.

    Raises:
        ConfigError: an unknown ``type``, or a callback without ``url``.
    """
    type_name = str((config or {}).get("type") or "").lower()
    if not config or type_name in TEMPLATE_TYPES:
        return TemplatedNaturalLanguageGenerator.from_domain(domain, rng=rng)
    if type_name in ("", CALLBACK_TYPE):
        from palaver.nlg.callback import CallbackNaturalLanguageGenerator

        return CallbackNaturalLanguageGenerator.from_config(config, http=http, domain=domain)
    if "." in type_name:
        return _custom_nlg(str(config["type"]), config, domain)
    raise ConfigError(
        f"nlg: 'type' has value {config.get('type')!r}. Valid types: "
        f"{', '.join((CALLBACK_TYPE, *TEMPLATE_TYPES))}, or a dotted path to a custom class."
    )


def _custom_nlg(dotted: str, config: Mapping[str, Any], domain: Domain) -> NaturalLanguageGenerator:
    from palaver.registry import load_class

    cls = load_class(dotted, "NLG")
    try:
        instance = cls(endpoint_config=dict(config), domain=domain)
    except TypeError as exc:
        raise ConfigError(
            f"Custom NLG '{dotted}' must accept (endpoint_config, domain): {exc}"
        ) from exc
    if not isinstance(instance, NaturalLanguageGenerator):
        raise ConfigError(f"Custom NLG '{dotted}' has no async generate() method.")
    return instance
