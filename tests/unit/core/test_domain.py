from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from palaver.core.constants import DEFAULT_ACTION_NAMES, DEFAULT_INTENTS
from palaver.core.domain import Domain, SessionConfig
from palaver.core.slots import CategoricalSlot
from palaver.errors import ProjectDataError
from tests.unit.data.util import FIXTURES, dedent, line_of, write_files

MOODBOT = FIXTURES / "moodbot" / "domain.yml"
FORMBOT = FIXTURES / "formbot" / "domain.yml"


def _error(text: str) -> ProjectDataError:
    with pytest.raises(ProjectDataError) as info:
        Domain.from_yaml(dedent(text), "domain.yml")
    assert info.value.filename == "domain.yml"
    return info.value


# --- loading a real domain ---------------------------------------------------------------


def test_moodbot_domain() -> None:
    domain = Domain.load(MOODBOT)
    user_intents = ["affirm", "bot_challenge", "deny", "goodbye", "greet", "mood_great"]
    assert domain.intents == sorted([*user_intents, "mood_unhappy", *DEFAULT_INTENTS])
    assert domain.entities == []
    assert [s.name for s in domain.slots] == ["session_started_metadata"]
    assert domain.forms == {}
    responses = [
        "utter_cheer_up",
        "utter_did_that_help",
        "utter_goodbye",
        "utter_greet",
        "utter_happy",
        "utter_iamabot",
    ]
    assert domain.action_names_or_texts == [*DEFAULT_ACTION_NAMES, *responses]
    assert domain.user_actions == responses
    assert domain.session_config == SessionConfig(60, True)
    assert domain.index_for_action("action_listen") == 0
    assert domain.index_for_action("utter_greet") == len(DEFAULT_ACTION_NAMES) + 3
    assert domain.index_for_action("nope") is None


def test_moodbot_as_dict_has_rasa_domain_json_shape() -> None:
    data = Domain.load(MOODBOT).as_dict()
    assert list(data) == [
        "version",
        "intents",
        "entities",
        "slots",
        "responses",
        "actions",
        "forms",
        "e2e_actions",
        "session_config",
        "config",
    ]
    assert data["version"] == "3.1"
    assert data["intents"] == [
        "affirm",
        "bot_challenge",
        "deny",
        "goodbye",
        "greet",
        "mood_great",
        "mood_unhappy",
    ]
    assert data["responses"]["utter_cheer_up"] == [
        {"text": "Here is something to cheer you up:", "image": "https://i.imgur.com/nGF1K8f.jpg"}
    ]
    assert data["session_config"] == {
        "session_expiration_time": 60,
        "carry_over_slots_to_new_session": True,
    }
    assert data["config"] == {"store_entities_as_slots": True}
    assert (data["entities"], data["slots"], data["actions"], data["forms"]) == ([], {}, [], {})


def test_formbot_domain() -> None:
    domain = Domain.load(FORMBOT)
    assert domain.entities == ["city", "cuisine", "feedback", "number"]
    assert domain.roles == {"city": ["departure", "destination"]}
    assert domain.forms == {
        "restaurant_form": {
            "required_slots": [
                "cuisine",
                "num_people",
                "outdoor_seating",
                "preferences",
                "feedback",
            ],
            "ignored_intents": ["chitchat"],
        }
    }
    assert domain.required_slots_for_form("restaurant_form")[0] == "cuisine"
    assert domain.required_slots_for_form("nope") == []
    slot_names = [s.name for s in domain.slots]
    assert slot_names[-2:] == ["requested_slot", "session_started_metadata"]
    assert slot_names[0] == "cuisine"
    seating = next(s for s in domain.slots if s.name == "seating")
    assert isinstance(seating, CategoricalSlot)
    assert seating.values == ["indoor", "outdoor", "__other__"]
    assert domain.session_config == SessionConfig(120, False)
    assert domain.session_config.are_sessions_enabled()
    assert not SessionConfig(0, True).are_sessions_enabled()
    assert domain.does_custom_action_explicitly_need_domain("action_custom_fallback")
    assert domain.does_custom_action_explicitly_need_domain("validate_restaurant_form")
    assert not domain.does_custom_action_explicitly_need_domain("action_search_restaurants")
    assert domain.responses["utter_opening_hours"][0]["text"].startswith("We are open:\n")
    assert domain.responses["utter_greet"][1]["condition"] == [
        {"type": "slot", "name": "cuisine", "value": "italian"}
    ]


def test_used_entities_follow_rasa() -> None:
    domain = Domain.load(FORMBOT)
    everything = ["city", "city#departure", "city#destination", "cuisine", "number"]
    assert domain.intent_config("greet") == {"used_entities": everything}
    assert domain.intent_config("inform") == {"used_entities": ["cuisine", "number"]}
    assert domain.intent_config("out_of_scope") == {
        "used_entities": ["city", "city#departure", "city#destination", "number"]
    }
    assert domain.intent_config("restart") == {"used_entities": everything}
    assert domain.intent_config("unknown") == {}
    assert domain.entity_states == [
        "city",
        "cuisine",
        "feedback",
        "number",
        "city#departure",
        "city#destination",
    ]


# --- action order and default slots -------------------------------------------------------


def test_action_order_defaults_custom_responses_forms_texts() -> None:
    domain = Domain.from_dict(
        {
            "actions": ["action_b", "utter_z", "action_a", "action_restart", "my_form"],
            "responses": {"utter_z": [{"text": "z"}], "utter_a": [{"text": "a"}]},
            "forms": {"my_form": {"required_slots": []}, "other_form": {}},
            "e2e_actions": ["Hello!"],
        }
    )
    assert domain.action_names_or_texts == [
        *DEFAULT_ACTION_NAMES,
        "action_b",
        "utter_z",
        "action_a",
        "my_form",
        "utter_a",
        "other_form",
        "Hello!",
    ]
    assert domain.user_actions == [
        "action_b",
        "utter_z",
        "action_a",
        "action_restart",
        "my_form",
        "utter_a",
    ]
    assert domain.user_actions_and_forms[-2:] == ["my_form", "other_form"]
    assert domain.num_actions == len(domain.action_names_or_texts)


def test_default_slots() -> None:
    domain = Domain.from_dict({"actions": ["action_query_knowledge_base"], "forms": {"f": {}}})
    assert [s.name for s in domain.slots] == [
        "requested_slot",
        "knowledge_base_listed_objects",
        "knowledge_base_last_object",
        "knowledge_base_last_object_type",
        "session_started_metadata",
    ]
    plain = Domain.from_dict({"slots": {"x": {"type": "any", "mappings": []}}})
    assert [s.name for s in plain.slots] == ["x", "session_started_metadata"]


def test_create_slots_gives_fresh_copies() -> None:
    domain = Domain.load(FORMBOT)
    first = domain.create_slots()
    first[0].value = "italian"
    second = domain.create_slots()
    assert second[0].value is None
    assert domain.slots[0].value is None
    visits = next(s for s in second if s.name == "visits")
    assert visits.value == []


def test_retrieval_intents() -> None:
    domain = Domain.from_dict(
        {
            "intents": [{"faq": {"is_retrieval_intent": True}}, "greet"],
            "responses": {"utter_faq/ask": [{"text": "x"}], "utter_greet": [{"text": "y"}]},
        }
    )
    assert domain.retrieval_intents == ["faq"]
    assert domain.retrieval_intent_responses == {"utter_faq/ask": [{"text": "x"}]}
    assert domain.intent_config("faq") == {"is_retrieval_intent": True, "used_entities": []}


def test_store_entities_as_slots_and_session_defaults() -> None:
    domain = Domain.from_dict(
        {
            "config": {"store_entities_as_slots": False},
            "session_config": {"carry_over_slots_to_new_session": False},
        }
    )
    assert domain.store_entities_as_slots is False
    assert domain.session_config == SessionConfig(60, False)
    assert domain.as_dict()["config"] == {"store_entities_as_slots": False}


# --- serialization -----------------------------------------------------------------------


@pytest.mark.parametrize("path", [MOODBOT, FORMBOT])
def test_round_trips(path: Path) -> None:
    domain = Domain.load(path)
    assert Domain.from_dict(domain.as_dict()) == domain
    again = Domain.from_yaml(domain.as_yaml())
    assert again == domain
    assert again.action_names_or_texts == domain.action_names_or_texts
    assert again.as_dict() == domain.as_dict()


def test_as_dict_is_a_copy() -> None:
    domain = Domain.load(MOODBOT)
    domain.as_dict()["responses"]["utter_greet"] = []
    assert domain.as_dict()["responses"]["utter_greet"] == [{"text": "Hey! How are you?"}]


def test_intent_flags_are_normalized_like_rasa() -> None:
    domain = Domain.from_dict({"intents": [{"b": {"use_entities": None}}, "a"]})
    assert domain.as_dict()["intents"] == ["a", {"b": {"use_entities": []}}]
    assert domain.intent_config("b") == {"used_entities": []}


def test_fingerprint_is_stable_across_processes() -> None:
    code = (
        "from palaver.core.domain import Domain; "
        f"print(Domain.load({str(FORMBOT)!r}).fingerprint())"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert runs == {Domain.load(FORMBOT).fingerprint()}
    assert Domain.load(MOODBOT).fingerprint() != Domain.load(FORMBOT).fingerprint()


def test_empty_domain() -> None:
    assert Domain.empty().is_empty()
    assert Domain.from_dict({"session_config": {"session_expiration_time": 60}}).is_empty()
    assert not Domain.load(MOODBOT).is_empty()
    assert Domain.empty().intents == sorted(DEFAULT_INTENTS)
    assert Domain.empty().action_names_or_texts == list(DEFAULT_ACTION_NAMES)


def test_merge() -> None:
    mood = Domain.load(MOODBOT)
    extra = Domain.from_dict(
        {
            "intents": ["new_intent"],
            "responses": {"utter_greet": [{"text": "other"}]},
            "session_config": {"session_expiration_time": 5},
        }
    )
    merged = mood.merge(extra)
    assert "new_intent" in merged.intents
    assert merged.responses["utter_greet"] == [{"text": "Hey! How are you?"}]
    assert merged.session_config.session_expiration_time == 5
    assert mood.merge(extra, override=True).responses["utter_greet"] == [{"text": "other"}]
    assert mood.merge(None) is mood
    assert Domain.empty().merge(mood) is mood


# --- loading several files ---------------------------------------------------------------


def test_load_directory_and_several_paths(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_files(
        tmp_path,
        {
            "domain/a.yml": """
                intents: [greet]
                responses:
                  utter_greet:
                  - text: from a
                """,
            "domain/sub/b.yml": """
                intents: [bye]
                responses:
                  utter_greet:
                  - text: from b
                """,
            "extra.yml": """
                slots:
                  name:
                    type: text
                    mappings:
                    - type: from_text
                """,
        },
    )
    with caplog.at_level(logging.WARNING):
        domain = Domain.load([tmp_path / "domain", str(tmp_path / "extra.yml")])
    assert {"greet", "bye"} <= set(domain.intents)
    assert domain.responses["utter_greet"] == [{"text": "from b"}]
    assert "utter_greet" in caplog.text
    assert [s.name for s in domain.slots] == ["name", "session_started_metadata"]


def test_form_slot_may_come_from_another_file(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "forms.yml": "forms:\n  f:\n    required_slots: [name]\n",
            "slots.yml": "slots:\n  name:\n    type: text\n    mappings: [{type: from_text}]\n",
        },
    )
    assert Domain.load(tmp_path).required_slots_for_form("f") == ["name"]


def test_no_paths() -> None:
    with pytest.raises(ProjectDataError, match="no domain file"):
        Domain.load([])


# --- errors with file and line ------------------------------------------------------------


ERROR_CASES: list[tuple[str, str, str]] = [
    (
        """
        intents:
          - greet
        slots:
          name:
            type: txt
            mappings:
            - type: from_text
        """,
        "type: txt",
        "unknown type 'txt'",
    ),
    (
        """
        slots:
          name:
            type: text
            mappings:
            - type: from_text
            - type: from_entty
        """,
        "from_entty",
        "from_entty",
    ),
    (
        """
        slots:
          name:
            type: text
        forms:
          my_form:
            required_slots:
              - name
              - email
        """,
        "- email",
        "requires slot 'email'",
    ),
    (
        """
        intents:
          - greet
        slot:
          name:
            type: text
        """,
        "slot:",
        "unknown domain key 'slot'",
    ),
    (
        """
        intents:
          - greet
          - bye
          - greet
        """,
        "greet",
        "duplicate intent 'greet'",
    ),
    (
        """
        responses:
          utter_a:
          - text: a
          utter_a:
          - text: b
        """,
        "utter_a",
        "duplicate key 'utter_a'",
    ),
    (
        """
        intents:
          - greet:
        """,
        "greet",
        "intent 'greet' has no properties",
    ),
    (
        """
        responses:
          utter_a:
          - image: https://x/y.png
        """,
        "image",
        "needs a 'text' or a 'custom'",
    ),
    (
        """
        responses:
          utter_a:
          - text: hi
            txt: typo
        """,
        "txt: typo",
        "unknown key 'txt'",
    ),
    (
        """
        responses:
          utter_a:
          - text: hi
            condition:
            - type: slot
              nme: x
        """,
        "nme",
        "unknown key 'nme'",
    ),
    (
        """
        session_config:
          session_expiration_time: -1
        """,
        "session_expiration_time",
        "must be a number of minutes",
    ),
    (
        """
        actions:
          - action_a
          - action_a
        """,
        "action_a",
        "duplicate action 'action_a'",
    ),
    (
        """
        forms:
          my_form:
            required_slots:
              name:
              - type: from_text
        """,
        "required_slots",
        "Rasa 3 format",
    ),
    (
        """
        forms:
          my_form:
            ignored_intents: [chitchat]
        """,
        "ignored_intents",
        "needs 'required_slots' too",
    ),
    (
        """
        entities:
          - city:
        """,
        "city",
        "entity 'city' has no properties",
    ),
    (
        """
        slots:
          name:
            mappings: []
        """,
        "name:",
        "has no 'type'",
    ),
    (
        """
        slots:
          size:
            type: float
            min_value: 10
            max_value: 1
            mappings: []
        """,
        "min_value",
        "invalid range",
    ),
    (
        """
        intents: greet
        """,
        "intents",
        "must be a list",
    ),
    (
        """
        actions:
          - action_a: {send_domain: yes}
        """,
        "action_a",
        "'send_domain' must be true or false",
    ),
]


@pytest.mark.parametrize(("text", "needle", "message"), ERROR_CASES)
def test_invalid_domains_point_at_file_and_line(text: str, needle: str, message: str) -> None:
    error = _error(text)
    assert message in str(error)
    occurrence = 2 if "duplicate" in message else 1
    assert error.line == line_of(dedent(text), needle, occurrence)


def test_duplicate_action_across_kinds() -> None:
    with pytest.raises(ProjectDataError, match="duplicate actions in domain"):
        Domain.from_dict({"forms": {"utter_x": {}}, "responses": {"utter_x": [{"text": "x"}]}})


def test_from_dict_errors_have_no_location() -> None:
    data: dict[str, Any] = {"slots": {"x": {"type": "nope"}}}
    with pytest.raises(ProjectDataError) as info:
        Domain.from_dict(data)
    assert (info.value.filename, info.value.line) == (None, None)
