"""Custom actions and forms against a real rasa-sdk action server (subprocess)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from palaver.actions import ActionServerClient, action_for_name
from palaver.actions.errors import ActionNotRegisteredError
from palaver.actions.forms import FormAction
from palaver.core.domain import Domain
from palaver.core.events import ActiveLoop, BotUttered, Event, SlotSet
from palaver.errors import ActionRejectedError
from tests.integration.rasa_sdk_server import RasaSdkActionServer
from tests.unit.actions.helpers import Conversation, context, listen, make_tracker, user

ROOT = Path(__file__).resolve().parents[2]
FORM = "restaurant_form"

DOMAIN = Domain.from_dict(
    {
        "intents": ["greet", "request_restaurant", "inform", "chitchat"],
        "entities": ["cuisine", "number"],
        "slots": {
            "name": {"type": "text", "mappings": [{"type": "custom", "action": "action_hello"}]},
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
        },
        "forms": {FORM: {"required_slots": ["cuisine", "num_people"]}},
        "responses": {
            "utter_hello": [{"text": "Hello{punct} I am Palaver."}],
            "utter_ask_cuisine": [{"text": "Which cuisine?"}],
            "utter_ask_num_people": [{"text": "For how many people?"}],
        },
        "actions": [
            "action_hello",
            "action_refuse",
            "action_echo",
            "action_missing",
            "validate_restaurant_form",
        ],
    }
)


@pytest.fixture(scope="module")
def rasa_sdk_url(tmp_path_factory: pytest.TempPathFactory, rasa_sdk_python: str) -> Iterator[str]:
    """``python -m rasa_sdk`` serving tests/integration/rasa_sdk_actions.py."""
    log_path = tmp_path_factory.mktemp("rasa-sdk") / "rasa_sdk.log"
    server = RasaSdkActionServer(
        ROOT, log_path, rasa_sdk_python, actions="tests.integration.rasa_sdk_actions"
    )
    try:
        server.wait_ready()
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def sdk_client(rasa_sdk_url: str) -> AsyncIterator[ActionServerClient]:
    client = ActionServerClient.from_config({"url": rasa_sdk_url})
    assert client is not None
    async with client:
        yield client


def bots(events: list[Event]) -> list[BotUttered]:
    return [e for e in events if isinstance(e, BotUttered)]


async def test_custom_action_returns_messages_and_events(sdk_client: ActionServerClient) -> None:
    tracker = make_tracker(DOMAIN, [listen(), user("greet", "hi")], sender_id="sdk-user")
    action = action_for_name("action_hello", DOMAIN)
    events = await action.run(tracker, DOMAIN, context(DOMAIN, sdk_client))
    messages = bots(events)
    assert [m.text for m in messages] == ["Hello! I am Palaver.", "plain text for sdk-user"]
    assert messages[0].metadata["utter_action"] == "utter_hello"
    assert events[len(messages) :] == [SlotSet("name", "Ada")]


async def test_action_sees_tracker_and_domain(sdk_client: ActionServerClient) -> None:
    history = [listen(), SlotSet("cuisine", "thai"), user("greet", "hi")]
    tracker = make_tracker(DOMAIN, history)
    events = await action_for_name("action_echo", DOMAIN).run(
        tracker, DOMAIN, context(DOMAIN, sdk_client)
    )
    seen: dict[str, Any] = bots(events)[0].data["custom"]
    assert seen["intent"] == "greet"
    assert seen["slots"]["cuisine"] == "thai"
    assert seen["forms"] == [FORM]
    assert seen["events"] == 3


async def test_rejection_raises_action_rejected(sdk_client: ActionServerClient) -> None:
    tracker = make_tracker(DOMAIN, [listen(), user("greet")])
    with pytest.raises(ActionRejectedError) as info:
        await action_for_name("action_refuse", DOMAIN).run(
            tracker, DOMAIN, context(DOMAIN, sdk_client)
        )
    assert info.value.action_name == "action_refuse"
    assert "I refuse to run now." in str(info.value)


async def test_unknown_action_is_reported_clearly(sdk_client: ActionServerClient) -> None:
    tracker = make_tracker(DOMAIN, [listen(), user("greet")])
    with pytest.raises(ActionNotRegisteredError, match="action_missing"):
        await action_for_name("action_missing", DOMAIN).run(
            tracker, DOMAIN, context(DOMAIN, sdk_client)
        )


async def test_form_with_validation_action(sdk_client: ActionServerClient) -> None:
    chat = Conversation(DOMAIN, context(DOMAIN, sdk_client))
    await chat.say(user("request_restaurant", "table please"))
    events = await chat.act(FORM)
    # At activation slot extraction runs again with the form active (Rasa 3.6):
    # the custom mapping's action_hello sets 'name' once more.
    assert [e for e in events if not isinstance(e, BotUttered)] == [
        ActiveLoop(FORM),
        SlotSet("name", "Ada"),
        SlotSet("requested_slot", "cuisine"),
    ]
    assert [m.text for m in bots(events)] == ["Which cuisine?"]
    chat.listen()

    # An invalid value is cleared by validate_restaurant_form and asked again.
    await chat.say(user("inform", "mud", entities=[{"entity": "cuisine", "value": "mud"}]))
    events = await chat.act(FORM)
    assert [m.text for m in bots(events)] == ["We do not serve mud.", "Which cuisine?"]
    assert chat.tracker.get_slot("cuisine") is None
    assert chat.tracker.get_slot("requested_slot") == "cuisine"
    chat.listen()

    # A valid one is normalised by the validation action.
    await chat.say(user("inform", "Thai", entities=[{"entity": "cuisine", "value": "Thai"}]))
    events = await chat.act(FORM)
    assert chat.tracker.get_slot("cuisine") == "thai"
    assert [m.text for m in bots(events)] == ["For how many people?"]
    chat.listen()

    # Nothing extracted for the requested slot: the form rejects execution.
    await chat.say(user("chitchat", "nice weather"))
    with pytest.raises(ActionRejectedError):
        await FormAction(FORM).run(chat.tracker, DOMAIN, chat.ctx)

    await chat.say(user("inform", "4", entities=[{"entity": "number", "value": "4"}]))
    events = await chat.act(FORM)
    assert chat.tracker.get_slot("num_people") == 4
    assert events[-2:] == [SlotSet("requested_slot", None), ActiveLoop(None)]
    assert chat.tracker.active_loop_name is None


@pytest.mark.parametrize(
    "options", [{"compress": True}, {"send_domain": "on_demand"}], ids=["compress", "on_demand"]
)
async def test_endpoint_options_work_with_rasa_sdk(
    rasa_sdk_url: str, options: dict[str, Any]
) -> None:
    client = ActionServerClient.from_config({"url": rasa_sdk_url, **options})
    assert client is not None
    tracker = make_tracker(DOMAIN, [listen(), user("greet", "hi")])
    async with client:
        for _ in range(2):
            events = await action_for_name("action_echo", DOMAIN).run(
                tracker, DOMAIN, context(DOMAIN, client)
            )
            assert bots(events)[0].data["custom"]["forms"] == [FORM]
