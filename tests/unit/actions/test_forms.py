"""Forms: happy path, unhappy path, validation and asking on the action server."""

from __future__ import annotations

from typing import Any

import pytest

from palaver.actions import action_for_name
from palaver.actions.client import ActionServerClient
from palaver.actions.forms import FormAction
from palaver.core.domain import Domain
from palaver.core.events import (
    ActiveLoop,
    BotUttered,
    Event,
    SlotSet,
)
from palaver.errors import ActionRejectedError
from tests.unit.actions.helpers import Conversation, FakeActionServer, context, listen, user

FORM = "restaurant_form"


def domain_dict(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "intents": ["request_restaurant", "inform", "chitchat"],
        "entities": ["cuisine", "number"],
        "slots": {
            "cuisine": {
                "type": "text",
                "mappings": [{"type": "from_entity", "entity": "cuisine"}],
            },
            "num_people": {
                "type": "float",
                "mappings": [
                    {
                        "type": "from_entity",
                        "entity": "number",
                        "conditions": [{"active_loop": FORM, "requested_slot": "num_people"}],
                    }
                ],
            },
            "outdoor": {"type": "bool", "mappings": [{"type": "custom"}]},
        },
        "forms": {FORM: {"required_slots": ["cuisine", "num_people"]}},
        "responses": {
            "utter_ask_cuisine": [{"text": "Which cuisine?"}],
            "utter_ask_restaurant_form_num_people": [{"text": "For how many people?"}],
            "utter_ask_num_people": [{"text": "generic question"}],
            "utter_ask_outdoor": [{"text": "Outdoor?"}],
        },
    }
    data.update(extra)
    return data


DOMAIN = Domain.from_dict(domain_dict())


def texts(events: list[Event]) -> list[str | None]:
    return [e.text for e in events if isinstance(e, BotUttered)]


def non_bot(events: list[Event]) -> list[Event]:
    return [e for e in events if not isinstance(e, BotUttered)]


def cuisine(value: str) -> dict[str, Any]:
    return {"entity": "cuisine", "value": value}


def number(value: int) -> dict[str, Any]:
    return {"entity": "number", "value": value}


async def test_happy_path_asks_fills_and_deactivates() -> None:
    chat = Conversation(DOMAIN, context(DOMAIN))
    await chat.say(user("request_restaurant"))
    events = await chat.act(FORM)
    assert non_bot(events) == [ActiveLoop(FORM), SlotSet("requested_slot", "cuisine")]
    assert texts(events) == ["Which cuisine?"]
    chat.listen()

    await chat.say(user("inform", entities=[cuisine("thai")]))
    events = await chat.act(FORM)
    assert non_bot(events) == [SlotSet("cuisine", "thai"), SlotSet("requested_slot", "num_people")]
    # The form-specific question wins over the generic one.
    assert texts(events) == ["For how many people?"]
    chat.listen()

    await chat.say(user("inform", entities=[number(4)]))
    events = await chat.act(FORM)
    assert events == [SlotSet("num_people", 4), SlotSet("requested_slot", None), ActiveLoop(None)]
    assert chat.tracker.active_loop_name is None


async def test_unhappy_path_rejects_when_the_requested_slot_is_not_filled() -> None:
    chat = Conversation(DOMAIN, context(DOMAIN))
    await chat.say(user("request_restaurant"))
    await chat.act(FORM)
    chat.listen()
    await chat.say(user("chitchat", "how are you?"))
    with pytest.raises(ActionRejectedError) as info:
        await FormAction(FORM).run(chat.tracker, DOMAIN, chat.ctx)
    assert info.value.action_name == FORM
    assert "cuisine" in str(info.value)


async def test_prefilled_slots_are_kept_on_activation() -> None:
    chat = Conversation(DOMAIN, context(DOMAIN))
    await chat.say(user("request_restaurant", entities=[cuisine("thai")]))
    events = await chat.act(FORM)
    assert non_bot(events) == [
        ActiveLoop(FORM),
        SlotSet("cuisine", "thai"),
        SlotSet("requested_slot", "num_people"),
    ]


async def test_all_slots_prefilled_completes_immediately() -> None:
    chat = Conversation(DOMAIN, context(DOMAIN), [listen(), SlotSet("num_people", 2)])
    await chat.say(user("request_restaurant", entities=[cuisine("thai")]))
    events = await chat.act(FORM)
    assert events[0] == ActiveLoop(FORM)
    assert events[-2:] == [SlotSet("requested_slot", None), ActiveLoop(None)]


async def test_interrupted_form_does_not_validate_but_asks_again() -> None:
    chat = Conversation(DOMAIN, context(DOMAIN))
    await chat.say(user("request_restaurant"))
    await chat.act(FORM)
    chat.listen()
    await chat.say(user("chitchat"))
    await chat.act("utter_ask_outdoor")  # some other action handled the digression
    events = await chat.act(FORM)
    assert texts(events) == ["Which cuisine?"]


VALIDATING = Domain.from_dict(
    domain_dict(actions=["validate_restaurant_form", "action_ask_restaurant_form_num_people"])
)


async def test_validation_action_sees_candidates_after_the_form_execution(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    calls: list[dict[str, Any]] = []

    def validate(payload: dict[str, Any]) -> tuple[int, Any]:
        calls.append(payload)
        return 200, {"events": [], "responses": []}

    action_server.on("validate_restaurant_form", validate)
    action_server.reply(
        "action_ask_restaurant_form_num_people", responses=[{"text": "How many (server)?"}]
    )
    chat = Conversation(VALIDATING, context(VALIDATING, client))
    await chat.say(user("request_restaurant"))
    activation = await chat.act(FORM)
    # As in Rasa 3.6: once by activate() and, as activation set nothing, once by do().
    assert len(calls) == 2
    assert calls[0]["domain"]["forms"][FORM]["required_slots"] == ["cuisine", "num_people"]
    assert texts(activation) == ["Which cuisine?"]
    chat.listen()

    await chat.say(user("inform", entities=[cuisine("thai")]))
    events = await chat.act(FORM)
    tail = [(e["event"], e.get("name"), e.get("value")) for e in calls[2]["tracker"]["events"][-3:]]
    assert tail == [
        ("slot", "requested_slot", "cuisine"),
        ("action", FORM, None),
        ("slot", "cuisine", "thai"),
    ]
    # action_ask_<form>_<slot> comes first in the search order.
    assert texts(events) == ["How many (server)?"]


async def test_invalid_value_is_asked_again(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    def validate(payload: dict[str, Any]) -> tuple[int, Any]:
        last = payload["tracker"]["events"][-1]
        if last.get("name") == "cuisine" and last.get("value") == "mud":
            return 200, {
                "events": [{"event": "slot", "name": "cuisine", "value": None}],
                "responses": [{"text": "We do not serve mud."}],
            }
        return 200, {"events": [], "responses": []}

    action_server.on("validate_restaurant_form", validate)
    chat = Conversation(VALIDATING, context(VALIDATING, client))
    await chat.say(user("request_restaurant"))
    await chat.act(FORM)
    chat.listen()
    await chat.say(user("inform", entities=[cuisine("mud")]))
    events = await chat.act(FORM)
    assert non_bot(events) == [SlotSet("cuisine", None), SlotSet("requested_slot", "cuisine")]
    assert texts(events) == ["We do not serve mud.", "Which cuisine?"]


async def test_validation_action_can_request_a_dynamic_slot(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    def validate(payload: dict[str, Any]) -> tuple[int, Any]:
        slots = payload["tracker"]["slots"]
        if slots.get("cuisine") == "thai" and slots.get("outdoor") is None:
            return 200, {
                "events": [{"event": "slot", "name": "requested_slot", "value": "outdoor"}]
            }
        return 200, {"events": []}

    action_server.on("validate_restaurant_form", validate)
    chat = Conversation(VALIDATING, context(VALIDATING, client))
    await chat.say(user("request_restaurant"))
    await chat.act(FORM)
    chat.listen()
    await chat.say(user("inform", entities=[cuisine("thai")]))
    events = await chat.act(FORM)
    assert non_bot(events) == [SlotSet("requested_slot", "outdoor"), SlotSet("cuisine", "thai")]
    assert texts(events) == ["Outdoor?"]


async def test_validation_action_can_end_the_form_early(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    action_server.reply(
        "validate_restaurant_form",
        events=[{"event": "slot", "name": "requested_slot", "value": None}],
    )
    chat = Conversation(VALIDATING, context(VALIDATING, client))
    await chat.say(user("request_restaurant"))
    events = await chat.act(FORM)
    assert events[0] == ActiveLoop(FORM)
    assert events[-1] == ActiveLoop(None)
    assert not texts(events)


async def test_rejection_from_the_validation_action_propagates(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    action_server.reply("validate_restaurant_form", events=[])
    chat = Conversation(VALIDATING, context(VALIDATING, client))
    await chat.say(user("request_restaurant"))
    await chat.act(FORM)
    chat.listen()
    action_server.on(
        "validate_restaurant_form",
        lambda _p: (400, {"action_name": "validate_restaurant_form", "error": "nope"}),
    )
    await chat.say(user("inform", entities=[cuisine("thai")]))
    with pytest.raises(ActionRejectedError) as info:
        await chat.act(FORM)
    assert info.value.action_name == "validate_restaurant_form"


async def test_manual_rejection_event_keeps_the_form_waiting(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    chat = Conversation(VALIDATING, context(VALIDATING, client))
    action_server.reply("validate_restaurant_form", events=[])
    await chat.say(user("request_restaurant"))
    await chat.act(FORM)
    chat.listen()
    action_server.reply(
        "validate_restaurant_form",
        events=[{"event": "action_execution_rejected", "name": FORM}],
    )
    await chat.say(user("chitchat"))
    events = await FormAction(FORM).run(chat.tracker, VALIDATING, chat.ctx)
    assert [e.type_name for e in events] == ["action_execution_rejected"]


def test_user_action_overrides_the_form() -> None:
    domain = Domain.from_dict(domain_dict(actions=[FORM]))
    assert not isinstance(action_for_name(FORM, domain), FormAction)
    assert isinstance(action_for_name(FORM, DOMAIN), FormAction)


SEARCH = "search_form"


def trigger_domain(conditions: list[dict[str, Any]] | None, *actions: str) -> Domain:
    """financial-demo's shape: the intent that starts the form also answers a slot."""
    trigger: dict[str, Any] = {
        "type": "from_trigger_intent",
        "intent": "search_transactions",
        "value": "spend",
    }
    if conditions is not None:
        trigger["conditions"] = conditions
    return Domain.from_dict(
        {
            "intents": ["search_transactions", "inform"],
            "entities": ["vendor"],
            "slots": {
                "search_type": {
                    "type": "categorical",
                    "values": ["spend", "deposit"],
                    "mappings": [trigger],
                },
                "vendor": {
                    "type": "text",
                    "mappings": [{"type": "from_entity", "entity": "vendor"}],
                },
            },
            "forms": {SEARCH: {"required_slots": ["search_type", "vendor"]}},
            "responses": {
                "utter_ask_search_type": [{"text": "Spent or earned?"}],
                "utter_ask_vendor": [{"text": "Which vendor?"}],
            },
            "actions": list(actions),
        }
    )


@pytest.mark.parametrize("conditions", [None, [{"active_loop": SEARCH}]])
async def test_trigger_intent_fills_its_slot_when_the_form_starts(
    conditions: list[dict[str, Any]] | None,
) -> None:
    domain = trigger_domain(conditions)
    chat = Conversation(domain, context(domain))
    # Before the form is active, action_extract_slots leaves the slot alone...
    assert await chat.say(user("search_transactions")) == []
    events = await chat.act(SEARCH)
    # ...and the form's activation fills it from the message that started it.
    assert non_bot(events) == [
        ActiveLoop(SEARCH),
        SlotSet("search_type", "spend"),
        SlotSet("requested_slot", "vendor"),
    ]
    assert texts(events) == ["Which vendor?"]


async def test_trigger_intent_of_another_form_fills_nothing() -> None:
    domain = trigger_domain([{"active_loop": "other_form"}])
    chat = Conversation(domain, context(domain))
    await chat.say(user("search_transactions"))
    events = await chat.act(SEARCH)
    assert non_bot(events) == [ActiveLoop(SEARCH), SlotSet("requested_slot", "search_type")]


async def test_slots_filled_at_activation_are_validated_once(
    action_server: FakeActionServer, client: ActionServerClient
) -> None:
    candidates: list[list[tuple[str, Any]]] = []

    def validate(payload: dict[str, Any]) -> tuple[int, Any]:
        events = payload["tracker"]["events"]
        form_at = max(i for i, e in enumerate(events) if e.get("name") == SEARCH)
        candidates.append([(e["name"], e["value"]) for e in events[form_at + 1 :]])
        return 200, {"events": [], "responses": []}

    action_server.on(f"validate_{SEARCH}", validate)
    domain = trigger_domain(None, f"validate_{SEARCH}")
    chat = Conversation(domain, context(domain, client))
    await chat.say(user("search_transactions", entities=[{"entity": "vendor", "value": "acme"}]))
    events = await chat.act(SEARCH)
    assert candidates == [[("search_type", "spend"), ("vendor", "acme")]]
    assert non_bot(events) == [
        ActiveLoop(SEARCH),
        SlotSet("search_type", "spend"),
        SlotSet("vendor", "acme"),
        SlotSet("requested_slot", None),
        ActiveLoop(None),
    ]
