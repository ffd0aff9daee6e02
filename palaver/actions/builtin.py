"""Default actions with Rasa 3.6 behaviour (the fallback ones are in :mod:`.fallback`)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from palaver.actions.response import bot_uttered_from_message, utter_response
from palaver.core.constants import (
    ACTION_BACK_NAME,
    ACTION_DEACTIVATE_LOOP_NAME,
    ACTION_DEFAULT_ASK_REPHRASE_NAME,
    ACTION_DEFAULT_FALLBACK_NAME,
    ACTION_LISTEN_NAME,
    ACTION_RESTART_NAME,
    ACTION_SEND_TEXT_NAME,
    ACTION_SESSION_START_NAME,
    ACTION_UNLIKELY_INTENT_NAME,
    REQUESTED_SLOT,
    SESSION_START_METADATA_SLOT,
)
from palaver.core.events import (
    ActionExecuted,
    ActiveLoop,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
)

if TYPE_CHECKING:
    from palaver.actions.base import ActionContext
    from palaver.core.domain import Domain
    from palaver.core.tracker import DialogueStateTracker


class _Named:
    """Shared ``name`` / ``repr`` of the default actions (``NAME`` per class)."""

    NAME = ""

    @property
    def name(self) -> str:
        return self.NAME

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ActionListen(_Named):
    """Wait for the user: no events (the processor stops predicting)."""

    NAME = ACTION_LISTEN_NAME

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        return []


class ActionRestart(_Named):
    """``utter_restart`` if the domain has it, then ``Restarted``."""

    NAME = ACTION_RESTART_NAME

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        events = await utter_response("utter_restart", tracker, ctx, silent_fail=True)
        return [*events, Restarted()]


class ActionSessionStart(_Named):
    """Start a new session.

    Events: ``SessionStarted``; the slots of the previous session as ``SlotSet``
    events when ``session_config.carry_over_slots``; the triggering message's
    metadata as the ``session_started_metadata`` slot; ``ActionExecuted(action_listen)``.
    """

    NAME = ACTION_SESSION_START_NAME

    @staticmethod
    def carried_over_slots(tracker: DialogueStateTracker) -> list[SlotSet]:
        return [
            SlotSet(event.key, event.value, metadata=event.metadata)
            for event in tracker.applied_events()
            if isinstance(event, SlotSet)
        ]

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        events: list[Event] = [SessionStarted()]
        carried: list[SlotSet] = []
        if domain.session_config.carry_over_slots:
            carried = self.carried_over_slots(tracker)
            events.extend(carried)
        metadata = ctx.message_metadata
        # Rasa's processor sets the slot before this action runs; when that
        # already happened the carried-over SlotSet has it.
        already = [e for e in carried if e.key == SESSION_START_METADATA_SLOT]
        if metadata and (not already or already[-1].value != metadata):
            events.append(SlotSet(SESSION_START_METADATA_SLOT, metadata))
        events.append(ActionExecuted(ACTION_LISTEN_NAME))
        return events


class ActionDefaultFallback(_Named):
    """``utter_default`` if the domain has it, then ``UserUtteranceReverted``."""

    NAME = ACTION_DEFAULT_FALLBACK_NAME

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        events = await utter_response("utter_default", tracker, ctx, silent_fail=True)
        return [*events, UserUtteranceReverted()]


class ActionDeactivateLoop(_Named):
    """``ActiveLoop(None)`` and ``SlotSet(requested_slot, None)``."""

    NAME = ACTION_DEACTIVATE_LOOP_NAME

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        return [ActiveLoop(None), SlotSet(REQUESTED_SLOT, None)]


class ActionBack(_Named):
    """``utter_back`` if the domain has it, then two ``UserUtteranceReverted``."""

    NAME = ACTION_BACK_NAME

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        events = await utter_response("utter_back", tracker, ctx, silent_fail=True)
        return [*events, UserUtteranceReverted(), UserUtteranceReverted()]


class ActionDefaultAskRephrase(_Named):
    """``utter_ask_rephrase`` if the domain has it."""

    NAME = ACTION_DEFAULT_ASK_REPHRASE_NAME

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        return await utter_response("utter_ask_rephrase", tracker, ctx, silent_fail=True)


class ActionUnlikelyIntent(_Named):
    """Marks an unexpected intent (``UnexpecTEDIntentPolicy``): no events."""

    NAME = ACTION_UNLIKELY_INTENT_NAME

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        return []


class ActionSendText(_Named):
    """Sends ``action_metadata["message"]`` (default: an empty text)."""

    NAME = ACTION_SEND_TEXT_NAME

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        message = (ctx.action_metadata or {}).get("message", {"text": ""})
        if not isinstance(message, dict):
            message = {"text": str(message)}
        return [bot_uttered_from_message(copy.deepcopy(message))]
