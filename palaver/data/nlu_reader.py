"""Reading the ``nlu:`` section of data files into :class:`NLUTrainingData`.

Items are ``intent`` (with ``examples`` as a ``|`` block of ``- `` lines or a
list of ``{text, metadata}``), ``synonym``, ``regex`` and ``lookup``.
Examples may carry inline entity annotations (see :mod:`palaver.data.entities`);
an annotation whose value differs from its text also defines a synonym, as in
Rasa. Retrieval intents are written ``faq/ask_name``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from palaver.data.entities import EntityAnnotationError, parse_annotated_text
from palaver.data.yaml_io import error_at, filename_of, kind, line_of
from palaver.errors import ProjectDataError
from palaver.nlu.training_data import (
    EntitySpan,
    LookupTable,
    NLUTrainingData,
    RegexFeature,
    TrainingExample,
)

logger = logging.getLogger(__name__)

KEY_NLU = "nlu"
KEY_INTENT = "intent"
KEY_SYNONYM = "synonym"
KEY_REGEX = "regex"
KEY_LOOKUP = "lookup"
KEY_EXAMPLES = "examples"
KEY_METADATA = "metadata"
KEY_TEXT = "text"

_ITEM_KINDS = (KEY_INTENT, KEY_SYNONYM, KEY_REGEX, KEY_LOOKUP)
_STRIP = "\n\r "

# One example: its text and the line it is on (None when unknown).
_Example = tuple[str, int | None, Any]


def read_nlu(items: Any, container: Any = None) -> NLUTrainingData:
    """Reads the list under an ``nlu:`` key.

    Args:
        items: the list under ``nlu``.
        container: the mapping holding the ``nlu`` key (for error locations).

    Raises:
        ProjectDataError: for a malformed item or annotation, pointing at its line.
    """
    data = NLUTrainingData()
    if items is None:
        return data
    if not isinstance(items, list):
        raise error_at(container, f"'nlu' must be a list, got {kind(items)}", KEY_NLU)
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise error_at(items, f"nlu item must be a mapping, got {kind(item)}", index=index)
        _read_item(item, data)
    return data


def _read_item(item: Mapping[str, Any], data: NLUTrainingData) -> None:
    kinds = [k for k in _ITEM_KINDS if k in item]
    if len(kinds) != 1:
        unknown = [str(k) for k in item if k not in (*_ITEM_KINDS, KEY_EXAMPLES, KEY_METADATA)]
        what = f"unknown key '{unknown[0]}'" if unknown else "no single item type"
        raise error_at(
            item,
            f"nlu item has {what}; an item is one of: {', '.join(_ITEM_KINDS)} (with 'examples')",
            unknown[0] if unknown else None,
        )
    item_kind = kinds[0]
    allowed = {item_kind, KEY_EXAMPLES} | ({KEY_METADATA} if item_kind == KEY_INTENT else set())
    for key in item:
        if key not in allowed:
            raise error_at(item, f"{item_kind} item has unknown key '{key}'", key)
    name = item[item_kind]
    if not isinstance(name, str) or not name.strip():
        raise error_at(item, f"'{item_kind}' must be a non-empty string, got {name!r}", item_kind)
    examples = list(_examples(item, item_kind == KEY_INTENT))
    if not examples:
        logger.warning(
            "%s:%s: %s '%s' has no examples",
            filename_of(item),
            line_of(item, item_kind),
            item_kind,
            name,
        )
    _READERS[item_kind](item, name.strip(), examples, data)


def _examples(item: Mapping[str, Any], allow_metadata: bool) -> Iterator[_Example]:
    raw = item.get(KEY_EXAMPLES)
    if raw is None:
        return
    if isinstance(raw, str):
        yield from _block_examples(item, raw)
    elif isinstance(raw, list):
        yield from _list_examples(raw, allow_metadata)
    else:
        raise error_at(
            item,
            f"'examples' must be a '|' block of '- ' lines or a list, got {kind(raw)}",
            KEY_EXAMPLES,
        )


def _block_examples(item: Mapping[str, Any], block: str) -> Iterator[_Example]:
    first_line = line_of(item, KEY_EXAMPLES, value=True)
    found = False
    for offset, line in enumerate(block.splitlines()):
        if line.startswith("-"):
            found = True
            number = first_line + offset if first_line is not None else None
            yield line[1:].strip(_STRIP), number, None
    if not found and block.strip():
        # Rasa reads no example from such a block; say why instead of failing.
        logger.warning(
            "%s:%s: 'examples' lines must start with '- '; none does",
            filename_of(item),
            first_line,
        )


def _list_examples(raw: list[Any], allow_metadata: bool) -> Iterator[_Example]:
    for index, entry in enumerate(raw):
        line = line_of(raw, index=index)
        if isinstance(entry, str):
            yield entry.strip(_STRIP), line, None
            continue
        if not isinstance(entry, Mapping) or not isinstance(entry.get(KEY_TEXT), str):
            raise error_at(
                raw, "each example must be a string or {text: ..., metadata: ...}", index=index
            )
        for key in entry:
            if key not in (KEY_TEXT, KEY_METADATA) or (key == KEY_METADATA and not allow_metadata):
                raise error_at(entry, f"example has unknown key '{key}'", key)
        yield entry[KEY_TEXT].strip(_STRIP), line, entry.get(KEY_METADATA)


def _read_intent(
    item: Mapping[str, Any], intent: str, examples: list[_Example], data: NLUTrainingData
) -> None:
    intent_metadata = item.get(KEY_METADATA)
    for text, line, example_metadata in examples:
        if not text:
            continue
        plain, entities = _parse(text, item, line)
        for span in entities:
            _add_synonym_from_entity(plain, span, data)
        data.examples.append(
            TrainingExample(plain, intent, entities, _metadata(intent_metadata, example_metadata))
        )


def _parse(
    text: str, item: Mapping[str, Any], line: int | None
) -> tuple[str, tuple[EntitySpan, ...]]:
    try:
        return parse_annotated_text(text)
    except EntityAnnotationError as exc:
        raise ProjectDataError(str(exc), filename_of(item), line) from exc


def _metadata(intent_metadata: Any, example_metadata: Any) -> dict[str, Any] | None:
    if intent_metadata is None and example_metadata is None:
        return None
    metadata: dict[str, Any] = {}
    if intent_metadata is not None:
        metadata[KEY_INTENT] = intent_metadata
    if example_metadata is not None:
        metadata["example"] = example_metadata
    return metadata


def _add_synonym_from_entity(plain: str, span: EntitySpan, data: NLUTrainingData) -> None:
    original = plain[span.start : span.end]
    if isinstance(span.value, str) and span.value != original:
        _add_synonym(original, span.value, data)


def _add_synonym(original: str, value: str, data: NLUTrainingData) -> None:
    key = original.lower()
    previous = data.synonyms.get(key)
    if previous is not None and previous != value:
        logger.warning(
            "synonym '%s' maps to both '%s' and '%s'; using '%s'", original, previous, value, value
        )
    data.synonyms[key] = value


def _read_synonym(
    item: Mapping[str, Any], name: str, examples: list[_Example], data: NLUTrainingData
) -> None:
    for text, _, _ in examples:
        if text:
            _add_synonym(text, name, data)


def _read_regex(
    item: Mapping[str, Any], name: str, examples: list[_Example], data: NLUTrainingData
) -> None:
    for pattern, line, _ in examples:
        if not pattern:
            continue
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ProjectDataError(
                f"regex '{name}': invalid pattern '{pattern}': {exc}", filename_of(item), line
            ) from exc
        data.regexes.append(RegexFeature(name, pattern))


def _read_lookup(
    item: Mapping[str, Any], name: str, examples: list[_Example], data: NLUTrainingData
) -> None:
    elements = tuple(text for text, _, _ in examples if text)
    data.lookups.append(LookupTable(name, elements))


_READERS = {
    KEY_INTENT: _read_intent,
    KEY_SYNONYM: _read_synonym,
    KEY_REGEX: _read_regex,
    KEY_LOOKUP: _read_lookup,
}


def retrieval_intents(data: NLUTrainingData) -> list[str]:
    """Base names of the retrieval intents in the data (``faq`` for ``faq/ask_name``), sorted."""
    return sorted({ex.base_intent for ex in data.examples if ex.base_intent != ex.intent})
