"""Actions that utter a response: ``utter_*``, retrieval ``utter_<intent>``, end-to-end text."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from palaver.core.constants import RESPONSE_SELECTOR, UTTER_PREFIX
from palaver.core.events import ActionExecuted, BotUttered, Event

if TYPE_CHECKING:
    from palaver.actions.base import ActionContext
    from palaver.core.domain import Domain
    from palaver.core.tracker import DialogueStateTracker

logger = logging.getLogger(__name__)

UTTER_ACTION_KEY = "utter_action"
RESPONSE_SELECTOR_DEFAULT_INTENT = "default"


def bot_uttered_from_message(message: Mapping[str, Any]) -> BotUttered:
    """Turn a rendered message into a ``BotUttered`` event, as Rasa does.

    ``text`` becomes the event text, the rich keys (``elements, quick_replies,
    buttons, attachment, image, custom``) go into ``data`` (an ``image`` also
    serves as ``attachment`` when there is none), and every other key (e.g.
    ``utter_action``) into ``metadata``.
    """
    return BotUttered.from_message(message)


async def utter_response(
    response_name: str,
    tracker: DialogueStateTracker,
    ctx: ActionContext,
    *,
    silent_fail: bool = False,
    **kwargs: Any,
) -> list[Event]:
    """Render ``response_name`` via the NLG; ``[]`` (and a log line) if it does not exist."""
    message = await ctx.nlg.generate(response_name, tracker, ctx.channel_name, **kwargs)
    if message is None:
        if not silent_fail:
            logger.error("Couldn't create message for response '%s'.", response_name)
        return []
    message[UTTER_ACTION_KEY] = response_name
    return [bot_uttered_from_message(message)]


class ActionBotResponse:
    """Utters the response of the same name (``utter_greet``).

    Args:
        name: the response (and action) name.
        silent_fail: do not log when the response is missing (default actions
            that utter optional responses, e.g. ``utter_restart``).
    """

    def __init__(self, name: str, silent_fail: bool = False) -> None:
        self._name = name
        self.silent_fail = silent_fail

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r})"

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        return await utter_response(self._name, tracker, ctx, silent_fail=self.silent_fail)


def retrieval_intent_of(action_name: str) -> str:
    """``utter_faq`` -> ``faq``."""
    return action_name[len(UTTER_PREFIX) :] if action_name.startswith(UTTER_PREFIX) else action_name


class ActionRetrieveResponse:
    """Utters the response the response selector chose for a retrieval intent.

    For ``utter_faq`` it reads ``response_selector.faq`` (or
    ``response_selector.default``) of the latest message's parse data and
    renders the full retrieval response, e.g. ``utter_faq/ask_name``. When the
    domain has no such response, the selector's own ``responses`` are used.
    """

    def __init__(self, name: str, silent_fail: bool = False) -> None:
        self._name = name
        self.silent_fail = silent_fail

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r})"

    def selected(self, tracker: DialogueStateTracker) -> dict[str, Any] | None:
        """The response selector's prediction for this action, if any."""
        latest = tracker.latest_message
        if latest is None:
            return None
        selector = (latest.parse_data or {}).get(RESPONSE_SELECTOR) or {}
        key = retrieval_intent_of(self._name)
        if key not in selector:
            key = RESPONSE_SELECTOR_DEFAULT_INTENT
        prediction = selector.get(key)
        if not isinstance(prediction, dict):
            return None
        response = prediction.get("response")
        return response if isinstance(response, dict) else None

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        selected = self.selected(tracker)
        full_name = selected.get(UTTER_ACTION_KEY) if selected else None
        if not selected or not full_name:
            if not self.silent_fail:
                logger.error("Couldn't create message for response action '%s'.", self._name)
            return []
        logger.debug("picking response '%s' from the response selector", full_name)
        message = await ctx.nlg.generate(full_name, tracker, ctx.channel_name)
        if message is None:
            candidates = selected.get("responses") or []
            if not candidates or not isinstance(candidates[0], dict):
                if not self.silent_fail:
                    logger.error("Couldn't create message for response '%s'.", full_name)
                return []
            message = copy.deepcopy(candidates[0])
        message[UTTER_ACTION_KEY] = full_name
        return [bot_uttered_from_message(message)]


class ActionEndToEndResponse:
    """An end-to-end bot turn: the action's "name" is the text it says."""

    def __init__(self, action_text: str) -> None:
        self.action_text = action_text

    @property
    def name(self) -> str:
        return self.action_text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.action_text!r})"

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        return [bot_uttered_from_message({"text": self.action_text})]


def executed_event(
    action: object,
    name: str,
    policy: str | None,
    confidence: float | None,
    hide_rule_turn: bool = False,
) -> ActionExecuted:
    """The ``ActionExecuted`` logged after ``action`` ran (``event_for_successful_execution``).

    An end-to-end bot text is logged as ``action_text`` with no name, so the
    next state's previous action is the text, as in the training stories.
    """
    if isinstance(action, ActionEndToEndResponse):
        return ActionExecuted(
            None, policy, confidence, action_text=name, hide_rule_turn=hide_rule_turn
        )
    return ActionExecuted(name, policy, confidence, hide_rule_turn=hide_rule_turn)
