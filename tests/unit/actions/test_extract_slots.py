"""``action_extract_slots`` and the slot mapping rules."""

from __future__ import annotations

from typing import Any

from palaver.actions import action_for_name
from palaver.actions.client import ActionServerClient
from palaver.core.domain import Domain
from palaver.core.events import ActiveLoop, BotUttered, Event, SlotSet
from tests.unit.actions.helpers import FakeActionServer, context, listen, make_tracker, user

SLOTS: dict[str, Any] = {
    "city": {"type": "text", "mappings": [{"type": "from_entity", "entity": "city"}]},
    "departure": {
        "type": "text",
        "mappings": [{"type": "from_entity", "entity": "city", "role": "from"}],
    },
    "first_city": {
        "type": "text",
        "mappings": [{"type": "from_entity", "entity": "city", "group": "1"}],
    },
    "mood": {
        "type": "text",
        "mappings": [
            {"type": "from_intent", "intent": "mood_great", "value": "happy"},
            {"type": "from_intent", "intent": ["mood_sad", "mood_bad"], "value": "sad"},
        ],
    },
    "chatty": {
        "type": "bool",
        "mappings": [{"type": "from_intent", "not_intent": ["mood_sad"], "value": True}],
    },
    "note": {
        "type": "text",
        "mappings": [
            {
                "type": "from_text",
                "conditions": [{"active_loop": "note_form", "requested_slot": "note"}],
            }
        ],
    },
    "idle_text": {
        "type": "text",
        "mappings": [
            {"type": "from_text", "intent": "chitchat", "conditions": [{"active_loop": None}]}
        ],
    },
    "confirmed": {
        "type": "bool",
        "mappings": [
            {
                "type": "from_trigger_intent",
                "intent": "book",
                "value": True,
                "conditions": [{"active_loop": "note_form"}],
            }
        ],
    },
    "tags": {"type": "list", "mappings": [{"type": "from_entity", "entity": "tag"}]},
    "ghost": {"type": "text", "mappings": [{"type": "from_entity", "entity": "unknown_entity"}]},
}
DOMAIN_DICT: dict[str, Any] = {
    "intents": ["inform", "mood_great", "mood_sad", "mood_bad", "chitchat", "book", "stop"],
    "entities": [{"city": {"roles": ["from", "to"], "groups": ["1", "2"]}}, "tag"],
    "slots": SLOTS,
    "forms": {"note_form": {"required_slots": ["note"], "ignored_intents": ["stop"]}},
}
DOMAIN = Domain.from_dict(DOMAIN_DICT)


def city(value: str, **extra: str) -> dict[str, Any]:
    return {"entity": "city", "value": value, "start": 0, "end": len(value), **extra}


async def extract(
    events: list[Event], domain: Domain = DOMAIN, client: ActionServerClient | None = None
) -> list[Event]:
    tracker = make_tracker(domain, events)
    action = action_for_name("action_extract_slots", domain)
    return await action.run(tracker, domain, context(domain, client))


def as_dict(events: list[Event]) -> dict[str, Any]:
    return {e.key: e.value for e in events if isinstance(e, SlotSet)}


async def test_from_entity_respects_role_and_group() -> None:
    assert as_dict(await extract([user("inform", entities=[city("Paris")])])) == {
        "city": "Paris",
        "chatty": True,
    }
    with_role = await extract([user("inform", entities=[city("Oslo", role="from")])])
    assert as_dict(with_role) == {"departure": "Oslo", "chatty": True}
    with_group = await extract([user("inform", entities=[city("Rome", group="1")])])
    assert as_dict(with_group) == {"first_city": "Rome", "chatty": True}


async def test_from_intent_with_intent_lists_and_not_intent() -> None:
    assert as_dict(await extract([user("mood_great")])) == {"mood": "happy", "chatty": True}
    assert as_dict(await extract([user("mood_sad")])) == {"mood": "sad"}


async def test_from_text_only_when_the_conditions_match() -> None:
    assert "note" not in as_dict(await extract([user("inform", "hello")]))
    in_form = [ActiveLoop("note_form"), SlotSet("requested_slot", "note"), listen()]
    assert as_dict(await extract([*in_form, user("inform", "buy milk")]))["note"] == "buy milk"
    other_slot = [ActiveLoop("note_form"), SlotSet("requested_slot", "x"), listen()]
    assert "note" not in as_dict(await extract([*other_slot, user("inform", "buy milk")]))


async def test_condition_active_loop_null_means_no_active_loop() -> None:
    assert as_dict(await extract([user("chitchat", "nice")]))["idle_text"] == "nice"
    in_form = [ActiveLoop("note_form"), SlotSet("requested_slot", "note"), listen()]
    assert "idle_text" not in as_dict(await extract([*in_form, user("chitchat", "nice")]))


async def test_ignored_intents_of_the_active_form_block_its_mappings() -> None:
    in_form = [ActiveLoop("note_form"), SlotSet("requested_slot", "note"), listen()]
    assert "note" not in as_dict(await extract([*in_form, user("stop", "stop it")]))


async def test_from_trigger_intent_needs_the_active_form() -> None:
    assert "confirmed" not in as_dict(await extract([user("book")]))
    in_form = [ActiveLoop("note_form"), SlotSet("requested_slot", "note"), listen()]
    assert as_dict(await extract([*in_form, user("book")]))["confirmed"] is True


async def test_list_slots_get_every_value() -> None:
    entities = [
        {"entity": "tag", "value": "a"},
        {"entity": "tag", "value": "b"},
    ]
    assert as_dict(await extract([user("inform", entities=entities)]))["tags"] == ["a", "b"]


async def test_unchanged_values_are_not_set_again() -> None:
    events = await extract([SlotSet("city", "Paris"), user("inform", entities=[city("Paris")])])
    assert "city" not in as_dict(events)


async def test_mappings_for_unknown_entities_are_skipped() -> None:
    events = await extract([user("inform", entities=[{"entity": "unknown_entity", "value": 1}])])
    assert "ghost" not in as_dict(events)


async def test_ambiguous_entity_only_fills_the_requested_form_slot() -> None:
    domain = Domain.from_dict(
        {
            "intents": ["inform"],
            "entities": ["city"],
            "slots": {
                "origin": {"type": "text", "mappings": [{"type": "from_entity", "entity": "city"}]},
                "target": {"type": "text", "mappings": [{"type": "from_entity", "entity": "city"}]},
            },
            "forms": {"trip_form": {"required_slots": ["origin", "target"]}},
        }
    )
    in_form = [ActiveLoop("trip_form"), SlotSet("requested_slot", "target"), listen()]
    events = await extract([*in_form, user("inform", entities=[city("Paris")])], domain)
    assert as_dict(events) == {"target": "Paris"}
    # Without an active form both slots are filled.
    assert as_dict(await extract([user("inform", entities=[city("Paris")])], domain)) == {
        "origin": "Paris",
        "target": "Paris",
    }


CUSTOM_DOMAIN = Domain.from_dict(
    {
        "intents": ["inform"],
        "entities": ["city"],
        "slots": {
            "city": {"type": "text", "mappings": [{"type": "from_entity", "entity": "city"}]},
            "weather": {"type": "text", "mappings": [{"type": "custom", "action": "action_fill"}]},
            "other": {"type": "text", "mappings": [{"type": "custom", "action": "action_fill"}]},
        },
        "actions": ["action_fill", "action_validate_slot_mappings"],
    }
)


async def test_custom_mapping_runs_its_action_once_and_keeps_only_slot_events(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    action_server.reply(
        "action_fill",
        events=[
            {"event": "slot", "name": "weather", "value": "sunny"},
            {"event": "followup", "name": "action_listen"},
        ],
        responses=[{"text": "filling"}],
    )
    action_server.reply("action_validate_slot_mappings", events=[])
    events = await extract([user("inform", entities=[city("Paris")])], CUSTOM_DOMAIN, client)
    assert len(action_server.for_action("action_fill")) == 1
    assert as_dict(events) == {"weather": "sunny", "city": "Paris"}


async def test_validate_slot_mappings_replaces_extracted_values(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    action_server.reply("action_fill", events=[])

    def validate(payload: dict[str, Any]) -> tuple[int, Any]:
        trailing = payload["tracker"]["events"][-1]
        assert trailing == {**trailing, "event": "slot", "name": "city", "value": "Paris"}
        return 200, {
            "events": [{"event": "slot", "name": "city", "value": None}],
            "responses": [{"text": "Paris is not allowed"}],
        }

    action_server.on("action_validate_slot_mappings", validate)
    events = await extract([user("inform", entities=[city("Paris")])], CUSTOM_DOMAIN, client)
    assert as_dict(events) == {"city": None}
    assert isinstance(events[0], BotUttered)
    assert events[0].text == "Paris is not allowed"


async def test_failing_custom_mapping_action_does_not_break_extraction(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    action_server.reply("action_fill", status=500, events=[])
    action_server.reply("action_validate_slot_mappings", events=[])
    events = await extract([user("inform", entities=[city("Paris")])], CUSTOM_DOMAIN, client)
    assert as_dict(events) == {"city": "Paris"}


async def test_unchanged_values_of_the_active_form_are_still_reported() -> None:
    # The form counts them as this turn's answer (and validates them again), as in Rasa.
    in_form = [SlotSet("note", "milk"), ActiveLoop("note_form"), SlotSet("requested_slot", "note")]
    events = await extract([*in_form, listen(), user("inform", "milk")])
    assert as_dict(events)["note"] == "milk"
