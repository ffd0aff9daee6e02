"""Firing reminders: Rasa 3.6's ``handle_reminder`` on Palaver's processor.

A due reminder takes the path of ``POST /conversations/{id}/trigger_intent``:
under the conversation's lock, a new session is started if the current one
expired, the reminder's intent and entities are logged as an external user
message (text ``EXTERNAL: <intent>``), slots are extracted and the policies
predict until ``action_listen``; the new events are stored and published in
one fenced append, and the bot's replies are sent after that.

As in Rasa, the reminder does not fire, and nothing is stored, when

* the conversation's applied events no longer hold it (the conversation was
  restarted, a new session started, or it was deleted or replaced), or
* it has ``kill_on_user_message`` and a user message follows it (any ``user``
  event with text, external ones included, as in Rasa).

Palaver also drops it when a later ``cancel_reminder`` event of the
conversation cancels it, or a later reminder of the same name replaced it: a
cancellation or rescheduling stored by another replica (or by an action,
whatever process ran it) is honoured by the replica holding the timer.

The replies go to the channel of the conversation's latest user message
before the reminder was scheduled, if that channel can send on its own
(``callback``, when configured); otherwise they are only stored, as Rasa's
collecting channel drops them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from palaver.channels.base import OutputChannel
from palaver.core.events import Event, ReminderCancelled, ReminderScheduled, UserUttered
from palaver.core.reminders import ReminderScheduler, cancels, entity_list
from palaver.server.output_channels import output_channel_for
from palaver.server.runtime import ModelNotReadyError

if TYPE_CHECKING:
    from palaver.core.processor import ConversationTurn
    from palaver.core.tracker import DialogueStateTracker
    from palaver.server.runtime import Runtime

__all__ = ["create_reminder_scheduler", "fire_reminder", "why_not_fire"]

logger = logging.getLogger(__name__)


class _NotFiring(Exception):
    """Leaves the conversation block without storing anything (not an error)."""

    def __init__(self, reason: str, level: int = logging.DEBUG) -> None:
        super().__init__(reason)
        self.level = level


def _is_reminder(event: Event, name: str) -> bool:
    return isinstance(event, ReminderScheduled) and event.name == name


def _latest(
    tracker: DialogueStateTracker, reminder: ReminderScheduled
) -> tuple[int, ReminderScheduled] | None:
    """The conversation's latest ``reminder`` event with the reminder's name, and its index."""
    events = tracker.events
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if isinstance(event, ReminderScheduled) and event.name == reminder.name:
            return index, event
    return None


def why_not_fire(tracker: DialogueStateTracker, reminder: ReminderScheduled) -> str | None:
    """Why the due ``reminder`` must not fire in this conversation, or None if it fires."""
    latest = _latest(tracker, reminder)
    if latest is None or not any(_is_reminder(e, reminder.name) for e in tracker.applied_events()):
        return "the conversation no longer holds it (restarted, new session, deleted or replaced)"
    position, stored = latest
    if (stored.intent, stored.trigger_date_time) != (reminder.intent, reminder.trigger_date_time):
        # Rescheduled under the same name, e.g. by another replica, which holds its timer.
        return "a later reminder of the same name replaced it"
    later = tracker.events[position + 1 :]
    if reminder.kill_on_user_message and any(isinstance(e, UserUttered) and e.text for e in later):
        return "a user message followed it (kill_on_user_message)"
    if any(isinstance(e, ReminderCancelled) and cancels(e, reminder) for e in later):
        return "a later cancel_reminder event cancels it"
    return None


def scheduling_channel(tracker: DialogueStateTracker, reminder: ReminderScheduled) -> str | None:
    """Input channel of the latest user message before the reminder was scheduled."""
    latest = _latest(tracker, reminder)
    before = tracker.events if latest is None else tracker.events[: latest[0]]
    for event in reversed(before):
        if isinstance(event, UserUttered):
            return event.input_channel
    return None


def _trigger(
    runtime: Runtime, turn: ConversationTurn, reminder: ReminderScheduled
) -> OutputChannel:
    """Check the reminder on the locked conversation and log its intent; the output to use."""
    tracker = turn.tracker
    reason = why_not_fire(tracker, reminder)
    if reason is not None:
        raise _NotFiring(reason)
    if reminder.intent not in turn.model.domain.intents:
        raise _NotFiring(f"the intent '{reminder.intent}' is not in the domain", logging.WARNING)
    output = output_channel_for(runtime, scheduling_channel(tracker, reminder), tracker)
    turn.channel = output.name()
    tracker.update(
        UserUttered.create_external(
            reminder.intent, entity_list(reminder.entities), tracker.get_latest_input_channel()
        )
    )
    return output


async def fire_reminder(runtime: Runtime, sender_id: str, reminder: ReminderScheduled) -> None:
    """Trigger the reminder's intent in its conversation, unless it must not fire.

    Raises:
        ModelNotReadyError: no model is loaded.
        PalaverError: the lock, the store or the broker failed; nothing was sent.
    """
    processor = runtime.processor
    if processor is None:
        raise ModelNotReadyError(runtime.not_ready_reason)
    try:
        async with processor.conversation(sender_id) as turn:
            output = _trigger(runtime, turn, reminder)
            await turn.extract_slots()
            await turn.run_prediction_loop()
    except _NotFiring as exc:
        logger.log(
            exc.level,
            "conversation %s: reminder '%s' does not fire: %s",
            sender_id,
            reminder.name,
            exc,
        )
        return
    logger.info(
        "conversation %s: reminder '%s' triggered intent '%s'",
        sender_id,
        reminder.name,
        reminder.intent,
    )
    for message in turn.bot_messages:
        await output.send_response(sender_id, message)


def create_reminder_scheduler(runtime: Runtime) -> ReminderScheduler:
    """The runtime's scheduler; due reminders fire through ``fire_reminder``."""

    async def handle(sender_id: str, reminder: ReminderScheduled) -> None:
        await fire_reminder(runtime, sender_id, reminder)

    return ReminderScheduler(handle)
