"""NLU training data: the in-memory form of data/nlu.yml.

These types are shared by the YAML reader (``palaver.data``) and the NLU
pipeline (``palaver.nlu``). They hold no behaviour beyond small helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Separator of a retrieval intent and its sub-intent: ``faq/ask_name``.
RESPONSE_IDENTIFIER_DELIMITER = "/"
# Separator of intents in a multi-intent label: ``greet+ask_name``.
INTENT_SPLIT_SYMBOL = "+"


@dataclass(frozen=True, slots=True)
class EntitySpan:
    """An entity annotated in (or extracted from) a text.

    ``start``/``end`` are character offsets into the text; ``value`` is the
    normalised value (a synonym target or an explicit ``"value"``), which
    defaults to the annotated text.
    """

    start: int
    end: int
    entity: str
    value: Any
    role: str | None = None
    group: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "entity": self.entity,
            "value": self.value,
        }
        if self.role is not None:
            d["role"] = self.role
        if self.group is not None:
            d["group"] = self.group
        return d


@dataclass(frozen=True, slots=True)
class TrainingExample:
    """One annotated user message.

    ``intent`` is the full label: ``faq/ask_name`` for retrieval intents and
    ``greet+ask_name`` for multi-intents (as written in the data).
    """

    text: str
    intent: str
    entities: tuple[EntitySpan, ...] = ()
    metadata: dict[str, Any] | None = None

    @property
    def base_intent(self) -> str:
        """The intent without a retrieval sub-intent (``faq`` for ``faq/ask_name``)."""
        return self.intent.split(RESPONSE_IDENTIFIER_DELIMITER, 1)[0]


@dataclass(frozen=True, slots=True)
class RegexFeature:
    name: str
    pattern: str


@dataclass(frozen=True, slots=True)
class LookupTable:
    name: str
    elements: tuple[str, ...]


@dataclass(slots=True)
class NLUTrainingData:
    """Everything data/nlu.yml can hold, merged over all files."""

    examples: list[TrainingExample] = field(default_factory=list)
    # synonym text (lower-cased) -> canonical value
    synonyms: dict[str, str] = field(default_factory=dict)
    regexes: list[RegexFeature] = field(default_factory=list)
    lookups: list[LookupTable] = field(default_factory=list)
    # retrieval responses found in data (``utter_faq/ask_name`` -> variations)
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def merge(self, other: NLUTrainingData) -> NLUTrainingData:
        return NLUTrainingData(
            examples=[*self.examples, *other.examples],
            synonyms={**self.synonyms, **other.synonyms},
            regexes=[*self.regexes, *other.regexes],
            lookups=[*self.lookups, *other.lookups],
            responses={**self.responses, **other.responses},
        )

    @property
    def intents(self) -> list[str]:
        return sorted({ex.intent for ex in self.examples})

    @property
    def entity_types(self) -> list[str]:
        return sorted({e.entity for ex in self.examples for e in ex.entities})
