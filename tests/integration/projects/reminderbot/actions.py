"""Custom actions of the reminder test bot, served by a real rasa-sdk action server."""

from __future__ import annotations

import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ReminderCancelled, ReminderScheduled
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict


class ActionSetReminder(Action):
    """Reminds of ``thing`` after ``seconds`` (default 1), like Rasa's reminderbot."""

    def name(self) -> str:
        return "action_set_reminder"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        thing = next(tracker.get_latest_entity_values("thing"), "tea")
        seconds = float(next(tracker.get_latest_entity_values("seconds"), 1))
        # A naive local time, as in Rasa's documentation.
        when = datetime.datetime.now() + datetime.timedelta(seconds=seconds)
        dispatcher.utter_message(text=f"I will remind you of the {thing}.")
        return [
            ReminderScheduled(
                "reminder_due",
                trigger_date_time=when,
                entities={"thing": thing},
                name=f"remember_{thing}",
                kill_on_user_message=False,
            )
        ]


class ActionForgetReminders(Action):
    def name(self) -> str:
        return "action_forget_reminders"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text="Okay, forgotten.")
        return [ReminderCancelled()]


class ActionReactToReminder(Action):
    def name(self) -> str:
        return "action_react_to_reminder"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        thing = next(tracker.get_latest_entity_values("thing"), "something")
        dispatcher.utter_message(text=f"Reminder: the {thing}!")
        return []
