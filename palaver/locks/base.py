"""The per-conversation lock contract.

A lock store hands out FIFO tickets per conversation: messages of one
conversation are handled one at a time in arrival order, different
conversations in parallel.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


# Not frozen: a frozen dataclass's __init__ costs ~10x more (object.__setattr__
# per field) and this one is built several times per message. Treat it as
# immutable; unsafe_hash keeps it hashable as before.
@dataclass(slots=True, unsafe_hash=True)
class LockHandle:
    """Held while a conversation is being processed.

    ``fence`` is a fencing token: strictly increasing per conversation across
    all replicas. Stores refuse writes with a fence lower than one they saw.
    """

    conversation_id: str
    ticket: int
    fence: int


@runtime_checkable
class LockStore(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def lock(
        self, conversation_id: str, *, wait_timeout: float | None = None
    ) -> AbstractAsyncContextManager[LockHandle]:
        """Take the conversation's next ticket and wait until it is served.

        Raises ``LockTimeoutError`` after ``wait_timeout`` seconds (default:
        the store's configured timeout); the ticket is then given up so that
        later waiters are not blocked by it.
        """
        ...

    @property
    def multi_process_safe(self) -> bool:
        """True when the lock also excludes other processes (e.g. Redis)."""
        ...
