"""Helpers for action tests: trackers, messages, contexts, a conversation driver."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from palaver.actions.base import ActionContext
from palaver.actions.client import ActionServerClient
from palaver.actions.factory import action_for_name
from palaver.core.domain import Domain
from palaver.core.events import ActionExecuted, Event, UserUttered
from palaver.core.tracker import DialogueStateTracker
from palaver.nlg.templates import TemplatedNaturalLanguageGenerator

Handler = Callable[[dict[str, Any]], Awaitable[tuple[int, Any]] | tuple[int, Any]]


def make_tracker(
    domain: Domain, events: list[Event], sender_id: str = "user-1"
) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(sender_id, events, domain.create_slots())


def user(
    intent: str | None,
    text: str = "text",
    entities: list[dict[str, Any]] | None = None,
    **parse: Any,
) -> UserUttered:
    intent_data = {"name": intent, "confidence": 0.9} if intent else None
    parse_data = {"intent": intent_data, "entities": entities or [], "text": text, **parse}
    return UserUttered(text, intent_data, entities or [], parse_data)


def listen() -> ActionExecuted:
    return ActionExecuted("action_listen")


def context(
    domain: Domain,
    client: ActionServerClient | None = None,
    channel: str = "rest",
    **kwargs: Any,
) -> ActionContext:
    nlg = TemplatedNaturalLanguageGenerator.from_domain(domain, rng=random.Random(0))
    return ActionContext(nlg=nlg, channel_name=channel, action_client=client, **kwargs)


@dataclass
class FakeActionServer:
    """A real aiohttp server speaking the action server protocol; handlers per action."""

    url: str = ""
    handlers: dict[str, Handler] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    query: list[dict[str, str]] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def on(self, action_name: str, handler: Handler) -> None:
        self.handlers[action_name] = handler

    def reply(
        self,
        action_name: str,
        events: list[dict[str, Any]] | None = None,
        responses: list[dict[str, Any]] | None = None,
        status: int = 200,
    ) -> None:
        body = {"events": events or [], "responses": responses or []}
        self.handlers[action_name] = lambda _payload: (status, body)

    def for_action(self, action_name: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("next_action") == action_name]


class Conversation:
    """Applies turns like the processor: user message, slot extraction, actions."""

    def __init__(
        self, domain: Domain, ctx: ActionContext, events: list[Event] | None = None
    ) -> None:
        self.domain = domain
        self.ctx = ctx
        self.tracker: DialogueStateTracker = make_tracker(domain, events or [listen()])

    async def say(self, message: UserUttered) -> list[Event]:
        self.tracker.update(message)
        extract = action_for_name("action_extract_slots", self.domain)
        events = await extract.run(self.tracker, self.domain, self.ctx)
        for event in events:
            self.tracker.update(event)
        return events

    async def act(self, name: str) -> list[Event]:
        events = await action_for_name(name, self.domain).run(self.tracker, self.domain, self.ctx)
        self.tracker.update(ActionExecuted(name))
        for event in events:
            self.tracker.update(event)
        return events

    def listen(self) -> None:
        self.tracker.update(listen())
