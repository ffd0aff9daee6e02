"""Reading project YAML fast, remembering where every key and item came from.

Rasa reads project files with ruamel in YAML 1.2 mode. ruamel's round-trip
loader is slow on big NLU files, so this module uses PyYAML's C parser
(libyaml) with a YAML 1.2 core-schema resolver: ``yes``/``no``/``on``/``off``
stay strings, ``010`` is ten and ``10:30`` is text, as in Rasa.

Mappings and sequences come back as :class:`YamlMap` / :class:`YamlSeq`
(``dict`` / ``list`` subclasses) that carry the file name and 1-based line
numbers, so readers can point errors at the offending line. Duplicate keys in
one mapping are an error, as in Rasa.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from palaver.errors import ProjectDataError

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - libyaml is part of the PyYAML wheels
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

YAML_EXTENSIONS = (".yml", ".yaml")

_TAG_MERGE = "tag:yaml.org,2002:merge"
_BLOCK_STYLES = ("|", ">")


class YamlMap(dict[Any, Any]):
    """A mapping read from YAML, with its source location.

    Attributes:
        filename: file the mapping was read from (``None`` for strings).
        line: 1-based line where the mapping starts.
        key_lines: key -> line of the key.
        value_lines: key -> line where the value's content starts (for a
            ``|`` block scalar, the line after the key).
    """

    __slots__ = ("filename", "key_lines", "line", "value_lines")

    def __init__(self, filename: str | None = None, line: int | None = None) -> None:
        super().__init__()
        self.filename = filename
        self.line = line
        self.key_lines: dict[Any, int] = {}
        self.value_lines: dict[Any, int] = {}


class YamlSeq(list[Any]):
    """A sequence read from YAML, with its source location (``item_lines[i]`` for item i)."""

    __slots__ = ("filename", "item_lines", "line")

    def __init__(self, filename: str | None = None, line: int | None = None) -> None:
        super().__init__()
        self.filename = filename
        self.line = line
        self.item_lines: list[int] = []


def _content_line(node: Node) -> int:
    line: int = node.start_mark.line + 1
    if isinstance(node, ScalarNode) and node.style in _BLOCK_STYLES:
        return line + 1
    return line


class _Loader(_BaseLoader):
    """libyaml parser + YAML 1.2 core schema + location-carrying containers."""

    yaml_implicit_resolvers: dict[Any, Any] = {}
    filename: str | None = None

    def construct_located_map(self, node: MappingNode) -> Iterator[YamlMap]:
        data = YamlMap(self.filename, node.start_mark.line + 1)
        yield data
        explicit = sum(1 for key_node, _ in node.value if key_node.tag != _TAG_MERGE)
        self.flatten_mapping(node)
        pairs = node.value
        first_explicit = len(pairs) - explicit
        explicit_keys: set[Any] = set()
        for index, (key_node, value_node) in enumerate(pairs):
            key = self.construct_object(key_node)
            if not isinstance(key, Hashable):
                raise ProjectDataError(
                    "a mapping key must be a plain value", self.filename, _content_line(key_node)
                )
            if index >= first_explicit and key in explicit_keys:
                raise ProjectDataError(
                    f"duplicate key '{key}' (first defined on line {data.key_lines[key]})",
                    self.filename,
                    key_node.start_mark.line + 1,
                )
            data[key] = self.construct_object(value_node)
            if index >= first_explicit:
                explicit_keys.add(key)
                data.key_lines[key] = key_node.start_mark.line + 1
            else:
                data.key_lines.setdefault(key, key_node.start_mark.line + 1)
            data.value_lines[key] = _content_line(value_node)

    def construct_located_seq(self, node: SequenceNode) -> Iterator[YamlSeq]:
        data = YamlSeq(self.filename, node.start_mark.line + 1)
        yield data
        data.item_lines = [_content_line(child) for child in node.value]
        data.extend(self.construct_object(child) for child in node.value)

    def construct_yaml12_int(self, node: ScalarNode) -> int:
        value = str(self.construct_scalar(node))
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        return int(value)  # YAML 1.2: a leading zero is still decimal


# YAML 1.2 core schema (what ruamel uses for Rasa); no timestamps, no yes/no booleans.
_CORE_SCHEMA_RESOLVERS: list[tuple[str, re.Pattern[str], list[str]]] = [
    (
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    ),
    (
        "tag:yaml.org,2002:int",
        re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
        list("-+0123456789"),
    ),
    (
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    ),
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
]
for _tag, _pattern, _first in _CORE_SCHEMA_RESOLVERS:
    _Loader.add_implicit_resolver(_tag, _pattern, _first)
_Loader.add_implicit_resolver(_TAG_MERGE, re.compile(r"^(?:<<)$"), ["<"])
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_located_map)
_Loader.add_constructor("tag:yaml.org,2002:omap", _Loader.construct_located_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_located_seq)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml12_int)


def _unescape_like_rasa(text: str) -> str:
    r"""Decodes ``\uXXXX`` escapes in ASCII-only files, as Rasa's reader does.

    Rasa runs ASCII files through ``raw_unicode_escape`` so emoji written as
    escapes work even in plain scalars. Undecodable escapes are left alone.
    """
    if not text.isascii() or ("\\u" not in text and "\\U" not in text):
        return text
    try:
        decoded = text.encode("utf-8").decode("raw_unicode_escape")
        return decoded.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeError:
        return text


def read_yaml(text: str, filename: str | None = None) -> Any:
    """Parses one YAML document.

    Args:
        text: the YAML source.
        filename: used in error messages and stored in the returned containers.

    Returns:
        The document: ``YamlMap``/``YamlSeq`` containers, scalars, or ``None``
        for an empty document.

    Raises:
        ProjectDataError: for a syntax error or a duplicate key (with the line).
    """
    loader = _Loader(_unescape_like_rasa(text))
    loader.filename = filename
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ProjectDataError(f"invalid YAML: {problem}", filename, line) from exc
    except yaml.YAMLError as exc:
        raise ProjectDataError(f"invalid YAML: {exc}", filename) from exc
    finally:
        loader.dispose()


def read_yaml_file(path: Path) -> Any:
    """Reads and parses a YAML file (UTF-8, a BOM is allowed).

    Raises:
        ProjectDataError: if the file cannot be read or parsed.
    """
    filename = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectDataError(f"cannot read file: {exc}", filename) from exc
    return read_yaml(text, filename)


def is_yaml_file(path: Path) -> bool:
    """Whether ``path`` has a YAML extension."""
    return path.suffix.lower() in YAML_EXTENSIONS


def yaml_files_under(directory: Path) -> list[Path]:
    """All YAML files below ``directory`` (recursive, hidden entries skipped), sorted."""
    found = [
        p
        for p in directory.rglob("*")
        if is_yaml_file(p)
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    ]
    return sorted(found)


# --- locations ---------------------------------------------------------------


def filename_of(node: Any) -> str | None:
    """The file a ``YamlMap``/``YamlSeq`` came from (``None`` for other values)."""
    if isinstance(node, YamlMap | YamlSeq):
        return node.filename
    return None


def line_of(
    node: Any, key: Any = None, *, index: int | None = None, value: bool = False
) -> int | None:
    """The 1-based line of ``node`` or of one of its keys/items, if known.

    Args:
        node: a ``YamlMap`` or ``YamlSeq`` (anything else has no location).
        key: for a map, the key to locate.
        index: for a sequence, the item to locate.
        value: for a map key, the line of the value's content instead of the key.
    """
    if isinstance(node, YamlMap):
        if key is None:
            return node.line
        lines = node.value_lines if value else node.key_lines
        return lines.get(key, node.line)
    if isinstance(node, YamlSeq):
        if index is not None and 0 <= index < len(node.item_lines):
            return node.item_lines[index]
        return node.line
    return None


def error_at(
    node: Any, message: str, key: Any = None, *, index: int | None = None, value: bool = False
) -> ProjectDataError:
    """A ``ProjectDataError`` located at ``node`` (and ``key`` / ``index``)."""
    return ProjectDataError(
        message, filename_of(node), line_of(node, key, index=index, value=value)
    )


def to_plain(value: Any) -> Any:
    """A deep copy with plain ``dict``/``list`` containers (JSON-friendly)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def kind(value: Any) -> str:
    """A short human name for a value's YAML type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


# --- writing -------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings as ``|`` literals.

    Strings that YAML 1.1 *or* 1.2 would read as another type are quoted, so
    the output reads back the same with this module and with Rasa (ruamel).
    """


for _tag, _pattern, _first in _CORE_SCHEMA_RESOLVERS:
    _Dumper.add_implicit_resolver(_tag, _pattern, _first)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(YamlMap, yaml.SafeDumper.represent_dict)
_Dumper.add_representer(YamlSeq, yaml.SafeDumper.represent_list)


def dump_yaml(data: Any) -> str:
    """Serializes ``data`` as block-style YAML, keeping key order."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
