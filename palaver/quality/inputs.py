"""Reading test inputs given on the command line: NLU files and test story files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from palaver.core.domain import Domain
from palaver.data import format_version
from palaver.data.nlu_reader import KEY_NLU, read_nlu
from palaver.data.stories import StoryBlock
from palaver.data.stories_reader import KEY_RULES, KEY_STORIES, StoryReader
from palaver.data.yaml_io import read_yaml_file, yaml_files_under
from palaver.errors import ProjectDataError
from palaver.nlu.training_data import RESPONSE_IDENTIFIER_DELIMITER, NLUTrainingData

KEY_RESPONSES = "responses"


def yaml_files(paths: Sequence[str | Path]) -> list[Path]:
    """The YAML files at ``paths`` (directories are searched recursively).

    Raises:
        ProjectDataError: a path does not exist.
    """
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(yaml_files_under(path))
        elif path.is_file():
            files.append(path)
        else:
            raise ProjectDataError("file or directory not found", str(path))
    return files


def read_nlu_paths(paths: Sequence[str | Path]) -> NLUTrainingData:
    """NLU examples (and retrieval responses) of YAML files; other content is ignored.

    Raises:
        ProjectDataError: a missing path or invalid NLU data, with file and line.
    """
    data = NLUTrainingData()
    for file in yaml_files(paths):
        content = read_yaml_file(file)
        if not isinstance(content, Mapping):
            continue
        if content.get(KEY_NLU) is not None:
            data = data.merge(read_nlu(content[KEY_NLU], content))
        responses = content.get(KEY_RESPONSES)
        if isinstance(responses, Mapping):
            data.responses.update(
                {
                    str(name): list(variations)
                    for name, variations in responses.items()
                    if RESPONSE_IDENTIFIER_DELIMITER in str(name)
                }
            )
    return data


def read_story_paths(paths: Sequence[str | Path], domain: Domain) -> list[StoryBlock]:
    """Stories and rules of YAML files (test stories given with ``--stories``).

    Raises:
        ProjectDataError: a missing path or an invalid story, with file and line.
    """
    reader = StoryReader({slot.name: slot.type_name for slot in domain.slots})
    blocks: list[StoryBlock] = []
    for file in yaml_files(paths):
        content = read_yaml_file(file)
        if not isinstance(content, Mapping) or not format_version.is_readable(content, str(file)):
            continue
        blocks += reader.read(content.get(KEY_STORIES), is_rule=False, container=content)
        blocks += reader.read(content.get(KEY_RULES), is_rule=True, container=content)
    return blocks
