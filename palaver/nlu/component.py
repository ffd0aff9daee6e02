"""The contract every pipeline component satisfies, and typed component settings.

Each component has a frozen settings dataclass built from its entry in
``config.yml`` by :func:`settings_from_config`: known keys are type-checked
(errors name the component, key and value), keys Palaver does not use (DIET's
``epochs`` and the like) are ignored with a debug log line.
"""

from __future__ import annotations

import dataclasses
import logging
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from palaver.errors import ConfigError
from palaver.nlu.message import Message, TrainingBatch

logger = logging.getLogger(__name__)

S = TypeVar("S")


@runtime_checkable
class Component(Protocol):
    """One step of an NLU pipeline.

    ``train`` learns from the batch. Tokenizers and featurizers must also leave
    the batch's messages (tokens, token features) and ``sentence_features`` as
    ``process`` would, so later components train on what they see at parse
    time; classifiers and extractors learn from the gold labels instead and
    need not predict on the batch. ``process`` must not mutate the component:
    parsing is concurrent.
    """

    name: ClassVar[str]

    def train(self, batch: TrainingBatch) -> None: ...

    def process(self, message: Message) -> None: ...


def settings_from_config(cls: type[S], component: str, config: Mapping[str, Any]) -> S:
    """Build the settings dataclass ``cls`` from one pipeline entry.

    Raises:
        ConfigError: a known key has a value of the wrong type.
    """
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in config.items():
        if key == "name":
            continue
        if key not in known:
            logger.debug("nlu.config.ignored_key component=%s key=%s", component, key)
            continue
        values[key] = _checked(component, key, value, hints[key])
    return cls(**values)


def _checked(component: str, key: str, value: Any, hint: Any) -> Any:
    if not _matches(value, hint):
        raise ConfigError(
            f"Component '{component}': config '{key}' has value {value!r}. "
            f"Expected {_describe(hint)}."
        )
    if hint is float and isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return isinstance(value, list | tuple) and all(_matches(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")
