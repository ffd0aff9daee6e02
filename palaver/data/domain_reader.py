"""Reading, checking and merging domain files (``domain.yml`` or a ``domain/`` tree).

Each file is checked on its own, so errors point at its lines; the checked
documents are then merged into one raw domain dict, from which
:class:`palaver.core.domain.Domain` is built. Checks that need the whole domain
(a form requiring an undeclared slot, a bad slot type) run there, still
pointing at the file and line thanks to the located containers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from palaver.data import format_version
from palaver.data.responses import validate_responses
from palaver.data.yaml_io import (
    error_at,
    filename_of,
    kind,
    read_yaml,
    read_yaml_file,
    yaml_files_under,
)
from palaver.errors import ProjectDataError

logger = logging.getLogger(__name__)

KEY_INTENTS = "intents"
KEY_ENTITIES = "entities"
KEY_SLOTS = "slots"
KEY_RESPONSES = "responses"
KEY_ACTIONS = "actions"
KEY_FORMS = "forms"
KEY_E2E_ACTIONS = "e2e_actions"
KEY_SESSION_CONFIG = "session_config"
KEY_CONFIG = "config"
KEY_REQUIRED_SLOTS = "required_slots"
KEY_IGNORED_INTENTS = "ignored_intents"
SESSION_EXPIRATION_TIME_KEY = "session_expiration_time"
CARRY_OVER_SLOTS_KEY = "carry_over_slots_to_new_session"
STORE_ENTITIES_AS_SLOTS_KEY = "store_entities_as_slots"

DOMAIN_KEYS = (
    format_version.VERSION_KEY,
    KEY_INTENTS,
    KEY_ENTITIES,
    KEY_SLOTS,
    KEY_RESPONSES,
    KEY_ACTIONS,
    KEY_FORMS,
    KEY_E2E_ACTIONS,
    KEY_SESSION_CONFIG,
    KEY_CONFIG,
)


# --- one document ----------------------------------------------------------------


def check_domain_data(data: Any, filename: str | None = None) -> Mapping[str, Any]:
    """Checks the structure of one domain document.

    Args:
        data: the parsed document (``None`` for an empty file).
        filename: for error messages when ``data`` carries no location.

    Returns:
        ``data`` itself (an empty dict for ``None``).

    Raises:
        ProjectDataError: unknown top-level key, badly typed section, duplicate
            intent/entity/action, malformed response, form or session config.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ProjectDataError(f"a domain must be a mapping, got {kind(data)}", filename, 1)
    for key in data:
        if key not in DOMAIN_KEYS:
            raise error_at(
                data,
                f"unknown domain key '{key}'; allowed keys: {', '.join(DOMAIN_KEYS)}",
                key,
            )
    for key, check in _SECTION_CHECKS.items():
        if data.get(key) is not None:
            check(data, key)
    return data


def _list_section(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data[key]
    if not isinstance(value, list):
        raise error_at(data, f"'{key}' must be a list, got {kind(value)}", key)
    return value


def _map_section(data: Mapping[str, Any], key: str) -> Mapping[Any, Any]:
    value = data[key]
    if not isinstance(value, Mapping):
        raise error_at(data, f"'{key}' must be a mapping, got {kind(value)}", key)
    return value


def item_name(item: Any) -> str:
    """The name of a list entry written as ``name`` or ``{name: {...}}``."""
    if isinstance(item, Mapping):
        return str(next(iter(item)))
    return str(item)


def _check_named_list(
    data: Mapping[str, Any],
    key: str,
    what: str,
    check_properties: Callable[[str, Any, Any], None],
) -> None:
    """Entries are ``name`` or ``{name: {properties}}``; names are unique."""
    items = _list_section(data, key)
    seen: set[str] = set()
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            if len(item) != 1:
                raise error_at(
                    items, f"each {what} must be a name or a one-key mapping", index=index
                )
            name, properties = next(iter(item.items()))
            if not isinstance(name, str) or not name:
                raise error_at(items, f"{what} name must be a string", index=index)
            check_properties(name, properties, item)
        elif isinstance(item, str) and item:
            name = item
        else:
            raise error_at(items, f"{what} must be a name, got {kind(item)}", index=index)
        if name in seen:
            raise error_at(items, f"duplicate {what} '{name}'", index=index)
        seen.add(name)


def _check_name_list(value: Any, container: Any, key: str, what: str) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise error_at(container, f"{what}: '{key}' must be a list of names", key)


def _check_intent_properties(name: str, properties: Any, item: Any) -> None:
    if not isinstance(properties, Mapping) or not properties:
        raise error_at(
            item,
            f"intent '{name}' has no properties; remove the ':' after its name "
            "or add use_entities / ignore_entities",
            name,
        )
    use_entities = properties.get("use_entities")
    if not isinstance(use_entities, bool | None | list) or (
        isinstance(use_entities, list) and not all(isinstance(e, str) for e in use_entities)
    ):
        raise error_at(
            properties,
            f"intent '{name}': 'use_entities' must be true, false or a list of entities",
            "use_entities",
        )
    _check_name_list(
        properties.get("ignore_entities"), properties, "ignore_entities", f"intent '{name}'"
    )
    retrieval = properties.get("is_retrieval_intent")
    if retrieval is not None and not isinstance(retrieval, bool):
        raise error_at(
            properties,
            f"intent '{name}': 'is_retrieval_intent' must be true or false",
            "is_retrieval_intent",
        )


def _check_entity_properties(name: str, properties: Any, item: Any) -> None:
    if not isinstance(properties, Mapping) or not properties:
        raise error_at(
            item,
            f"entity '{name}' has no properties; remove the ':' after its name "
            "or add roles / groups",
            name,
        )
    for key in ("roles", "groups"):
        _check_name_list(properties.get(key), properties, key, f"entity '{name}'")
    influence = properties.get("influence_conversation")
    if influence is not None and not isinstance(influence, bool):
        raise error_at(
            properties,
            f"entity '{name}': 'influence_conversation' must be true or false",
            "influence_conversation",
        )


def _check_action_properties(name: str, properties: Any, item: Any) -> None:
    if not isinstance(properties, Mapping):
        raise error_at(
            item, f"action '{name}' must be a name or '{name}: {{send_domain: true}}'", name
        )
    for key, value in properties.items():
        if key != "send_domain":
            raise error_at(
                properties, f"action '{name}' has unknown key '{key}' (allowed: send_domain)", key
            )
        if not isinstance(value, bool):
            raise error_at(properties, f"action '{name}': 'send_domain' must be true or false", key)


def _check_intents(data: Mapping[str, Any], key: str) -> None:
    _check_named_list(data, key, "intent", _check_intent_properties)


def _check_entities(data: Mapping[str, Any], key: str) -> None:
    _check_named_list(data, key, "entity", _check_entity_properties)


def _check_actions(data: Mapping[str, Any], key: str) -> None:
    _check_named_list(data, key, "action", _check_action_properties)


def _check_slots(data: Mapping[str, Any], key: str) -> None:
    slots = _map_section(data, key)
    for name, definition in slots.items():
        if not isinstance(name, str) or not name:
            raise error_at(slots, f"slot name must be a string, got {name!r}", name)
        if not isinstance(definition, Mapping):
            raise error_at(
                slots,
                f"slot '{name}' must be a mapping with a 'type', got {kind(definition)}",
                name,
            )
        if "type" not in definition:
            raise error_at(slots, f"slot '{name}' has no 'type'", name)


def _check_forms(data: Mapping[str, Any], key: str) -> None:
    forms = _map_section(data, key)
    for name, form in forms.items():
        if not isinstance(name, str) or not name:
            raise error_at(forms, f"form name must be a string, got {name!r}", name)
        if form is None:
            continue
        if not isinstance(form, Mapping):
            raise error_at(forms, f"form '{name}' must be a mapping, got {kind(form)}", name)
        for form_key in form:
            if form_key not in (KEY_REQUIRED_SLOTS, KEY_IGNORED_INTENTS):
                raise error_at(
                    form,
                    f"form '{name}' has unknown key '{form_key}' "
                    f"(allowed: {KEY_REQUIRED_SLOTS}, {KEY_IGNORED_INTENTS})",
                    form_key,
                )
        _check_form_slots(name, form)


def _check_form_slots(name: str, form: Mapping[str, Any]) -> None:
    required = form.get(KEY_REQUIRED_SLOTS)
    if isinstance(required, Mapping):
        raise error_at(
            form,
            f"form '{name}': '{KEY_REQUIRED_SLOTS}' must be a list of slot names "
            "(Rasa 3 format: slot mappings belong under 'slots')",
            KEY_REQUIRED_SLOTS,
        )
    _check_name_list(required, form, KEY_REQUIRED_SLOTS, f"form '{name}'")
    ignored = form.get(KEY_IGNORED_INTENTS)
    if ignored is not None and KEY_REQUIRED_SLOTS not in form:
        raise error_at(
            form,
            f"form '{name}' uses '{KEY_IGNORED_INTENTS}', which needs '{KEY_REQUIRED_SLOTS}' too",
            KEY_IGNORED_INTENTS,
        )
    if not isinstance(ignored, str):
        _check_name_list(ignored, form, KEY_IGNORED_INTENTS, f"form '{name}'")


def _check_e2e_actions(data: Mapping[str, Any], key: str) -> None:
    items = _list_section(data, key)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise error_at(items, f"e2e action must be a string, got {kind(item)}", index=index)


def _check_session_config(data: Mapping[str, Any], key: str) -> None:
    config = _map_section(data, key)
    for config_key, value in config.items():
        if config_key == SESSION_EXPIRATION_TIME_KEY:
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                raise error_at(
                    config,
                    f"'{SESSION_EXPIRATION_TIME_KEY}' must be a number of minutes >= 0, "
                    f"got {value!r}",
                    config_key,
                )
        elif config_key == CARRY_OVER_SLOTS_KEY:
            if not isinstance(value, bool | None):
                raise error_at(
                    config, f"'{CARRY_OVER_SLOTS_KEY}' must be true or false", config_key
                )
        else:
            raise error_at(
                config,
                f"unknown session_config key '{config_key}' "
                f"(allowed: {SESSION_EXPIRATION_TIME_KEY}, {CARRY_OVER_SLOTS_KEY})",
                config_key,
            )


def _check_config(data: Mapping[str, Any], key: str) -> None:
    config = _map_section(data, key)
    for config_key, value in config.items():
        if config_key != STORE_ENTITIES_AS_SLOTS_KEY:
            raise error_at(
                config,
                f"unknown domain config key '{config_key}' "
                f"(allowed: {STORE_ENTITIES_AS_SLOTS_KEY})",
                config_key,
            )
        if not isinstance(value, bool | None):
            raise error_at(
                config, f"'{STORE_ENTITIES_AS_SLOTS_KEY}' must be true or false", config_key
            )


def _check_responses(data: Mapping[str, Any], key: str) -> None:
    validate_responses(data[key], data, key)


_SECTION_CHECKS: dict[str, Callable[[Mapping[str, Any], str], None]] = {
    KEY_INTENTS: _check_intents,
    KEY_ENTITIES: _check_entities,
    KEY_SLOTS: _check_slots,
    KEY_RESPONSES: _check_responses,
    KEY_ACTIONS: _check_actions,
    KEY_FORMS: _check_forms,
    KEY_E2E_ACTIONS: _check_e2e_actions,
    KEY_SESSION_CONFIG: _check_session_config,
    KEY_CONFIG: _check_config,
}


# --- merging ------------------------------------------------------------------------


def merge_domain_data(
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    prefer_new: bool = True,
    warn: bool = True,
) -> dict[str, Any]:
    """Merges two checked domain documents.

    Lists (intents, entities, actions) and mappings (slots, responses, forms)
    are united by name; e2e actions are united and sorted (as Rasa does).

    Args:
        base: the domain merged so far.
        new: the domain to add.
        prefer_new: on a name defined in both, keep ``new``'s definition
            (otherwise ``base``'s).
        warn: log a warning for each name defined differently in both.

    Returns:
        A new top-level dict; entries are shared with the inputs, not copied.
    """
    source = filename_of(new) or "<merged domain>"
    merged: dict[str, Any] = {k: v for k, v in base.items() if v is not None}
    for key in (KEY_INTENTS, KEY_ENTITIES, KEY_ACTIONS):
        if new.get(key):
            merged[key] = _merge_named_lists(
                key, base.get(key) or [], new[key], prefer_new, warn, source
            )
    for key in (KEY_SLOTS, KEY_RESPONSES, KEY_FORMS):
        if new.get(key):
            merged[key] = _merge_mappings(
                key, base.get(key) or {}, new[key], prefer_new, warn, source
            )
    if new.get(KEY_E2E_ACTIONS):
        merged[KEY_E2E_ACTIONS] = sorted(
            {*(base.get(KEY_E2E_ACTIONS) or []), *new[KEY_E2E_ACTIONS]}
        )
    for key in (KEY_SESSION_CONFIG, KEY_CONFIG):
        if new.get(key) is not None and (prefer_new or base.get(key) is None):
            if warn and base.get(key) is not None and base[key] != new[key]:
                logger.warning("domain '%s' is set in several domain files; using %s", key, source)
            merged[key] = new[key]
    return merged


def _warn_conflict(section: str, name: str, source: str, prefer_new: bool) -> None:
    winner = source if prefer_new else "the earlier definition"
    logger.warning(
        "domain %s '%s' is defined differently in several domain files; using %s",
        section,
        name,
        winner,
    )


def _merge_named_lists(
    section: str,
    base: list[Any],
    new: list[Any],
    prefer_new: bool,
    warn: bool,
    source: str,
) -> list[Any]:
    merged: dict[str, Any] = {item_name(item): item for item in base}
    for item in new:
        name = item_name(item)
        if name in merged and merged[name] != item:
            if warn:
                _warn_conflict(section, name, source, prefer_new)
            if not prefer_new:
                continue
        merged[name] = item
    return list(merged.values())


def _merge_mappings(
    section: str,
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    prefer_new: bool,
    warn: bool,
    source: str,
) -> dict[str, Any]:
    merged = dict(base)
    for name, value in new.items():
        if name in merged and merged[name] != value:
            if warn:
                _warn_conflict(section, name, source, prefer_new)
            if not prefer_new:
                continue
        merged[name] = value
    return merged


# --- files --------------------------------------------------------------------------


def parse_domain_text(text: str, filename: str | None = None) -> Mapping[str, Any]:
    """Parses and checks one domain document given as text ({} if skipped)."""
    return _checked(read_yaml(text, filename), filename)


def read_domain_file(path: Path) -> Mapping[str, Any]:
    """Reads and checks one domain file ({} if empty or of a newer format)."""
    return _checked(read_yaml_file(path), str(path))


def _checked(data: Any, filename: str | None) -> Mapping[str, Any]:
    checked = check_domain_data(data, filename)
    if checked and not format_version.is_readable(checked, filename):
        return {}
    return checked


def domain_files(path: Path) -> list[Path]:
    """The domain files at ``path``: the file itself, or the YAML files under a directory.

    Raises:
        ProjectDataError: if ``path`` does not exist.
    """
    if path.is_dir():
        return yaml_files_under(path)
    if path.is_file():
        return [path]
    raise ProjectDataError("domain file or directory not found", str(path))


def read_domain_paths(paths: Iterable[Path]) -> dict[str, Any]:
    """Reads, checks and merges domain files and directories (later files win).

    Raises:
        ProjectDataError: for the first invalid file, pointing at its line.
    """
    merged: dict[str, Any] = {}
    for path in paths:
        for file in domain_files(Path(path)):
            merged = merge_domain_data(merged, read_domain_file(file))
    return merged
