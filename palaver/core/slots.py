"""Slots: the typed key-value memory of a conversation.

Semantics follow Rasa 3.6: slot values are stored as given (a list slot wraps
a single value in a list), featurization turns the value into a fixed-length
float vector for the dialogue policies, and ``persistence_info()`` gives the
slot as it appears in Rasa's domain JSON.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Self, overload

from palaver.core.constants import (
    DEFAULT_CATEGORICAL_SLOT_VALUE,
    MAPPING_FROM_ENTITY,
    MAPPING_FROM_INTENT,
    MAPPING_FROM_TRIGGER_INTENT,
    REQUESTED_SLOT,
    SESSION_START_METADATA_SLOT,
    SLOT_LAST_OBJECT,
    SLOT_LAST_OBJECT_TYPE,
    SLOT_LISTED_ITEMS,
    SLOT_MAPPING_TYPES,
)
from palaver.errors import ProjectDataError

logger = logging.getLogger(__name__)

_RASA_SLOT_MODULE = "rasa.shared.core.slots"


class Slot(ABC):
    """A named, typed value of the conversation state.

    Attributes:
        name: slot name.
        mappings: slot mappings exactly as written in the domain (list of dicts).
        initial_value: value after a reset.
        influence_conversation: whether the slot is featurized for policies.
        is_builtin: ``True`` for slots the domain adds by itself.
    """

    type_name: ClassVar[str] = ""
    __slots__ = (
        "_has_been_set",
        "_value",
        "influence_conversation",
        "initial_value",
        "is_builtin",
        "mappings",
        "name",
    )

    def __init__(
        self,
        name: str,
        mappings: list[dict[str, Any]] | None = None,
        initial_value: Any = None,
        *,
        influence_conversation: bool = True,
        is_builtin: bool = False,
    ) -> None:
        """Creates a slot holding its initial value.

        Args:
            name: slot name.
            mappings: slot mappings as in ``domain.yml`` (kept raw).
            initial_value: value of a fresh or reset slot.
            influence_conversation: featurize the slot for dialogue policies.
            is_builtin: the domain added the slot by itself.
        """
        self.name = name
        self.mappings: list[dict[str, Any]] = mappings if mappings is not None else []
        self.initial_value = initial_value
        self._value = initial_value
        self._has_been_set = False
        self.influence_conversation = influence_conversation
        self.is_builtin = is_builtin

    @property
    def value(self) -> Any:
        """The current value."""
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        self._value = self._on_set(value)
        self._has_been_set = True

    def _on_set(self, value: Any) -> Any:
        """Hook to normalize a value when it is set."""
        return value

    @property
    def has_been_set(self) -> bool:
        """Whether the value was set since creation or the last reset."""
        return self._has_been_set

    def reset(self) -> None:
        """Restores the initial value and forgets that the slot was set."""
        self._value = self.initial_value
        self._has_been_set = False

    def feature_dimensionality(self) -> int:
        """Length of ``as_feature()``; ``0`` for slots that do not influence the dialogue."""
        if not self.influence_conversation:
            return 0
        return self._feature_dimensionality()

    def _feature_dimensionality(self) -> int:
        return 1

    def has_features(self) -> bool:
        """Whether the slot contributes features."""
        return self.feature_dimensionality() != 0

    def as_feature(self) -> list[float]:
        """Featurizes the current value (``[]`` if the slot does not influence the dialogue)."""
        if not self.influence_conversation:
            return []
        return self._as_feature()

    @abstractmethod
    def _as_feature(self) -> list[float]: ...

    def coerce_value(self, value: Any) -> Any:
        """Returns ``value`` converted to the slot's type where possible, else unchanged."""
        return value

    def is_valid_value(self, value: Any) -> bool:
        """Whether ``value`` fits the slot's type (``None`` always does)."""
        return True

    def persistence_info(self) -> dict[str, Any]:
        """The slot as in Rasa's domain JSON (``type`` is Rasa's class path)."""
        return {
            "type": f"{_RASA_SLOT_MODULE}.{type(self).__name__}",
            "initial_value": self.initial_value,
            "influence_conversation": self.influence_conversation,
            "mappings": self.mappings,
        }

    def copy(self) -> Self:
        """A copy with the same definition, value and ``has_been_set`` flag."""
        clone = object.__new__(type(self))
        for cls in type(self).__mro__:
            for attr in getattr(cls, "__slots__", ()):
                object.__setattr__(clone, attr, object.__getattribute__(self, attr))
        return clone

    def __repr__(self) -> str:
        return f"<{type(self).__name__}({self.name}: {self._value!r})>"


class TextSlot(Slot):
    """A slot storing text; featurized as ``[1.0]`` once set to anything."""

    type_name: ClassVar[str] = "text"
    __slots__ = ()

    def _as_feature(self) -> list[float]:
        return [1.0 if self._value is not None else 0.0]


class BooleanSlot(Slot):
    """A truth value; featurized as ``[is_set, value]``."""

    type_name: ClassVar[str] = "bool"
    __slots__ = ()

    def _as_feature(self) -> list[float]:
        if self._value is None:
            return [0.0, 0.0]
        try:
            return [1.0, float(bool_from_any(self._value))]
        except (TypeError, ValueError):
            return [0.0, 0.0]

    def _feature_dimensionality(self) -> int:
        return 2

    def coerce_value(self, value: Any) -> Any:
        """Converts ``"true"``/``"false"``/``1``/``0`` (etc.) to a bool if possible."""
        try:
            return bool_from_any(value)
        except (TypeError, ValueError):
            return value

    def is_valid_value(self, value: Any) -> bool:
        """Whether ``value`` is ``None`` or convertible to a bool."""
        return value is None or isinstance(self.coerce_value(value), bool)


def bool_from_any(value: Any) -> bool:
    """Converts a bool, number or string to a bool the way Rasa does.

    Raises:
        ValueError: for a string that is neither numeric nor true/false.
        TypeError: for any other type.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1.0
    if isinstance(value, str):
        if value.isnumeric():
            return float(value) == 1.0
        lowered = value.strip().lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        raise ValueError(f"Cannot convert string '{value}' to bool")
    raise TypeError(f"Cannot convert {type(value).__name__} to bool")


class CategoricalSlot(Slot):
    """One of a fixed set of values; featurized one-hot over ``values``.

    Values are lower-cased strings (as in Rasa 3.6). A value outside the set
    activates ``__other__`` when present; the domain adds it with
    ``add_default_value()`` (``slot_from_definition`` does so already).
    """

    type_name: ClassVar[str] = "categorical"
    __slots__ = ("values",)

    def __init__(
        self,
        name: str,
        mappings: list[dict[str, Any]] | None = None,
        values: list[Any] | None = None,
        initial_value: Any = None,
        *,
        influence_conversation: bool = True,
        is_builtin: bool = False,
    ) -> None:
        """Creates a categorical slot; ``None`` is dropped from ``values``."""
        super().__init__(
            name,
            mappings,
            initial_value,
            influence_conversation=influence_conversation,
            is_builtin=is_builtin,
        )
        if values and None in values:
            logger.warning(
                "Categorical slot '%s' lists null as a value; null means 'not set' and is ignored",
                name,
            )
        self.values: list[str] = [str(v).lower() for v in values or () if v is not None]

    def add_default_value(self) -> None:
        """Adds the ``__other__`` catch-all value if missing."""
        if DEFAULT_CATEGORICAL_SLOT_VALUE not in self.values:
            self.values.append(DEFAULT_CATEGORICAL_SLOT_VALUE)

    def _feature_dimensionality(self) -> int:
        return len(self.values)

    def _as_feature(self) -> list[float]:
        features = [0.0] * len(self.values)
        if self._value is None:
            return features
        wanted = str(self._value).lower()
        for index, candidate in enumerate(self.values):
            if candidate == wanted:
                features[index] = 1.0
                return features
        if DEFAULT_CATEGORICAL_SLOT_VALUE in self.values:
            features[self.values.index(DEFAULT_CATEGORICAL_SLOT_VALUE)] = 1.0
        else:
            logger.warning(
                "Categorical slot '%s' has a value not listed in the domain; "
                "it is featurized as unset",
                self.name,
            )
        return features

    def coerce_value(self, value: Any) -> Any:
        """Maps a string to the configured value it matches case-insensitively."""
        if isinstance(value, str) and value:
            folded = value.casefold()
            for configured in self.values:
                if configured.casefold() == folded:
                    return configured
        return value

    def is_valid_value(self, value: Any) -> bool:
        """Whether ``value`` is ``None`` or one of the configured values."""
        if value is None:
            return True
        folded = str(value).casefold()
        return any(configured.casefold() == folded for configured in self.values)

    def persistence_info(self) -> dict[str, Any]:
        """Domain JSON; ``__other__`` is left out (the domain re-adds it)."""
        info = super().persistence_info()
        info["values"] = [v for v in self.values if v != DEFAULT_CATEGORICAL_SLOT_VALUE]
        return info

    def copy(self) -> Self:
        """A copy whose ``values`` list is independent of this slot's."""
        clone = super().copy()
        clone.values = list(self.values)
        return clone


class FloatSlot(Slot):
    """A number; featurized as ``[is_set, (clamped value - min) / (max - min)]``."""

    type_name: ClassVar[str] = "float"
    __slots__ = ("max_value", "min_value")

    def __init__(
        self,
        name: str,
        mappings: list[dict[str, Any]] | None = None,
        initial_value: float | None = None,
        *,
        max_value: float = 1.0,
        min_value: float = 0.0,
        influence_conversation: bool = True,
        is_builtin: bool = False,
    ) -> None:
        """Creates a float slot.

        Raises:
            ProjectDataError: if ``min_value >= max_value``.
        """
        super().__init__(
            name,
            mappings,
            initial_value,
            influence_conversation=influence_conversation,
            is_builtin=is_builtin,
        )
        if min_value >= max_value:
            raise ProjectDataError(
                f"Float slot '{name}' has an invalid range: min_value ({min_value}) "
                f"must be smaller than max_value ({max_value})."
            )
        self.max_value = max_value
        self.min_value = min_value
        if initial_value is not None and not min_value <= initial_value <= max_value:
            logger.warning(
                "Float slot '%s' has an initial value outside [%s, %s]", name, min_value, max_value
            )

    def _feature_dimensionality(self) -> int:
        return 2

    def _as_feature(self) -> list[float]:
        try:
            number = float(self._value)
        except (TypeError, ValueError):
            return [0.0, 0.0]
        capped = max(self.min_value, min(self.max_value, number))
        return [1.0, (capped - self.min_value) / (self.max_value - self.min_value)]

    def coerce_value(self, value: Any) -> Any:
        """Converts numbers and numeric strings to ``float``; other values unchanged."""
        if isinstance(value, bool):
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            return value

    def is_valid_value(self, value: Any) -> bool:
        """Whether ``value`` is ``None`` or convertible to a float."""
        return value is None or isinstance(self.coerce_value(value), float)

    def persistence_info(self) -> dict[str, Any]:
        """Domain JSON including ``max_value`` and ``min_value``."""
        info = super().persistence_info()
        info["max_value"] = self.max_value
        info["min_value"] = self.min_value
        return info


class ListSlot(Slot):
    """A list; featurized as ``[1.0]`` when non-empty. A single value is wrapped in a list."""

    type_name: ClassVar[str] = "list"
    __slots__ = ()

    def _on_set(self, value: Any) -> Any:
        return self.coerce_value(value)

    def coerce_value(self, value: Any) -> Any:
        """Wraps a truthy non-list value in a list."""
        if value and not isinstance(value, list):
            return [value]
        return value

    def is_valid_value(self, value: Any) -> bool:
        """Whether ``value`` is ``None`` or a list."""
        return value is None or isinstance(value, list)

    def _as_feature(self) -> list[float]:
        try:
            return [1.0 if self._value is not None and len(self._value) > 0 else 0.0]
        except TypeError:
            return [0.0]


class AnySlot(Slot):
    """Stores any value; never featurized (``influence_conversation`` must be false)."""

    type_name: ClassVar[str] = "any"
    __slots__ = ()

    def __init__(
        self,
        name: str,
        mappings: list[dict[str, Any]] | None = None,
        initial_value: Any = None,
        *,
        influence_conversation: bool = False,
        is_builtin: bool = False,
    ) -> None:
        """Creates an any-slot.

        Raises:
            ProjectDataError: if ``influence_conversation`` is true.
        """
        if influence_conversation:
            raise ProjectDataError(
                f"Slot '{name}' of type 'any' cannot influence the conversation; "
                "set 'influence_conversation: false' or use another slot type."
            )
        super().__init__(
            name, mappings, initial_value, influence_conversation=False, is_builtin=is_builtin
        )

    def _as_feature(self) -> list[float]:
        return []

    def _feature_dimensionality(self) -> int:
        return 0


SLOT_TYPES: dict[str, type[Slot]] = {
    cls.type_name: cls
    for cls in (TextSlot, BooleanSlot, CategoricalSlot, FloatSlot, ListSlot, AnySlot)
}
# Rasa writes the class path into domain JSON (``persistence_info``); accept it back.
_SLOT_TYPES_BY_PATH: dict[str, type[Slot]] = {
    f"{_RASA_SLOT_MODULE}.{cls.__name__}": cls for cls in SLOT_TYPES.values()
}


def slot_from_definition(name: str, definition: Mapping[str, Any]) -> Slot:
    """Builds a slot from its ``domain.yml`` (or domain JSON) definition.

    Args:
        name: slot name.
        definition: the mapping under ``slots.<name>``: ``type``, ``initial_value``,
            ``influence_conversation``, ``mappings``, ``values`` (categorical),
            ``min_value``/``max_value`` (float).

    Returns:
        The slot, holding its initial value. Categorical slots include ``__other__``.

    Raises:
        ProjectDataError: for an unknown type, a badly typed option or an invalid mapping.
    """
    if not isinstance(definition, Mapping):
        raise ProjectDataError(f"Slot '{name}' must be a mapping, got {_kind(definition)}.")
    cls = _slot_class(name, definition.get("type"))
    mappings = _parse_mappings(name, definition.get("mappings"))
    influence = definition.get("influence_conversation", cls is not AnySlot)
    if not isinstance(influence, bool):
        raise ProjectDataError(
            f"Slot '{name}': 'influence_conversation' must be true or false, got {influence!r}."
        )
    initial_value = definition.get("initial_value")
    if cls is CategoricalSlot:
        categorical = CategoricalSlot(
            name,
            mappings,
            _parse_values(name, definition.get("values")),
            initial_value,
            influence_conversation=influence,
        )
        categorical.add_default_value()
        return categorical
    if cls is FloatSlot:
        return FloatSlot(
            name,
            mappings,
            _number(name, "initial_value", initial_value, None),
            max_value=_number(name, "max_value", definition.get("max_value"), 1.0),
            min_value=_number(name, "min_value", definition.get("min_value"), 0.0),
            influence_conversation=influence,
        )
    return cls(name, mappings, initial_value, influence_conversation=influence)


def requested_slot() -> TextSlot:
    """The ``requested_slot`` slot the domain adds when it has forms."""
    return TextSlot(REQUESTED_SLOT, [], influence_conversation=False, is_builtin=True)


def session_start_metadata_slot() -> AnySlot:
    """The ``session_started_metadata`` slot every domain has."""
    return AnySlot(SESSION_START_METADATA_SLOT, [], is_builtin=True)


def knowledge_base_slots() -> list[TextSlot]:
    """The slots the domain adds when it uses ``action_query_knowledge_base``."""
    names = (SLOT_LISTED_ITEMS, SLOT_LAST_OBJECT, SLOT_LAST_OBJECT_TYPE)
    return [TextSlot(n, [], influence_conversation=False, is_builtin=True) for n in names]


def _slot_class(name: str, type_name: Any) -> type[Slot]:
    if not isinstance(type_name, str):
        raise ProjectDataError(
            f"Slot '{name}' needs a 'type' (one of {', '.join(SLOT_TYPES)}), got {type_name!r}."
        )
    cls = SLOT_TYPES.get(type_name) or _SLOT_TYPES_BY_PATH.get(type_name)
    if cls is None:
        raise ProjectDataError(
            f"Slot '{name}' has unknown type '{type_name}'; "
            f"valid types are: {', '.join(SLOT_TYPES)}."
        )
    return cls


def _parse_mappings(name: str, raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ProjectDataError(f"Slot '{name}': 'mappings' must be a list, got {_kind(raw)}.")
    for index, mapping in enumerate(raw):
        _validate_mapping(name, index, mapping)
    return raw


def _validate_mapping(name: str, index: int, mapping: Any) -> None:
    where = f"Slot '{name}', mapping {index + 1}"
    if not isinstance(mapping, dict):
        raise ProjectDataError(f"{where}: must be a mapping, got {_kind(mapping)}.")
    mapping_type = mapping.get("type")
    if mapping_type not in SLOT_MAPPING_TYPES:
        raise ProjectDataError(
            f"{where}: 'type' is {mapping_type!r}; "
            f"valid types are: {', '.join(SLOT_MAPPING_TYPES)}."
        )
    if mapping_type == MAPPING_FROM_ENTITY and not isinstance(mapping.get("entity"), str):
        raise ProjectDataError(f"{where}: a 'from_entity' mapping needs an 'entity' name.")
    if (
        mapping_type in (MAPPING_FROM_INTENT, MAPPING_FROM_TRIGGER_INTENT)
        and "value" not in mapping
    ):
        raise ProjectDataError(f"{where}: a '{mapping_type}' mapping needs a 'value'.")


def _parse_values(name: str, raw: Any) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ProjectDataError(f"Slot '{name}': 'values' must be a list, got {_kind(raw)}.")
    return raw


@overload
def _number(name: str, key: str, raw: Any, default: float) -> float: ...


@overload
def _number(name: str, key: str, raw: Any, default: None) -> float | None: ...


def _number(name: str, key: str, raw: Any, default: float | None) -> float | None:
    """``raw`` if it is a number (kept as written: ints stay ints), ``default`` if absent."""
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ProjectDataError(f"Slot '{name}': '{key}' must be a number, got {raw!r}.")
    return raw


def _kind(value: Any) -> str:
    return type(value).__name__
