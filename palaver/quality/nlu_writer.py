"""NLU training data back to Rasa 3 YAML (``nlu:`` items and retrieval ``responses:``).

Examples keep their inline entity annotations (``[Berlin](city)``); an intent
whose examples carry metadata (or span lines) is written in the list form.
Reading the output with :mod:`palaver.data` gives the same examples back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from palaver.core.story_writer import format_message
from palaver.data.format_version import LATEST_FORMAT_VERSION
from palaver.data.yaml_io import dump_yaml
from palaver.nlu.training_data import NLUTrainingData, TrainingExample


def nlu_yaml(data: NLUTrainingData, *, with_features: bool = True) -> str:
    """The Rasa YAML of ``data``.

    Args:
        data: examples, synonyms, regexes, lookups and retrieval responses.
        with_features: also write synonyms, regexes and lookup tables.
    """
    items: list[dict[str, Any]] = _intent_items(data.examples)
    if with_features:
        items.extend(_synonym_items(data.synonyms))
        items.extend({"regex": r.name, "examples": _block([r.pattern])} for r in data.regexes)
        items.extend({"lookup": t.name, "examples": _block(t.elements)} for t in data.lookups)
    document: dict[str, Any] = {"version": LATEST_FORMAT_VERSION, "nlu": items}
    if data.responses:
        document["responses"] = {name: list(v) for name, v in sorted(data.responses.items())}
    return dump_yaml(document)


def annotated(example: TrainingExample) -> str:
    """The example text with its entities annotated inline."""
    return format_message(example.text, [span.as_dict() for span in example.entities])


def _intent_items(examples: Iterable[TrainingExample]) -> list[dict[str, Any]]:
    by_intent: dict[str, list[TrainingExample]] = {}
    for example in examples:
        by_intent.setdefault(example.intent, []).append(example)
    return [_intent_item(intent, group) for intent, group in by_intent.items()]


def _intent_item(intent: str, examples: list[TrainingExample]) -> dict[str, Any]:
    texts = [annotated(example) for example in examples]
    if any(example.metadata for example in examples) or any("\n" in t for t in texts):
        entries: list[dict[str, Any]] = []
        for example, text in zip(examples, texts, strict=True):
            entry: dict[str, Any] = {"text": text}
            if example.metadata:
                entry["metadata"] = dict(example.metadata)
            entries.append(entry)
        return {"intent": intent, "examples": entries}
    return {"intent": intent, "examples": _block(texts)}


def _synonym_items(synonyms: Mapping[str, str]) -> list[dict[str, Any]]:
    by_value: dict[str, list[str]] = {}
    for text, value in synonyms.items():
        if text != value:
            by_value.setdefault(str(value), []).append(text)
    return [{"synonym": value, "examples": _block(texts)} for value, texts in by_value.items()]


def _block(lines: Iterable[str]) -> str:
    """A ``|`` block of ``- `` lines (always multi-line, so the dumper uses ``|``)."""
    return "".join(f"- {line}\n" for line in lines)
