"""Where domain items and NLU examples are written, for messages with ``file:line``.

The loaded :class:`~palaver.core.domain.Domain` and
:class:`~palaver.nlu.training_data.NLUTrainingData` keep no source lines, so
the validator reads the files once more (libyaml, fast) and indexes the lines
of domain entries, NLU intent blocks and single examples.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palaver.data.domain_reader import (
    KEY_ACTIONS,
    KEY_ENTITIES,
    KEY_FORMS,
    KEY_INTENTS,
    KEY_RESPONSES,
    KEY_SLOTS,
    domain_files,
    item_name,
)
from palaver.data.entities import EntityAnnotationError, parse_annotated_text
from palaver.data.nlu_reader import KEY_EXAMPLES, KEY_INTENT, KEY_NLU, KEY_TEXT
from palaver.data.yaml_io import YamlMap, YamlSeq, line_of, read_yaml_file
from palaver.errors import ProjectDataError
from palaver.quality.issues import NOWHERE, Location

_LIST_SECTIONS = (KEY_INTENTS, KEY_ENTITIES, KEY_ACTIONS)
_MAP_SECTIONS = (KEY_RESPONSES, KEY_SLOTS, KEY_FORMS)


@dataclass
class SourceIndex:
    """Lines of domain entries (by section and name) and of NLU intents and examples."""

    domain: dict[str, dict[str, Location]] = field(default_factory=dict)
    domain_sections: dict[str, Location] = field(default_factory=dict)
    nlu_intents: dict[str, Location] = field(default_factory=dict)
    examples: dict[tuple[str, str], list[Location]] = field(default_factory=dict)

    def domain_item(self, section: str, name: str) -> Location:
        """Where ``name`` is declared under ``section`` (or the section, or nowhere)."""
        found = self.domain.get(section, {}).get(name)
        if found is not None:
            return found
        return self.domain_sections.get(section, NOWHERE)

    def intent(self, name: str) -> Location:
        """The first ``- intent: name`` block of the NLU data."""
        return self.nlu_intents.get(name, NOWHERE)

    def intent_declaration(self, name: str) -> Location:
        """Where an intent is declared: in the domain, else (retrieval intents, which
        the domain gets from the data) its first NLU block."""
        found = self.domain.get(KEY_INTENTS, {}).get(name)
        if found is not None:
            return found
        for label, where in self.nlu_intents.items():
            if label == name or label.startswith(f"{name}/"):
                return where
        return self.domain_sections.get(KEY_INTENTS, NOWHERE)

    def example(self, intent: str, text: str, occurrence: int = 0) -> Location:
        """The ``occurrence``-th place of an example (plain text) of ``intent``."""
        places = self.examples.get((intent, text), [])
        if occurrence < len(places):
            return places[occurrence]
        return self.intent(intent)


def build_index(domain_paths: Iterable[Path], data_files: Iterable[Path]) -> SourceIndex:
    """Index domain files and NLU data files (unreadable files are skipped: loading
    the project already reported them)."""
    index = SourceIndex()
    for path in domain_paths:
        for file in _safe_domain_files(path):
            _index_domain(index, _read(file))
    for file in data_files:
        content = _read(file)
        if isinstance(content, Mapping):
            _index_domain(index, content)  # data files may hold responses
            _index_nlu(index, content.get(KEY_NLU))
    return index


def _safe_domain_files(path: Path) -> list[Path]:
    try:
        return domain_files(path)
    except ProjectDataError:
        return []


def _read(path: Path) -> Any:
    try:
        return read_yaml_file(path)
    except ProjectDataError:
        return None


def _where(node: Any, key: Any = None, *, index: int | None = None) -> Location:
    filename = node.filename if isinstance(node, YamlMap | YamlSeq) else None
    return filename, line_of(node, key, index=index)


def _index_domain(index: SourceIndex, content: Any) -> None:
    if not isinstance(content, YamlMap):
        return
    for section in (*_LIST_SECTIONS, *_MAP_SECTIONS):
        value = content.get(section)
        if value is None:
            continue
        index.domain_sections.setdefault(section, _where(content, section))
        names = index.domain.setdefault(section, {})
        if isinstance(value, YamlSeq):
            for position, item in enumerate(value):
                names.setdefault(item_name(item), _where(value, index=position))
        elif isinstance(value, YamlMap):
            for name in value:
                names.setdefault(str(name), _where(value, name))


def _index_nlu(index: SourceIndex, items: Any) -> None:
    if not isinstance(items, YamlSeq):
        return
    for position, item in enumerate(items):
        if not isinstance(item, YamlMap) or not isinstance(item.get(KEY_INTENT), str):
            continue
        intent = item[KEY_INTENT].strip()
        index.nlu_intents.setdefault(intent, _where(items, index=position))
        for text, where in _example_lines(item):
            index.examples.setdefault((intent, text), []).append(where)


def _example_lines(item: YamlMap) -> list[tuple[str, Location]]:
    raw = item.get(KEY_EXAMPLES)
    found: list[tuple[str, int | None]] = []
    if isinstance(raw, str):
        first = line_of(item, KEY_EXAMPLES, value=True)
        for offset, line in enumerate(raw.splitlines()):
            if line.startswith("-"):
                found.append((line[1:].strip(), None if first is None else first + offset))
    elif isinstance(raw, YamlSeq):
        found = [
            (_raw_text(entry), line_of(raw, index=position)) for position, entry in enumerate(raw)
        ]
    return [(_plain(text), (item.filename, line)) for text, line in found if text]


def _raw_text(entry: Any) -> str:
    if isinstance(entry, str):
        return entry.strip()
    if isinstance(entry, Mapping) and isinstance(entry.get(KEY_TEXT), str):
        return str(entry[KEY_TEXT]).strip()
    return ""


def _plain(text: str) -> str:
    try:
        return parse_annotated_text(text)[0]
    except EntityAnnotationError:
        return text


def default_domain_paths(
    root: Path, domain: str | Path | Sequence[str | Path] | None
) -> list[Path]:
    """The domain paths ``Project.load`` reads: those given, else ``domain.yml`` / ``domain/``."""
    if domain is not None:
        if isinstance(domain, str | Path):
            return [Path(domain)]
        return [Path(p) for p in domain]
    for candidate in (root / "domain.yml", root / "domain.yaml", root / "domain"):
        if candidate.exists():
            return [candidate]
    return []
