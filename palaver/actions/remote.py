"""Custom actions that run on the action server (rasa-sdk)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from palaver.actions.response import UTTER_ACTION_KEY, bot_uttered_from_message
from palaver.errors import ActionExecutionError

if TYPE_CHECKING:
    from palaver.actions.base import ActionContext
    from palaver.actions.client import ActionServerClient
    from palaver.core.domain import Domain
    from palaver.core.events import BotUttered, Event
    from palaver.core.tracker import DialogueStateTracker

logger = logging.getLogger(__name__)


def require_client(ctx: ActionContext, action_name: str) -> ActionServerClient:
    """The action server client, or a clear error when none is configured."""
    if ctx.action_client is None:
        raise ActionExecutionError(
            f"Failed to run custom action '{action_name}': no action server is "
            f"configured. Set 'action_endpoint: {{url: ...}}' in endpoints.yml."
        )
    return ctx.action_client


async def render_responses(
    responses: list[dict[str, Any]], tracker: DialogueStateTracker, ctx: ActionContext
) -> list[BotUttered]:
    """Turn the action server's ``responses`` into ``BotUttered`` events (Rasa's rules).

    A response that names a domain response (``response``, or the legacy
    ``template``) is rendered by the NLG with the other keys as extra
    placeholder values; a missing response is skipped. Buttons of the message
    are appended to the rendered ones, and every other non-empty key
    overrides the rendered value.
    """
    messages: list[BotUttered] = []
    for raw in responses:
        response = dict(raw)
        name = response.pop("response", None) or response.pop("template", None)
        response.pop("template", None)
        draft: dict[str, Any] = {}
        if name:
            rendered = await ctx.nlg.generate(name, tracker, ctx.channel_name, **response)
            if not rendered:
                logger.error("Couldn't create message for response '%s'.", name)
                continue
            draft = rendered
            draft[UTTER_ACTION_KEY] = name
        buttons = response.pop("buttons", None) or []
        if buttons:
            draft["buttons"] = [*(draft.get("buttons") or []), *buttons]
        draft.update({key: value for key, value in response.items() if value})
        messages.append(bot_uttered_from_message(draft))
    return messages


class RemoteAction:
    """A custom action executed by the action server.

    Returns the bot messages first, then the events, as Rasa does.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r})"

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        client = require_client(ctx, self._name)
        reply = await client.run(self._name, tracker, domain)
        messages: list[Event] = list(await render_responses(reply.responses, tracker, ctx))
        return messages + reply.events
