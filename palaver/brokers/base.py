"""The event broker contract.

A broker publishes each event of each conversation exactly as Rasa does:
the event JSON with ``sender_id`` added. ``publish`` must never block message
handling: implementations enqueue and deliver in the background, keeping
undelivered events durably (outbox) while the broker is unreachable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

EventDict = dict[str, Any]


@runtime_checkable
class EventBroker(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Flush pending events (bounded time), then keep the rest durably."""
        ...

    async def publish(self, sender_id: str, events: Sequence[EventDict]) -> None:
        """Hand over the events of one turn, in order. Returns quickly."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters for /status and metrics: queued, delivered, failed, dropped..."""
        ...
