"""Actions: what the assistant does after a prediction.

The processor resolves a predicted name with :func:`action_for_name` and runs
``await action.run(tracker, domain, ctx)`` with an :class:`ActionContext`;
the action returns events (``BotUttered`` for messages).
"""

from __future__ import annotations

from palaver.actions.base import Action, ActionContext
from palaver.actions.client import ActionServerClient, ActionServerReply
from palaver.actions.endpoint import EndpointSettings, HttpClient
from palaver.actions.factory import DEFAULT_ACTIONS, action_for_name, default_actions
from palaver.actions.response import bot_uttered_from_message

__all__ = [
    "DEFAULT_ACTIONS",
    "Action",
    "ActionContext",
    "ActionServerClient",
    "ActionServerReply",
    "EndpointSettings",
    "HttpClient",
    "action_for_name",
    "bot_uttered_from_message",
    "default_actions",
]
