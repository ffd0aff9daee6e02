"""Loop actions (forms, two-stage fallback): activate, do, finish.

This is an ABC on purpose: it is a hook subclasses fill in (``do``,
``is_done`` and optionally ``activate`` / ``deactivate``), Rasa's
``LoopAction``. One run:

1. if the loop is not the active one: ``ActiveLoop(name)`` + ``activate()``;
2. unless already done: ``do()``;
3. if done now: ``ActiveLoop(None)`` + ``deactivate()``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from palaver.core.events import ActiveLoop, Event

if TYPE_CHECKING:
    from palaver.actions.base import ActionContext
    from palaver.core.domain import Domain
    from palaver.core.tracker import DialogueStateTracker


class LoopAction(ABC):
    """Base of actions that keep running over several turns."""

    @property
    @abstractmethod
    def name(self) -> str: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        events: list[Event] = []
        if not self.is_activated(tracker):
            events.append(ActiveLoop(self.name))
            events += await self.activate(tracker, domain, ctx)
        if not await self.is_done(tracker, domain, ctx, events):
            events += await self.do(tracker, domain, ctx, events)
        if await self.is_done(tracker, domain, ctx, events):
            events.append(ActiveLoop(None))
            events += await self.deactivate(tracker, domain, ctx, events)
        return events

    def is_activated(self, tracker: DialogueStateTracker) -> bool:
        return tracker.active_loop_name == self.name

    async def activate(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        """Extra events when the loop starts (none by default)."""
        return []

    @abstractmethod
    async def do(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        ctx: ActionContext,
        events_so_far: list[Event],
    ) -> list[Event]:
        """One step of the loop."""

    @abstractmethod
    async def is_done(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        ctx: ActionContext,
        events_so_far: list[Event],
    ) -> bool:
        """Whether the loop has finished, given the events of this run so far."""

    async def deactivate(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        ctx: ActionContext,
        events_so_far: list[Event],
    ) -> list[Event]:
        """Extra events when the loop ends (none by default)."""
        return []
