"""The reminder scheduler: one asyncio timer per scheduled reminder, in this process.

A ``ReminderScheduled`` event becomes a job named by its conversation and its
``name`` (Rasa's job identity, but per conversation: the same name in another
conversation is another job). Scheduling a name again replaces the earlier
job; a ``ReminderCancelled`` event cancels the jobs it matches (see
:func:`cancels`). When a job is due, the scheduler hands it to its
``ReminderHandler`` in a task of its own; the handler decides, on the stored
conversation, whether the reminder still fires.

Jobs are timers on the running event loop (``loop.call_later``): no thread,
nothing persisted, so reminders are lost on restart, as Rasa's are. A job is
forgotten as soon as it is due or cancelled, and a conversation without jobs
takes no memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import orjson

from palaver.core.events import ReminderCancelled, ReminderScheduled
from palaver.errors import PalaverError

__all__ = ["ReminderHandler", "ReminderScheduler", "cancels", "entity_list"]

logger = logging.getLogger(__name__)

ReminderHandler = Callable[[str, ReminderScheduled], Awaitable[None]]
"""Fires a due reminder: ``handler(sender_id, reminder)``."""

ReminderEntities = list[dict[str, Any]] | dict[str, Any] | None


def entity_list(entities: ReminderEntities) -> list[dict[str, Any]]:
    """A reminder's entities as a list; ``{"city": "Berlin"}`` is Rasa's shorthand."""
    if isinstance(entities, dict):
        return [{"entity": name, "value": value} for name, value in entities.items()]
    return [dict(entity) for entity in entities or []]


def _entities_key(entities: ReminderEntities) -> list[bytes]:
    return sorted(orjson.dumps(e, option=orjson.OPT_SORT_KEYS) for e in entity_list(entities))


def cancels(cancel: ReminderCancelled, reminder: ReminderScheduled) -> bool:
    """Whether ``cancel`` cancels ``reminder`` (of the same conversation).

    As in Rasa, each of ``name``, ``intent`` and ``entities`` that is given
    must match, and an event without any of them cancels every reminder.
    Entities match when they are the same list (the shorthand object counts as
    its list), whatever the order.
    """
    if cancel.name and cancel.name != reminder.name:
        return False
    if cancel.intent and cancel.intent != reminder.intent:
        return False
    return not cancel.entities or _entities_key(cancel.entities) == _entities_key(reminder.entities)


def _seconds_until(reminder: ReminderScheduled) -> float:
    """Seconds until the reminder is due (0 if it is already); naive times are local time."""
    try:
        due = reminder.trigger_date_time.timestamp()
    except (OverflowError, OSError, ValueError):
        due = 0.0  # outside the platform's time range: treat it as due now
    return max(0.0, due - time.time())


@dataclass(slots=True)
class _Job:
    reminder: ReminderScheduled
    timer: asyncio.TimerHandle | None = None


class ReminderScheduler:
    """Timers that fire reminders through a handler; start and stop on the server's loop.

    Args:
        handler: called with the conversation and the reminder when it is due.
            Its exceptions are logged with the conversation id; the scheduler
            carries on.
    """

    def __init__(self, handler: ReminderHandler) -> None:
        self._handler = handler
        self._jobs: dict[str, dict[str, _Job]] = {}
        self._firing: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    # -------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Bind to the running loop; jobs can be scheduled from now on."""
        if self._loop is None and not self._stopped:
            self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        """Cancel every timer and every reminder being fired; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for jobs in self._jobs.values():
            for job in jobs.values():
                if job.timer is not None:
                    job.timer.cancel()
        self._jobs.clear()
        firing = list(self._firing)
        for task in firing:
            task.cancel()
        # Their failures were logged by _fire; shutting down.
        await asyncio.gather(*firing, return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def __del__(self) -> None:
        if self._loop is not None and not self._stopped:
            warnings.warn(f"{self!r} was never stopped", ResourceWarning, stacklevel=1)

    def __repr__(self) -> str:
        return f"ReminderScheduler(jobs={self.job_count()}, firing={len(self._firing)})"

    # ------------------------------------------------------------------- jobs
    def schedule(self, sender_id: str, reminder: ReminderScheduled) -> None:
        """Time ``reminder``; an earlier job of the same name in the conversation is replaced."""
        loop = self._loop
        if loop is None or self._stopped:
            logger.warning(
                "conversation %s scheduled reminder '%s' while the scheduler is not running; "
                "it will not fire",
                sender_id,
                reminder.name,
            )
            return
        jobs = self._jobs.setdefault(sender_id, {})
        previous = jobs.pop(reminder.name, None)
        if previous is not None and previous.timer is not None:
            previous.timer.cancel()
        job = _Job(reminder)
        delay = _seconds_until(reminder)
        job.timer = loop.call_later(delay, self._due, sender_id, job)
        jobs[reminder.name] = job
        logger.debug(
            "conversation %s: reminder '%s' fires in %.3f s", sender_id, reminder.name, delay
        )

    def cancel(self, sender_id: str, cancel: ReminderCancelled) -> int:
        """Cancel the conversation's jobs that ``cancel`` matches; returns how many."""
        jobs = self._jobs.get(sender_id)
        if not jobs:
            return 0
        matching = [name for name, job in jobs.items() if cancels(cancel, job.reminder)]
        for name in matching:
            timer = jobs.pop(name).timer
            if timer is not None:
                timer.cancel()
        if not jobs:
            del self._jobs[sender_id]
        if matching:
            logger.debug("conversation %s: cancelled reminders %s", sender_id, matching)
        return len(matching)

    def scheduled(self, sender_id: str) -> list[ReminderScheduled]:
        """The conversation's reminders that are waiting for their time."""
        return [job.reminder for job in self._jobs.get(sender_id, {}).values()]

    def job_count(self) -> int:
        """How many reminders wait for their time, over all conversations."""
        return sum(len(jobs) for jobs in self._jobs.values())

    def _due(self, sender_id: str, job: _Job) -> None:
        jobs = self._jobs.get(sender_id)
        name = job.reminder.name
        if jobs is None or jobs.get(name) is not job:
            return  # replaced or cancelled after its timer went off
        del jobs[name]
        if not jobs:
            del self._jobs[sender_id]
        task = asyncio.create_task(self._fire(sender_id, job.reminder), name=f"reminder:{name}")
        self._firing.add(task)
        task.add_done_callback(self._firing.discard)

    async def _fire(self, sender_id: str, reminder: ReminderScheduled) -> None:
        try:
            await self._handler(sender_id, reminder)
        except PalaverError as exc:  # no model, lock timeout, store down: say why, no trace
            logger.error(
                "conversation %s: reminder '%s' did not fire: %s", sender_id, reminder.name, exc
            )
        except Exception:
            logger.exception(
                "conversation %s: firing reminder '%s' failed", sender_id, reminder.name
            )
