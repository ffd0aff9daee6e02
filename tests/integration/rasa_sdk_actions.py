"""Custom actions for the rasa-sdk integration test (loaded by ``python -m rasa_sdk``)."""

# rasa-sdk ships no type information: its base classes are ``Any`` to mypy.
# mypy: disable-error-code="misc"

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, ActionExecutionRejection, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict


class ActionHello(Action):
    def name(self) -> str:
        return "action_hello"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_hello", punct="!")
        dispatcher.utter_message(text=f"plain text for {tracker.sender_id}")
        return [SlotSet("name", "Ada")]


class ActionRefuse(Action):
    def name(self) -> str:
        return "action_refuse"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        raise ActionExecutionRejection(self.name(), "I refuse to run now.")


class ActionEcho(Action):
    """Reports what it saw, so the test can check the tracker and domain it got."""

    def name(self) -> str:
        return "action_echo"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        latest = tracker.latest_message or {}
        dispatcher.utter_message(
            json_message={
                "intent": (latest.get("intent") or {}).get("name"),
                "slots": tracker.current_slot_values(),
                "forms": sorted((domain.get("forms") or {}).keys()),
                "events": len(tracker.events),
            }
        )
        return []


class ValidateRestaurantForm(FormValidationAction):
    def name(self) -> str:
        return "validate_restaurant_form"

    def validate_cuisine(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        if str(slot_value).lower() == "mud":
            dispatcher.utter_message(text="We do not serve mud.")
            return {"cuisine": None}
        return {"cuisine": str(slot_value).lower()}

    def validate_num_people(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        try:
            people = int(slot_value)
        except (TypeError, ValueError):
            return {"num_people": None}
        return {"num_people": people if people > 0 else None}
