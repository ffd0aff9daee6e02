"""The domain: the universe of intents, entities, slots, responses, actions and forms.

Semantics follow Rasa 3.6 so that projects load unchanged and models index
actions the same way: default intents and slots are added, and
``action_names_or_texts`` is default actions, then custom actions (domain
order), then responses not listed as actions (sorted), then forms, then
end-to-end bot texts. A ``Domain`` is immutable after loading; treat its lists
and dicts as read-only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from palaver.core.constants import (
    DEFAULT_ACTION_NAMES,
    DEFAULT_INTENTS,
    DEFAULT_KNOWLEDGE_BASE_ACTION,
    ENTITY_LABEL_SEPARATOR,
    REQUESTED_SLOT,
    SESSION_START_METADATA_SLOT,
)
from palaver.core.slots import (
    Slot,
    knowledge_base_slots,
    requested_slot,
    session_start_metadata_slot,
    slot_from_definition,
)
from palaver.data.domain_reader import (
    CARRY_OVER_SLOTS_KEY,
    KEY_ACTIONS,
    KEY_CONFIG,
    KEY_E2E_ACTIONS,
    KEY_ENTITIES,
    KEY_FORMS,
    KEY_IGNORED_INTENTS,
    KEY_INTENTS,
    KEY_REQUIRED_SLOTS,
    KEY_RESPONSES,
    KEY_SESSION_CONFIG,
    KEY_SLOTS,
    SESSION_EXPIRATION_TIME_KEY,
    STORE_ENTITIES_AS_SLOTS_KEY,
    check_domain_data,
    item_name,
    merge_domain_data,
    parse_domain_text,
    read_domain_paths,
)
from palaver.data.format_version import LATEST_FORMAT_VERSION, VERSION_KEY
from palaver.data.yaml_io import dump_yaml, error_at, filename_of, line_of, to_plain
from palaver.errors import ProjectDataError
from palaver.nlu.training_data import RESPONSE_IDENTIFIER_DELIMITER

logger = logging.getLogger(__name__)

DEFAULT_SESSION_EXPIRATION_TIME = 60
DEFAULT_CARRY_OVER_SLOTS = True
USE_ENTITIES_KEY = "use_entities"
IGNORE_ENTITIES_KEY = "ignore_entities"
USED_ENTITIES_KEY = "used_entities"
IS_RETRIEVAL_INTENT_KEY = "is_retrieval_intent"


class SessionConfig(NamedTuple):
    """Conversation session settings (``session_config`` in the domain)."""

    session_expiration_time: float  # minutes; 0 disables sessions
    carry_over_slots: bool

    @staticmethod
    def default() -> SessionConfig:
        """60 minutes, slots carried over (Rasa's defaults)."""
        return SessionConfig(DEFAULT_SESSION_EXPIRATION_TIME, DEFAULT_CARRY_OVER_SLOTS)

    def are_sessions_enabled(self) -> bool:
        """Whether sessions expire at all."""
        return self.session_expiration_time > 0

    def as_dict(self) -> dict[str, Any]:
        """The ``session_config`` section as in Rasa's domain JSON."""
        return {
            SESSION_EXPIRATION_TIME_KEY: self.session_expiration_time,
            CARRY_OVER_SLOTS_KEY: self.carry_over_slots,
        }


@dataclass(slots=True)
class _EntityInfo:
    names: list[str] = field(default_factory=list)
    roles: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    default_ignored: list[str] = field(default_factory=list)


class Domain:
    """A loaded domain. Build it with :meth:`load`, :meth:`from_yaml` or :meth:`from_dict`.

    Attributes:
        intents: sorted intent names, including Rasa's default intents.
        intent_properties: intent -> properties in Rasa's internal form
            (``used_entities`` computed from use/ignore_entities, plus
            ``is_retrieval_intent`` and any other keys given).
        entities: sorted entity names; ``roles`` / ``groups``: entity -> labels.
        slots: the slot templates (user slots in domain order, then default
            slots); get fresh, mutable copies with :meth:`create_slots`.
        responses: response name -> variations, as written.
        forms: form name -> ``{"required_slots": [...], "ignored_intents": [...]}``.
        form_names: form names in domain order.
        user_actions: custom actions, then responses not listed as actions.
        action_texts: end-to-end bot texts (``e2e_actions``).
        action_names_or_texts: every action the policies can predict, in index order.
        session_config: session expiry and slot carry-over.
        store_entities_as_slots: fill slots from same-named entities.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        """Builds a domain from a *checked* raw domain dict (use the class methods)."""
        self._raw = data
        entity_info = _collect_entities(data.get(KEY_ENTITIES) or [])
        self.entities: list[str] = sorted(entity_info.names)
        self.roles: dict[str, list[str]] = entity_info.roles
        self.groups: dict[str, list[str]] = entity_info.groups
        self.intent_properties = _collect_intent_properties(
            data.get(KEY_INTENTS) or [], entity_info
        )
        self.intents: list[str] = sorted(self.intent_properties)
        self.forms = _collect_forms(data.get(KEY_FORMS) or {})
        self.form_names: list[str] = list(self.forms)
        self.responses: dict[str, list[dict[str, Any]]] = to_plain(data.get(KEY_RESPONSES) or {})
        raw_actions = data.get(KEY_ACTIONS) or []
        self._custom_actions = [item_name(a) for a in raw_actions]
        self._actions_needing_domain = frozenset(_actions_needing_domain(raw_actions))
        self.action_texts: list[str] = list(data.get(KEY_E2E_ACTIONS) or [])
        self.user_actions: list[str] = self._custom_actions + [
            r for r in sorted(self.responses) if r not in self._custom_actions
        ]
        self.action_names_or_texts = self._combine_action_names()
        self._action_index = {name: i for i, name in enumerate(self.action_names_or_texts)}
        self.slots: list[Slot] = self._build_slots(data.get(KEY_SLOTS) or {})
        self.session_config = _session_config(data.get(KEY_SESSION_CONFIG) or {})
        config = data.get(KEY_CONFIG) or {}
        # An explicit null is falsy in Rasa too.
        self.store_entities_as_slots = bool(config.get(STORE_ENTITIES_AS_SLOTS_KEY, True))
        self._data = self._serialize()
        self._fingerprint: str | None = None
        self._hash: int | None = None

    # --- construction ---------------------------------------------------------------

    @classmethod
    def empty(cls) -> Domain:
        """A domain with nothing but the defaults."""
        return cls({})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Domain:
        """Builds a domain from a domain dict (``domain.yml`` content or :meth:`as_dict`).

        Raises:
            ProjectDataError: if the dict is not a valid domain.
        """
        return cls(check_domain_data(data))

    @classmethod
    def from_yaml(cls, text: str, filename: str | None = None) -> Domain:
        """Parses a domain from YAML text.

        Raises:
            ProjectDataError: pointing at ``filename`` and the offending line.
        """
        return cls(parse_domain_text(text, filename))

    @classmethod
    def load(cls, paths: str | Path | Iterable[str | Path]) -> Domain:
        """Loads and merges domain files and/or directories (searched recursively).

        On a name defined differently in several files the later file (in
        sorted path order) wins, with a warning.

        Raises:
            ProjectDataError: for a missing path or invalid content.
        """
        if isinstance(paths, str | Path):
            paths = [paths]
        path_list = [Path(p) for p in paths]
        if not path_list:
            raise ProjectDataError("no domain file was given")
        return cls(read_domain_paths(path_list))

    def merge(self, other: Domain | None, override: bool = False) -> Domain:
        """Combines two domains into a new one.

        Names defined in both keep this domain's definition unless ``override``.
        """
        if other is None or other.is_empty():
            return self
        if self.is_empty():
            return other
        merged = merge_domain_data(
            _without_defaults(self.as_dict()),
            _without_defaults(other.as_dict()),
            prefer_new=override,
        )
        return Domain.from_dict(merged)

    # --- building blocks --------------------------------------------------------------

    def _combine_action_names(self) -> list[str]:
        names = [
            *DEFAULT_ACTION_NAMES,
            *(a for a in self.user_actions if a not in DEFAULT_ACTION_NAMES),
            *(f for f in self.form_names if f not in self._custom_actions),
            *self.action_texts,
        ]
        duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
        if duplicates:
            raise ProjectDataError(
                "duplicate actions in domain (an action, response, form or e2e text "
                f"with the same name): {', '.join(duplicates)}"
            )
        return names

    def _build_slots(self, definitions: Mapping[str, Any]) -> list[Slot]:
        slots = [
            _slot(name, definition, line_of(definitions, name))
            for name, definition in definitions.items()
        ]
        names = {slot.name for slot in slots}
        self._check_form_slots(names)
        if self.form_names and REQUESTED_SLOT not in names:
            slots.append(requested_slot())
        if DEFAULT_KNOWLEDGE_BASE_ACTION in self._action_index:
            slots.extend(s for s in knowledge_base_slots() if s.name not in names)
        if SESSION_START_METADATA_SLOT not in names:
            slots.append(session_start_metadata_slot())
        return slots

    def _check_form_slots(self, slot_names: set[str]) -> None:
        raw_forms = self._raw.get(KEY_FORMS) or {}
        for form_name, form in self.forms.items():
            for index, slot_name in enumerate(form[KEY_REQUIRED_SLOTS]):
                if slot_name not in slot_names:
                    raw_form = raw_forms.get(form_name) or {}
                    raise error_at(
                        raw_form.get(KEY_REQUIRED_SLOTS),
                        f"form '{form_name}' requires slot '{slot_name}', "
                        "which is not declared under 'slots'",
                        index=index,
                    )

    def _serialize(self) -> dict[str, Any]:
        raw = self._raw
        intents = sorted(raw.get(KEY_INTENTS) or [], key=item_name)
        return {
            VERSION_KEY: LATEST_FORMAT_VERSION,
            KEY_INTENTS: [_reset_intent_flags(to_plain(i)) for i in intents],
            KEY_ENTITIES: to_plain(raw.get(KEY_ENTITIES) or []),
            KEY_SLOTS: to_plain(raw.get(KEY_SLOTS) or {}),
            KEY_RESPONSES: to_plain(self.responses),
            KEY_ACTIONS: to_plain(raw.get(KEY_ACTIONS) or []),
            KEY_FORMS: to_plain(raw.get(KEY_FORMS) or {}),
            KEY_E2E_ACTIONS: list(self.action_texts),
            KEY_SESSION_CONFIG: self.session_config.as_dict(),
            KEY_CONFIG: {STORE_ENTITIES_AS_SLOTS_KEY: self.store_entities_as_slots},
        }

    # --- queries ------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """The domain in Rasa's domain JSON shape (as ``GET /domain`` returns it).

        Keys: version, intents, entities, slots, responses, actions, forms,
        e2e_actions, session_config, config. Sections hold what the domain
        files declared (defaults are not written back); a fresh copy each call.
        """
        return json.loads(json.dumps(self._data))  # type: ignore[no-any-return]

    def as_yaml(self) -> str:
        """The domain as ``domain.yml`` text."""
        return dump_yaml(self._data)

    def fingerprint(self) -> str:
        """A hash of the domain's content, stable across runs and processes."""
        if self._fingerprint is None:
            payload = {"domain": self._data, "actions": self.action_names_or_texts}
            encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
            self._fingerprint = hashlib.sha256(encoded.encode("utf-8")).hexdigest()
        return self._fingerprint

    def is_empty(self) -> bool:
        """Whether the domain declares nothing (only defaults)."""
        return self._data == _empty_data()

    def create_slots(self) -> list[Slot]:
        """Fresh copies of the domain's slots, holding their initial values."""
        slots = [slot.copy() for slot in self.slots]
        for slot in slots:
            slot.reset()
        return slots

    def index_for_action(self, action_name: str) -> int | None:
        """Position of an action (or e2e text) in ``action_names_or_texts``."""
        return self._action_index.get(action_name)

    @property
    def num_actions(self) -> int:
        """Number of actions the policies choose from."""
        return len(self.action_names_or_texts)

    @property
    def retrieval_intents(self) -> list[str]:
        """Intents marked as retrieval intents (``faq`` for ``faq/ask_name`` data)."""
        return [
            name
            for name, props in self.intent_properties.items()
            if props.get(IS_RETRIEVAL_INTENT_KEY)
        ]

    @property
    def retrieval_intent_responses(self) -> dict[str, list[dict[str, Any]]]:
        """Responses of retrieval intents (names with a ``/``)."""
        return {
            name: variations
            for name, variations in self.responses.items()
            if RESPONSE_IDENTIFIER_DELIMITER in name
        }

    @property
    def user_actions_and_forms(self) -> list[str]:
        """Custom actions, responses and forms."""
        return self.user_actions + self.form_names

    @property
    def entity_states(self) -> list[str]:
        """Entity labels plus ``entity#role`` / ``entity#group`` labels."""
        return [
            *self.entities,
            *concatenate_entity_labels(self.roles),
            *concatenate_entity_labels(self.groups),
        ]

    def intent_config(self, intent_name: str) -> dict[str, Any]:
        """The properties of an intent (``{}`` if unknown)."""
        return self.intent_properties.get(intent_name, {})

    def required_slots_for_form(self, form_name: str) -> list[str]:
        """The slots a form asks for, in order (``[]`` for an unknown form)."""
        form = self.forms.get(form_name)
        return list(form[KEY_REQUIRED_SLOTS]) if form else []

    def does_custom_action_explicitly_need_domain(self, action_name: str) -> bool:
        """Whether the action server must receive the domain (``send_domain`` / ``validate_*``)."""
        return action_name in self._actions_needing_domain

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Domain):
            return NotImplemented
        return self.fingerprint() == other.fingerprint()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = int(self.fingerprint()[:16], 16)
        return self._hash

    def __repr__(self) -> str:
        return (
            f"<Domain: {len(self.action_names_or_texts)} actions, {len(self.intents)} intents, "
            f"{len(self.responses)} responses, {len(self.slots)} slots, "
            f"{len(self.entities)} entities, {len(self.forms)} forms>"
        )


# --- helpers -------------------------------------------------------------------------------


def concatenate_entity_labels(
    entity_labels: Mapping[str, list[str]], entity: str | None = None
) -> list[str]:
    """``entity#label`` for every (or one) entity's role or group labels."""
    if entity is not None:
        return [f"{entity}{ENTITY_LABEL_SEPARATOR}{sub}" for sub in entity_labels.get(entity, [])]
    return [
        f"{name}{ENTITY_LABEL_SEPARATOR}{sub}"
        for name, subs in entity_labels.items()
        for sub in subs
    ]


def _collect_entities(raw: Iterable[Any]) -> _EntityInfo:
    info = _EntityInfo()
    for item in raw:
        if not isinstance(item, Mapping):
            info.names.append(str(item))
            continue
        for name, props in item.items():
            info.names.append(name)
            if "roles" in props:
                info.roles[name] = list(props["roles"] or [])
            if "groups" in props:
                info.groups[name] = list(props["groups"] or [])
            if props.get("influence_conversation") is False:
                info.default_ignored.append(name)
    return info


def _collect_intent_properties(
    raw: Iterable[Any], entity_info: _EntityInfo
) -> dict[str, dict[str, Any]]:
    properties: dict[str, dict[str, Any]] = {}
    for item in raw:
        if isinstance(item, Mapping):
            name, props = next(iter(item.items()))
            properties[name] = _internal_intent_properties(name, to_plain(props), entity_info)
        else:
            properties[item] = _internal_intent_properties(item, {}, entity_info)
    for name in DEFAULT_INTENTS:
        if name not in properties:
            properties[name] = _internal_intent_properties(name, {}, entity_info)
    return properties


def _internal_intent_properties(
    name: str, props: dict[str, Any], entity_info: _EntityInfo
) -> dict[str, Any]:
    """Rasa's transformation of use/ignore_entities into ``used_entities``."""
    use = props.pop(USE_ENTITIES_KEY, True)
    ignore = props.pop(IGNORE_ENTITIES_KEY, entity_info.default_ignored) or []
    if use is True:
        included = set(entity_info.names) - set(entity_info.default_ignored)
        included.update(concatenate_entity_labels(entity_info.roles))
        included.update(concatenate_entity_labels(entity_info.groups))
    else:
        included = set(use or [])
        included.update(_with_sub_labels(included, entity_info))
    excluded = set(ignore)
    excluded.update(_with_sub_labels(excluded, entity_info))
    ambiguous = included & excluded
    if isinstance(use, list) and ambiguous:
        logger.warning(
            "intent '%s' both uses and ignores entities %s; ignoring wins",
            name,
            sorted(ambiguous),
        )
    props[USED_ENTITIES_KEY] = sorted(included - excluded)
    return props


def _with_sub_labels(entities: set[str], entity_info: _EntityInfo) -> set[str]:
    labels: set[str] = set()
    for entity in entities:
        labels.update(concatenate_entity_labels(entity_info.roles, entity))
        labels.update(concatenate_entity_labels(entity_info.groups, entity))
    return labels


def _reset_intent_flags(intent: Any) -> Any:
    """Rasa writes falsy use/ignore_entities back as ``[]``."""
    if isinstance(intent, dict):
        for props in intent.values():
            if not isinstance(props, dict):
                continue
            for key in (USE_ENTITIES_KEY, IGNORE_ENTITIES_KEY):
                if key in props and not props[key]:
                    props[key] = []
    return intent


def _collect_forms(raw: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    forms: dict[str, dict[str, list[str]]] = {}
    for name, form in raw.items():
        form = form or {}
        ignored = form.get(KEY_IGNORED_INTENTS) or []
        forms[name] = {
            KEY_REQUIRED_SLOTS: list(form.get(KEY_REQUIRED_SLOTS) or []),
            KEY_IGNORED_INTENTS: [ignored] if isinstance(ignored, str) else list(ignored),
        }
    return forms


def _actions_needing_domain(raw_actions: Iterable[Any]) -> list[str]:
    names: list[str] = []
    for action in raw_actions:
        if isinstance(action, Mapping):
            names.extend(n for n, cfg in action.items() if (cfg or {}).get("send_domain"))
        elif action.startswith("validate_"):
            names.append(action)
    return names


_MAPPING_NUMBER = re.compile(r"mapping (\d+)")
_SLOT_KEYS = ("influence_conversation", "initial_value", "min_value", "max_value", "values")


def _slot(name: str, definition: Mapping[str, Any], line: int | None) -> Slot:
    try:
        return slot_from_definition(name, to_plain(definition))
    except (ProjectDataError, TypeError, ValueError) as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        raise ProjectDataError(
            message, filename_of(definition), _slot_error_line(definition, message) or line
        ) from exc


def _slot_error_line(definition: Mapping[str, Any], message: str) -> int | None:
    """Best guess of the line an error from ``slot_from_definition`` is about."""
    mappings = definition.get("mappings")
    match = _MAPPING_NUMBER.search(message)
    if match and isinstance(mappings, list):
        return line_of(mappings, index=int(match.group(1)) - 1)
    for key in _SLOT_KEYS:
        if (f"'{key}'" in message or f"{key} (" in message) and key in definition:
            return line_of(definition, key)
    if "type" in message and "type" in definition:
        return line_of(definition, "type")
    return None


def _session_config(raw: Mapping[str, Any]) -> SessionConfig:
    expiration = raw.get(SESSION_EXPIRATION_TIME_KEY)
    if expiration is None:
        expiration = DEFAULT_SESSION_EXPIRATION_TIME
    carry_over = raw.get(CARRY_OVER_SLOTS_KEY, DEFAULT_CARRY_OVER_SLOTS)
    return SessionConfig(expiration, bool(carry_over))  # an explicit null is falsy in Rasa too


def _without_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """Drops default session/config sections so a merge keeps the other side's."""
    if data.get(KEY_SESSION_CONFIG) == SessionConfig.default().as_dict():
        del data[KEY_SESSION_CONFIG]
    if data.get(KEY_CONFIG) == {STORE_ENTITIES_AS_SLOTS_KEY: True}:
        del data[KEY_CONFIG]
    return data


@functools.cache
def _empty_data() -> dict[str, Any]:
    return Domain({})._data
