"""Request bodies of the model routes: training data, NLU test data, test stories.

``POST /model/train`` takes one YAML (or JSON) document holding a whole
project, as Rasa's server does: config keys (``pipeline``, ``policies``...),
domain keys (``intents``, ``responses``...) and data keys (``nlu``,
``stories``, ``rules``). :func:`write_project` splits it into the files of a
project directory for the trainer. Every problem is a 400 naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from palaver.data.domain_reader import DOMAIN_KEYS
from palaver.data.format_version import LATEST_FORMAT_VERSION, VERSION_KEY
from palaver.data.stories import StoryBlock
from palaver.data.yaml_io import dump_yaml, read_yaml, to_plain
from palaver.errors import ProjectDataError
from palaver.nlu.training_data import EntitySpan, NLUTrainingData, TrainingExample
from palaver.server.errors import ErrorResponse

CONFIG_KEYS = ("recipe", "language", "assistant_id", "pipeline", "policies")
DATA_KEYS = ("nlu", "stories", "rules")
# Rasa 2 accepted these in the body; they are query parameters now and ignored here.
DEPRECATED_KEYS = ("force", "save_to_default_model_directory")
TRAINING_KEYS = frozenset({*CONFIG_KEYS, *DOMAIN_KEYS, *DATA_KEYS, *DEPRECATED_KEYS})

JSON_TYPES = frozenset({"application/json"})

BODY = "request body"


def _bad_body(message: str) -> ErrorResponse:
    return ErrorResponse(400, "BadRequest", message, {"in": "body"})


def parse_document(text: str, media_type: str) -> dict[str, Any]:
    """The body as a mapping: JSON for ``application/json``, YAML otherwise."""
    if media_type in JSON_TYPES:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise _bad_body(f"The request body is not valid JSON: {exc}") from exc
    else:
        try:
            data = read_yaml(text, BODY)
        except ProjectDataError as exc:
            raise _bad_body(f"The request body does not contain valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise _bad_body("The request body must be a mapping of training data keys.")
    return dict(data)


def check_keys(document: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(str(key) for key in document if key not in allowed)
    if unknown:
        raise _bad_body(
            f"Unknown key(s) in the request body: {', '.join(unknown)}. "
            f"Allowed keys: {', '.join(sorted(allowed))}."
        )


def _section(document: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: to_plain(document[key]) for key in keys if document.get(key) is not None}


def write_project(document: Mapping[str, Any], directory: Path) -> None:
    """Write a training document as ``config.yml``, ``domain.yml`` and ``data/training.yml``."""
    check_keys(document, TRAINING_KEYS)
    if not any(document.get(key) for key in (*DATA_KEYS, "intents", "responses")):
        raise _bad_body(
            "The request body holds no training data: give at least one of "
            "'nlu', 'stories', 'rules', 'intents' or 'responses'."
        )
    version = {VERSION_KEY: str(document.get(VERSION_KEY) or LATEST_FORMAT_VERSION)}
    domain = {**version, **_section(document, tuple(k for k in DOMAIN_KEYS if k != VERSION_KEY))}
    data = {**version, **_section(document, DATA_KEYS)}
    (directory / "data").mkdir(parents=True, exist_ok=True)
    (directory / "domain.yml").write_text(dump_yaml(domain), encoding="utf-8")
    (directory / "data" / "training.yml").write_text(dump_yaml(data), encoding="utf-8")
    config = _section(document, CONFIG_KEYS)
    if config:
        (directory / "config.yml").write_text(dump_yaml(config), encoding="utf-8")


# --- NLU test data ----------------------------------------------------------------------------

NLU_TEST_KEYS = TRAINING_KEYS


def nlu_from_document(document: Mapping[str, Any]) -> NLUTrainingData:
    """NLU examples from a YAML document (``nlu:``) or Rasa's JSON (``rasa_nlu_data``)."""
    from palaver.data.nlu_reader import read_nlu

    if "rasa_nlu_data" in document:
        data = _nlu_from_json(document["rasa_nlu_data"])
    else:
        check_keys(document, NLU_TEST_KEYS)
        try:
            data = read_nlu(document.get("nlu"), document)
        except ProjectDataError as exc:
            raise _bad_body(f"Invalid NLU data: {exc}") from exc
    if not data.examples:
        raise _bad_body("The request body holds no NLU examples to evaluate.")
    return data


def _json_entity(entity: Any, text: str, where: str) -> EntitySpan:
    if not isinstance(entity, Mapping):
        raise _bad_body(f"{where} must be an object.")
    start, end, name = entity.get("start"), entity.get("end"), entity.get("entity")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
        raise _bad_body(f"{where} needs 'start' < 'end' within the text.")
    if not isinstance(name, str) or not name:
        raise _bad_body(f"{where} needs an 'entity' name.")
    value = entity.get("value", text[start:end])
    return EntitySpan(start, end, name, value, entity.get("role"), entity.get("group"))


def _json_example(item: Any, index: int) -> TrainingExample:
    where = f"rasa_nlu_data.common_examples[{index}]"
    if not isinstance(item, Mapping):
        raise _bad_body(f"{where} must be an object.")
    text, intent = item.get("text"), item.get("intent")
    if not isinstance(text, str) or not text.strip():
        raise _bad_body(f"{where} needs a non-empty 'text'.")
    if intent is not None and not isinstance(intent, str):
        raise _bad_body(f"{where}.intent must be a string.")
    raw_entities = item.get("entities") or []
    if not isinstance(raw_entities, list):
        raise _bad_body(f"{where}.entities must be a list.")
    entities = tuple(
        _json_entity(e, text, f"{where}.entities[{i}]") for i, e in enumerate(raw_entities)
    )
    return TrainingExample(text, intent or "", entities)


def _nlu_from_json(raw: Any) -> NLUTrainingData:
    if not isinstance(raw, Mapping):
        raise _bad_body("'rasa_nlu_data' must be an object.")
    examples = raw.get("common_examples") or []
    if not isinstance(examples, list):
        raise _bad_body("'rasa_nlu_data.common_examples' must be a list.")
    return NLUTrainingData(examples=[_json_example(e, i) for i, e in enumerate(examples)])


# --- test stories --------------------------------------------------------------------------------

STORY_TEST_KEYS = frozenset({VERSION_KEY, "stories", "rules"})


def parse_test_stories(text: str, slot_types: Mapping[str, str]) -> list[StoryBlock]:
    """Story blocks of a YAML test stories document (rules are not evaluated, as in Rasa).

    Raises:
        ProjectDataError: invalid YAML, an unknown top-level key or a malformed story.
    """
    from palaver.data.stories_reader import StoryReader

    content = read_yaml(text, BODY)
    if not isinstance(content, Mapping):
        raise ProjectDataError("test stories must be a YAML mapping with a 'stories' key", BODY)
    unknown = sorted(str(key) for key in content if key not in STORY_TEST_KEYS)
    if unknown:
        raise ProjectDataError(
            f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(STORY_TEST_KEYS))}",
            BODY,
        )
    return StoryReader(slot_types).read(content.get("stories"), is_rule=False, container=content)


def stories_from_text(text: str, slot_types: Mapping[str, str]) -> list[StoryBlock]:
    """:func:`parse_test_stories`, with problems (and no stories) as 400s."""
    try:
        stories = parse_test_stories(text, slot_types)
    except ProjectDataError as exc:
        raise _bad_body(f"Invalid test stories: {exc}") from exc
    if not stories:
        raise _bad_body("The request body holds no stories to evaluate.")
    return stories
