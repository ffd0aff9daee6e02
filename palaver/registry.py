"""Explicit registries from a config ``type`` to the class that implements it.

An unknown type is an error that names the valid ones. A dotted path
(``my_pkg.stores.MyStore``) loads a user class, which must satisfy the
interface's Protocol; it is checked at startup, not at first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from palaver.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps config ``type`` names to factories for one interface.

    Args:
        interface: human name used in errors ("tracker store", "lock store", ...).
        factories: ``type`` name -> callable taking the endpoint config mapping
            (without ``type``) and returning an instance.
        check: a predicate a custom class instance must pass (Protocol check).
    """

    def __init__(
        self,
        interface: str,
        factories: Mapping[str, Callable[[Mapping[str, Any]], T]],
        check: Callable[[object], bool] | None = None,
    ) -> None:
        self.interface = interface
        self._factories = dict(factories)
        self._check = check

    @property
    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, type_name: str, config: Mapping[str, Any]) -> T:
        factory = self._factories.get(type_name.lower())
        if factory is not None:
            return factory(config)
        if "." in type_name:
            return self._custom(type_name, config)
        raise ConfigError(
            f"Unknown {self.interface} type '{type_name}'. Valid types: "
            f"{', '.join(self.names)}, or a dotted path to a custom class."
        )

    def _custom(self, dotted: str, config: Mapping[str, Any]) -> T:
        cls = load_class(dotted, self.interface)
        from_config = getattr(cls, "from_config", None)
        try:
            instance = from_config(config) if callable(from_config) else cls(**config)
        except TypeError as exc:
            raise ConfigError(
                f"Custom {self.interface} '{dotted}' rejected its config keys "
                f"{sorted(config)}: {exc}"
            ) from exc
        if self._check is not None and not self._check(instance):
            raise ConfigError(
                f"Custom {self.interface} '{dotted}' does not implement the "
                f"{self.interface} interface."
            )
        return instance  # type: ignore[no-any-return]


def load_class(dotted: str, what: str) -> Any:
    """Import ``package.module.ClassName``; errors name what was asked for."""
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise ConfigError(f"'{dotted}' is not a dotted path to a {what} class.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"Cannot import module '{module_name}' for {what} '{dotted}': {exc}"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ConfigError(f"Module '{module_name}' has no {what} class '{attr}'.") from exc
