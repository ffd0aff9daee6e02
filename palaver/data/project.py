"""Loading a whole Rasa 3.x project directory.

``Project.load(root)`` reads ``domain.yml`` (or a ``domain/`` tree),
``config.yml``, every YAML file under ``data/`` (recursively, classified by
its top-level keys) and the test stories under ``tests/``. Like Rasa's
training importer, the domain is then completed from the data: retrieval
intents found in NLU data, responses written in data files, their ``utter_``
actions, and end-to-end bot texts (``bot:`` steps) as ``e2e_actions``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palaver.core.constants import UTTER_PREFIX
from palaver.core.domain import IS_RETRIEVAL_INTENT_KEY, Domain
from palaver.data import format_version
from palaver.data.config import ProjectConfig
from palaver.data.domain_reader import (
    KEY_ACTIONS,
    KEY_E2E_ACTIONS,
    KEY_INTENTS,
    KEY_RESPONSES,
    KEY_SLOTS,
    item_name,
    merge_domain_data,
    read_domain_paths,
)
from palaver.data.nlu_reader import KEY_NLU, read_nlu, retrieval_intents
from palaver.data.responses import validate_responses
from palaver.data.stories import ActionStep, StoryBlock
from palaver.data.stories_reader import KEY_RULES, KEY_STORIES, StoryReader
from palaver.data.yaml_io import error_at, kind, read_yaml_file, to_plain, yaml_files_under
from palaver.errors import ProjectDataError
from palaver.nlu.training_data import RESPONSE_IDENTIFIER_DELIMITER, NLUTrainingData

logger = logging.getLogger(__name__)

DATA_FILE_KEYS = (format_version.VERSION_KEY, KEY_NLU, KEY_RESPONSES, KEY_STORIES, KEY_RULES)
TEST_STORIES_FILE_PREFIX = "test_"

PathArg = str | Path | Sequence[str | Path]


@dataclass
class _DataFiles:
    """What the data files hold, before the domain is completed."""

    nlu: NLUTrainingData = field(default_factory=NLUTrainingData)
    responses: dict[str, Any] = field(default_factory=dict)
    stories: list[StoryBlock] = field(default_factory=list)
    rules: list[StoryBlock] = field(default_factory=list)
    test_stories: list[StoryBlock] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


@dataclass
class Project:
    """A loaded project.

    Attributes:
        root: the project directory.
        domain: the domain, completed from the data as Rasa's importer does.
        config: the model configuration.
        nlu: NLU training data; ``nlu.responses`` holds the retrieval responses.
        stories, rules: training stories and rules from ``data/``.
        test_stories: stories and rules from ``tests/`` and from ``data/test_*.yml``.
        data_files: the data files that were read.
    """

    root: Path
    domain: Domain
    config: ProjectConfig
    nlu: NLUTrainingData
    stories: list[StoryBlock]
    rules: list[StoryBlock]
    test_stories: list[StoryBlock]
    data_files: list[Path] = field(default_factory=list)

    @classmethod
    def load(
        cls,
        root: str | Path,
        *,
        domain: PathArg | None = None,
        config: str | Path | None = None,
        data: PathArg | None = None,
    ) -> Project:
        """Loads a project.

        Args:
            root: the project directory.
            domain: domain file(s)/directory instead of ``root/domain.yml`` or ``root/domain/``.
            config: config file instead of ``root/config.yml``.
            data: data file(s)/directories instead of ``root/data``.

        Raises:
            ProjectDataError: for missing or invalid files, with file and line.
        """
        root = Path(root)
        raw_domain = read_domain_paths(_domain_paths(root, domain))
        project_config = _load_config(root, config)
        data_paths = _paths(data) if data is not None else _default_data_paths(root)
        found = _read_data(data_paths, raw_domain)
        found.test_stories.extend(_read_tests(root / "tests", raw_domain))
        full_domain = Domain.from_dict(_complete_domain(raw_domain, found))
        found.nlu.responses = full_domain.retrieval_intent_responses
        return cls(
            root=root,
            domain=full_domain,
            config=project_config,
            nlu=found.nlu,
            stories=found.stories,
            rules=found.rules,
            test_stories=found.test_stories,
            data_files=found.files,
        )

    @property
    def retrieval_intents(self) -> list[str]:
        """Retrieval intents of the project (``faq`` for ``faq/ask_name``)."""
        return self.domain.retrieval_intents

    def fingerprint(self) -> str:
        """A hash of everything training reads (domain, config, NLU, stories, rules).

        Stable across runs and independent of file layout, comments and lines;
        test stories are not part of it.
        """
        payload = {
            "domain": self.domain.fingerprint(),
            "config": self.config.fingerprint(),
            "nlu": _nlu_content(self.nlu),
            "stories": [_block_content(b) for b in self.stories],
            "rules": [_block_content(b) for b in self.rules],
        }
        encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


# --- locating files -----------------------------------------------------------------------


def _paths(arg: PathArg) -> list[Path]:
    if isinstance(arg, str | Path):
        return [Path(arg)]
    return [Path(p) for p in arg]


def _domain_paths(root: Path, domain: PathArg | None) -> list[Path]:
    if domain is not None:
        return _paths(domain)
    for candidate in (root / "domain.yml", root / "domain.yaml", root / "domain"):
        if candidate.exists():
            return [candidate]
    raise ProjectDataError("no domain.yml (or domain/ directory) found", str(root))


def _load_config(root: Path, config: str | Path | None) -> ProjectConfig:
    if config is not None:
        return ProjectConfig.load(Path(config))
    for candidate in (root / "config.yml", root / "config.yaml"):
        if candidate.is_file():
            return ProjectConfig.load(candidate)
    logger.warning("%s has no config.yml; using Rasa's default configuration", root)
    return ProjectConfig()


def _files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(yaml_files_under(path))
        elif path.is_file():
            files.append(path)
        else:
            raise ProjectDataError("data file or directory not found", str(path))
    return files


def _default_data_paths(root: Path) -> list[Path]:
    data_dir = root / "data"
    if data_dir.is_dir():
        return [data_dir]
    logger.warning("%s has no data/ directory; the project has no training data", root)
    return []


# --- reading data files ----------------------------------------------------------------------


def _slot_types(raw_domain: Mapping[str, Any]) -> dict[str, str]:
    """Slot name -> short type name (``text``), also for Rasa class paths."""
    aliases = {"TextSlot": "text", "ListSlot": "list"}
    types: dict[str, str] = {}
    for name, definition in (raw_domain.get(KEY_SLOTS) or {}).items():
        type_name = str(definition.get("type", ""))
        short = type_name.rsplit(".", 1)[-1]
        types[name] = aliases.get(short, type_name)
    return types


def _read_data(paths: list[Path], raw_domain: Mapping[str, Any]) -> _DataFiles:
    found = _DataFiles()
    reader = StoryReader(_slot_types(raw_domain))
    for path in _files(paths):
        content = read_yaml_file(path)
        if content is None:
            continue
        if not _is_training_data(content, path):
            continue
        _check_data_file(content, path)
        if not format_version.is_readable(content, str(path)):
            continue
        found.files.append(path)
        _read_data_file(content, path, reader, found)
    return found


def _is_training_data(content: Any, path: Path) -> bool:
    """A YAML file in data/ with none of the training-data keys is not ours: skip it.

    Rasa ignores such files too (e.g. Rasa Pro ``flows:`` files); a file that
    mixes known keys with unknown ones is still an error (most likely a typo).
    """
    if isinstance(content, Mapping) and not any(
        key in DATA_FILE_KEYS and key != format_version.VERSION_KEY for key in content
    ):
        logger.warning(
            "%s has none of the training data keys (%s); it is skipped",
            path,
            ", ".join(k for k in DATA_FILE_KEYS if k != format_version.VERSION_KEY),
        )
        return False
    return True


def _check_data_file(content: Any, path: Path) -> None:
    if not isinstance(content, Mapping):
        raise ProjectDataError(f"a data file must be a mapping, got {kind(content)}", str(path), 1)
    for key in content:
        if key not in DATA_FILE_KEYS:
            raise error_at(
                content,
                f"unknown top-level key '{key}' in a data file; "
                f"allowed: {', '.join(DATA_FILE_KEYS)}",
                key,
            )


def _read_data_file(
    content: Mapping[str, Any], path: Path, reader: StoryReader, found: _DataFiles
) -> None:
    if content.get(KEY_NLU) is not None:
        found.nlu = found.nlu.merge(read_nlu(content[KEY_NLU], content))
    if content.get(KEY_RESPONSES) is not None:
        validate_responses(content[KEY_RESPONSES], content, KEY_RESPONSES)
        found.responses.update(content[KEY_RESPONSES])
    stories = reader.read(content.get(KEY_STORIES), is_rule=False, container=content)
    rules = reader.read(content.get(KEY_RULES), is_rule=True, container=content)
    found.stories.extend(stories)
    found.rules.extend(rules)
    if path.name.startswith(TEST_STORIES_FILE_PREFIX):
        # Rasa trains on data/test_*.yml stories too, and tests them.
        found.test_stories.extend([*stories, *rules])


def _read_tests(tests_dir: Path, raw_domain: Mapping[str, Any]) -> list[StoryBlock]:
    """Stories and rules of YAML files under ``tests/`` (other files there are skipped)."""
    if not tests_dir.is_dir():
        return []
    reader = StoryReader(_slot_types(raw_domain))
    blocks: list[StoryBlock] = []
    for path in yaml_files_under(tests_dir):
        content = read_yaml_file(path)
        if not isinstance(content, Mapping) or not (KEY_STORIES in content or KEY_RULES in content):
            logger.debug("%s holds no test stories; skipped", path)
            continue
        if not format_version.is_readable(content, str(path)):
            continue
        blocks.extend(reader.read(content.get(KEY_STORIES), is_rule=False, container=content))
        blocks.extend(reader.read(content.get(KEY_RULES), is_rule=True, container=content))
    return blocks


# --- completing the domain ------------------------------------------------------------------


def _complete_domain(raw_domain: dict[str, Any], found: _DataFiles) -> dict[str, Any]:
    """Adds what Rasa's importer adds to the domain from the training data."""
    retrieval = retrieval_intents(found.nlu)
    extra: dict[str, Any] = {
        KEY_INTENTS: [_retrieval_intent_entry(raw_domain, name) for name in retrieval],
        KEY_RESPONSES: found.responses,
        KEY_ACTIONS: [f"{UTTER_PREFIX}{name}" for name in retrieval],
        KEY_E2E_ACTIONS: sorted(_e2e_texts([*found.stories, *found.rules])),
    }
    existing_actions = {item_name(a) for a in raw_domain.get(KEY_ACTIONS) or []}
    extra[KEY_ACTIONS] = [a for a in extra[KEY_ACTIONS] if a not in existing_actions]
    return merge_domain_data(raw_domain, extra, prefer_new=True, warn=False)


def _retrieval_intent_entry(raw_domain: Mapping[str, Any], name: str) -> dict[str, Any]:
    for item in raw_domain.get(KEY_INTENTS) or []:
        if item_name(item) == name and isinstance(item, Mapping):
            return {name: {**to_plain(item[name]), IS_RETRIEVAL_INTENT_KEY: True}}
    return {name: {IS_RETRIEVAL_INTENT_KEY: True}}


def _e2e_texts(blocks: list[StoryBlock]) -> set[str]:
    return {
        step.action_text
        for block in blocks
        for step in block.steps
        if isinstance(step, ActionStep) and step.action_text
    }


# --- fingerprint content ------------------------------------------------------------------------


def _nlu_content(nlu: NLUTrainingData) -> dict[str, Any]:
    return {
        "examples": [
            [ex.text, ex.intent, [e.as_dict() for e in ex.entities], ex.metadata]
            for ex in nlu.examples
        ],
        "synonyms": nlu.synonyms,
        "regexes": [[r.name, r.pattern] for r in nlu.regexes],
        "lookups": [[t.name, list(t.elements)] for t in nlu.lookups],
        "responses": {k: v for k, v in nlu.responses.items() if RESPONSE_IDENTIFIER_DELIMITER in k},
    }


def _content(obj: Any) -> Any:
    """A dataclass as plain data without its location fields (``compare=False``)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        values = {
            f.name: _content(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.compare
        }
        return [type(obj).__name__, values]
    if isinstance(obj, list | tuple):
        return [_content(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _content(v) for k, v in obj.items()}
    return obj


def _block_content(block: StoryBlock) -> Any:
    return _content(block)
