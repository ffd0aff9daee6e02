"""The per-conversation lock contract.

A lock store hands out FIFO tickets per conversation: messages of one
conversation are handled one at a time in arrival order, different
conversations in parallel.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


# Not frozen: a frozen dataclass's __init__ costs ~10x more (object.__setattr__
# per field) and this one is built several times per message. Treat it as
# immutable; unsafe_hash keeps it hashable as before.
@dataclass(slots=True, unsafe_hash=True)
class LockHandle:
    """Held while a conversation is being processed.

    ``fence`` is a fencing token: strictly increasing per conversation across
    all replicas. Stores refuse writes with a fence lower than one they saw.

    ``note`` is a short string the holder may set before releasing; the next
    holder of the conversation finds it in ``previous_note``. A note reaches
    only the immediately next holder, and only from a holder that released
    normally (a holder that crashed, lost its lock or whose body raised leaves
    none), so ``previous_note`` is None unless the last holder said something.
    It is a hint, never a guarantee: the processor notes the conversation's
    version to skip re-reading it, and the store's ``expected_total`` check
    still refuses a turn computed on a stale view. Lock stores that keep no
    notes always give None.
    """

    conversation_id: str
    ticket: int
    fence: int
    previous_note: str | None = field(default=None, compare=False)
    note: str | None = field(default=None, compare=False)


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
