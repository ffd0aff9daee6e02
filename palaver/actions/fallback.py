"""Fallback default actions: two-stage fallback, ask affirmation, revert fallback events.

``action_two_stage_fallback`` is Rasa's loop: after an ``nlu_fallback`` it
asks the user to affirm the top intent; a deny (``out_of_scope``) leads to
``utter_ask_rephrase``; a second failure gives up with
``action_default_fallback``. Once the user clarifies, the fallback turns are
reverted and the clarified message is replayed with confidence 1.0.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from palaver.actions.loops import LoopAction
from palaver.actions.response import bot_uttered_from_message
from palaver.core.constants import (
    ACTION_DEFAULT_ASK_AFFIRMATION_NAME,
    ACTION_DEFAULT_ASK_REPHRASE_NAME,
    ACTION_DEFAULT_FALLBACK_NAME,
    ACTION_LISTEN_NAME,
    ACTION_REVERT_FALLBACK_EVENTS_NAME,
    ACTION_TWO_STAGE_FALLBACK_NAME,
    DEFAULT_NLU_FALLBACK_INTENT_NAME,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    USER_INTENT_OUT_OF_SCOPE,
)
from palaver.core.events import (
    ActionExecuted,
    ActiveLoop,
    Event,
    UserUtteranceReverted,
    UserUttered,
)
from palaver.core.tracker import EventVerbosity
from palaver.errors import ActionExecutionError

if TYPE_CHECKING:
    from palaver.actions.base import ActionContext
    from palaver.core.domain import Domain
    from palaver.core.tracker import DialogueStateTracker


def copy_message(
    message: UserUttered, timestamp: float | None = None, *, confident: bool = True
) -> UserUttered:
    """A copy of ``message``, its intent confidence set to 1.0 when ``confident``.

    The copy keeps the original timestamp unless one is given.
    """
    intent: dict[str, Any] = dict(message.intent)
    if confident:
        intent[PREDICTED_CONFIDENCE_KEY] = 1.0
    parse_data = {**message.parse_data, INTENT: intent}
    return UserUttered(
        text=message.text,
        intent=intent,
        entities=[dict(entity) for entity in message.entities],
        parse_data=parse_data,
        input_channel=message.input_channel,
        message_id=message.message_id,
        metadata=dict(message.metadata),
        timestamp=message.timestamp if timestamp is None else timestamp,
    )


def _latest_message(tracker: DialogueStateTracker, purpose: str) -> UserUttered:
    latest = tracker.latest_message
    if latest is None:
        raise ActionExecutionError(f"Cannot {purpose}: the tracker has no user message.")
    return latest


class ActionDefaultAskAffirmation:
    """Asks "Did you mean '<intent>'?" with Yes (``/<intent>``) and No (``/out_of_scope``).

    For an ``nlu_fallback`` message the second-ranked intent is asked about.
    Override it with a custom action for nicer prompts, as in Rasa.
    """

    @property
    def name(self) -> str:
        return ACTION_DEFAULT_ASK_AFFIRMATION_NAME

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        latest = _latest_message(tracker, "ask for affirmation")
        intent = latest.intent_name
        ranking = latest.parse_data.get(INTENT_RANKING_KEY) or []
        if intent == DEFAULT_NLU_FALLBACK_INTENT_NAME and len(ranking) > 1:
            intent = ranking[1].get(INTENT_NAME_KEY)
        message = {
            "text": f"Did you mean '{intent}'?",
            "buttons": [
                {"title": "Yes", "payload": f"/{intent}"},
                {"title": "No", "payload": f"/{USER_INTENT_OUT_OF_SCOPE}"},
            ],
            "utter_action": self.name,
        }
        return [bot_uttered_from_message(message)]


def _revert_rephrasing_events() -> list[Event]:
    return [
        UserUtteranceReverted(),  # the rephrased message
        UserUtteranceReverted(),  # the deny and the rephrase request
        UserUtteranceReverted(),  # the affirmation request and the misunderstood message
        ActionExecuted(ACTION_LISTEN_NAME),
    ]


class ActionRevertFallbackEvents:
    """Reverts the turns of a two-stage fallback once the user clarified (legacy policy)."""

    @property
    def name(self) -> str:
        return ACTION_REVERT_FALLBACK_EVENTS_NAME

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        if tracker.last_executed_action_has(ACTION_DEFAULT_ASK_REPHRASE_NAME):
            rephrased = copy_message(_latest_user_event(tracker), confident=False)
            return [*_revert_rephrasing_events(), rephrased]
        if tracker.last_executed_action_has(ACTION_DEFAULT_ASK_AFFIRMATION_NAME):
            return self._revert_affirmation(tracker)
        return []

    @staticmethod
    def _revert_affirmation(tracker: DialogueStateTracker) -> list[Event]:
        events: list[Event] = [
            UserUtteranceReverted(),  # the affirmation and its request
            UserUtteranceReverted(),  # the original message (replayed below)
            ActionExecuted(ACTION_LISTEN_NAME),
        ]
        if tracker.last_executed_action_has(ACTION_DEFAULT_ASK_REPHRASE_NAME, skip=1):
            events += _revert_rephrasing_events()
        return [*events, copy_message(_latest_user_event(tracker))]


def _latest_user_event(tracker: DialogueStateTracker) -> UserUttered:
    event = tracker.get_last_event_for(UserUttered)
    if not isinstance(event, UserUttered):
        raise ActionExecutionError("Cannot revert fallback events: no user message to revert to.")
    return event


def _last_intent_names(tracker: DialogueStateTracker, count: int) -> list[str | None]:
    names: list[str | None] = []
    for skip in range(count):
        event = tracker.get_last_event_for(
            (UserUttered, UserUtteranceReverted),
            skip=skip,
            event_verbosity=EventVerbosity.AFTER_RESTART,
        )
        if isinstance(event, UserUttered):
            names.append(event.intent_name)
    return names


def _last_intent_name(tracker: DialogueStateTracker) -> str | None:
    latest = tracker.latest_message
    return None if latest is None else latest.intent_name


def _two_fallbacks_in_a_row(tracker: DialogueStateTracker) -> bool:
    return _last_intent_names(tracker, 2) == [DEFAULT_NLU_FALLBACK_INTENT_NAME] * 2


def _second_affirmation_failed(tracker: DialogueStateTracker) -> bool:
    return _last_intent_names(tracker, 3) == [
        USER_INTENT_OUT_OF_SCOPE,
        DEFAULT_NLU_FALLBACK_INTENT_NAME,
        USER_INTENT_OUT_OF_SCOPE,
    ]


class TwoStageFallbackAction(LoopAction):
    """The ``action_two_stage_fallback`` loop (Rasa's ``TwoStageFallbackAction``)."""

    @property
    def name(self) -> str:
        return ACTION_TWO_STAGE_FALLBACK_NAME

    async def do(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        ctx: ActionContext,
        events_so_far: list[Event],
    ) -> list[Event]:
        from palaver.actions.factory import action_for_name

        just_activated = any(isinstance(event, ActiveLoop) for event in events_so_far)
        if just_activated or _last_intent_name(tracker) == DEFAULT_NLU_FALLBACK_INTENT_NAME:
            ask = action_for_name(ACTION_DEFAULT_ASK_AFFIRMATION_NAME, domain)
        else:
            ask = action_for_name(ACTION_DEFAULT_ASK_REPHRASE_NAME, domain)
        return await ask.run(tracker, domain, ctx)

    async def is_done(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        ctx: ActionContext,
        events_so_far: list[Event],
    ) -> bool:
        clarified = _last_intent_name(tracker) not in (
            DEFAULT_NLU_FALLBACK_INTENT_NAME,
            USER_INTENT_OUT_OF_SCOPE,
        )
        return clarified or _two_fallbacks_in_a_row(tracker) or _second_affirmation_failed(tracker)

    async def deactivate(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        ctx: ActionContext,
        events_so_far: list[Event],
    ) -> list[Event]:
        from palaver.actions.factory import action_for_name

        if _two_fallbacks_in_a_row(tracker) or _second_affirmation_failed(tracker):
            give_up = action_for_name(ACTION_DEFAULT_FALLBACK_NAME, domain)
            return await give_up.run(tracker, domain, ctx)
        latest = _latest_message(tracker, "replay the clarified message")
        return [
            UserUtteranceReverted(),
            ActionExecuted(ACTION_LISTEN_NAME),
            copy_message(latest, time.time()),
        ]
