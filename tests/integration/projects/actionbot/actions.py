"""Custom actions of the test bot, served by a real rasa-sdk action server."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection
from rasa_sdk.types import DomainDict

KNOWN_CITIES = {"berlin", "paris", "london"}


class ActionGreetUser(Action):
    def name(self) -> str:
        return "action_greet_user"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        name = tracker.get_slot("name") or "stranger"
        dispatcher.utter_message(text=f"Hello {name}!")
        return [SlotSet("greeted", True)]


class ValidateInfoForm(FormValidationAction):
    def name(self) -> str:
        return "validate_info_form"

    def validate_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"name": str(value).strip().title()}

    def validate_city(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        city = str(value).strip().lower()
        if city in KNOWN_CITIES:
            return {"city": city.title()}
        dispatcher.utter_message(response="utter_wrong_city")
        return {"city": None}


class ActionSubmitInfo(Action):
    def name(self) -> str:
        return "action_submit_info"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        name, city = tracker.get_slot("name"), tracker.get_slot("city")
        dispatcher.utter_message(text=f"Thanks {name} from {city}!")
        return [SlotSet("submitted", True)]


class ActionCheckSecret(Action):
    """Always refuses to run: the assistant has to fall back to something else."""

    def name(self) -> str:
        return "action_check_secret"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        raise ActionExecutionRejection(self.name(), "the secret stays secret")
