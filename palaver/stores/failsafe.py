"""Fail-safe tracker store: an explicit, observable in-memory fallback.

``FailSafeTrackerStore(primary)`` forwards every call to ``primary``. When the
primary raises ``StoreUnavailableError`` (a connection-level failure, and only
that: a misconfiguration, an auth failure, an SQL error or a stale fence is
re-raised untouched) it switches to *fallback mode*:

* one warning is logged; ``status()`` shows ``mode="fallback"``, the number
  of switches, since when, and how much the fallback holds;
* ``load``/``append`` are served by an ``InMemoryTrackerStore``. A
  conversation that existed only in the primary therefore looks new while the
  primary is down: its earlier events cannot be read until it recovers;
* ``keys``/``delete`` raise ``StoreUnavailableError``: they are admin
  operations and answering them from the fallback would silently be wrong;
* a background task probes the primary (a cheap ``load``) with exponential
  backoff.

Recovery: once a probe succeeds, new calls wait while the fallback's events
are replayed, conversation by conversation in the order they were first
written, each as one ``append`` (without fence) to the primary, after the
events the primary already had. A conversation is dropped from the fallback
only after its replay succeeded; if the primary fails again mid-replay the
rest stays in the fallback and the probe continues. Then the mode goes back to
``primary`` and one info line is logged. Delivery is at-least-once: if an
append's outcome was unknown (the connection died after the primary
committed), its events may end up in the primary twice.

``append``'s ``expected_total`` (the event count the writer loaded) is checked
by whichever store serves the append, like ``load``: in primary mode by the
primary, in fallback mode by the fallback, against its own copy of the
conversation. A conversation the fallback does not hold yet is the exception:
its writer loaded it from the primary before the outage, and that count
cannot be checked while the primary is down, so the append is accepted as
before (the replay puts it after the primary's events). A turn loaded from
the fallback and appended after the replay is refused by the primary (its
count now includes the primary's events), so the processor redoes it on the
whole conversation. The replay itself appends without ``expected_total``.

``version()`` (the optional ``VersionedStore`` capability) follows the same
mode as ``load``, so a tracker cached from the primary is not reused while the
fallback serves (and vice versa). The wrapper has the capability only when
its primary has it: ``FailSafeTrackerStore(primary)`` then returns a
``VersionedFailSafeTrackerStore``.

The fallback is bounded (``max_fallback_events``); when full, appends raise
``StoreUnavailableError`` rather than eat memory. On ``stop()`` a last replay
is attempted; events that still could not be written are reported in an
error log line (they are lost with the process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal, Self, cast

from palaver.errors import StoreError, StoreUnavailableError
from palaver.stores.base import (
    ConversationVersion,
    EventDict,
    StoredConversation,
    TrackerStore,
    VersionedStore,
)
from palaver.stores.memory import InMemoryTrackerStore

logger = logging.getLogger(__name__)

PROBE_SENDER_ID = "__palaver_failsafe_probe__"

Mode = Literal["primary", "fallback"]


class FailSafeTrackerStore:
    """Wraps a tracker store with an in-memory fallback for connection failures.

    Args:
        primary: the real store.
        retry_interval: seconds before the first probe of a failed primary;
            doubles after each failed probe, up to ``max_retry_interval``.
        max_retry_interval: cap of the probe interval.
        max_fallback_events: how many events the fallback holds at most.
    """

    def __new__(cls, primary: TrackerStore, **options: Any) -> FailSafeTrackerStore:
        # Offer version() exactly when the primary does (pathlib-style dispatch).
        if cls is FailSafeTrackerStore and isinstance(primary, VersionedStore):
            cls = VersionedFailSafeTrackerStore
        return super().__new__(cls)

    def __init__(
        self,
        primary: TrackerStore,
        *,
        retry_interval: float = 1.0,
        max_retry_interval: float = 30.0,
        max_fallback_events: int = 100_000,
    ) -> None:
        self.primary = primary
        self.retry_interval = retry_interval
        self.max_retry_interval = max_retry_interval
        self.max_fallback_events = max_fallback_events
        self._fallback = InMemoryTrackerStore()
        self._mode: Mode = "primary"
        self._switches = 0
        self._since: float | None = None
        self._replayed_events = 0
        self._last_error: str | None = None
        self._probe: asyncio.Task[None] | None = None
        self._not_replaying = asyncio.Event()
        self._not_replaying.set()

    def __repr__(self) -> str:
        return f"FailSafeTrackerStore({self.primary!r}, mode={self._mode!r})"

    @property
    def mode(self) -> Mode:
        return self._mode

    def status(self) -> dict[str, Any]:
        """State for ``/status`` and metrics (JSON-serialisable)."""
        return {
            "mode": self._mode,
            "switches": self._switches,
            "since": self._since,
            "fallback_conversations": self._fallback.conversation_count(),
            "fallback_events": self._fallback.event_count(),
            "replayed_events": self._replayed_events,
            "last_error": self._last_error,
        }

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start the primary; its startup errors propagate (no fallback at startup)."""
        await self.primary.start()

    async def stop(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
        if self._fallback.conversation_count():
            with contextlib.suppress(StoreError):
                await self._replay()
        if self._fallback.conversation_count():
            logger.error(
                "Tracker store stopped with %d events of %d conversations still in the "
                "in-memory fallback; they could not be written to the primary and are lost",
                self._fallback.event_count(), self._fallback.conversation_count(),
            )  # fmt: skip
        await self.primary.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- contract --------------------------------------------------------------------

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        await self._not_replaying.wait()
        if self._mode == "primary":
            try:
                return await self.primary.load(sender_id, full=full)
            except StoreUnavailableError as exc:
                self._switch_to_fallback(exc)
        return await self._fallback.load(sender_id, full=full)

    async def append(
        self,
        sender_id: str,
        events: Sequence[EventDict],
        *,
        fence: int | None = None,
        expected_total: int | None = None,
    ) -> None:
        await self._not_replaying.wait()
        if self._mode == "primary":
            try:
                await self.primary.append(
                    sender_id, events, fence=fence, expected_total=expected_total
                )
                return
            except StoreUnavailableError as exc:
                self._switch_to_fallback(exc)
        if self._fallback.event_count() + len(events) > self.max_fallback_events:
            raise StoreUnavailableError(
                f"Tracker store unavailable and its in-memory fallback is full "
                f"({self.max_fallback_events} events); conversation '{sender_id}' not saved."
            )
        if not self._fallback.holds(sender_id):
            # The writer loaded the conversation from the primary before it went
            # down; that count cannot be checked now (see the module docstring).
            expected_total = None
        await self._fallback.append(sender_id, events, fence=fence, expected_total=expected_total)

    async def keys(self) -> AsyncIterator[str]:
        await self._not_replaying.wait()
        self._refuse_in_fallback("keys")
        try:
            async for sender_id in self.primary.keys():
                yield sender_id
        except StoreUnavailableError as exc:
            self._switch_to_fallback(exc)
            raise

    async def delete(self, sender_id: str) -> None:
        await self._not_replaying.wait()
        self._refuse_in_fallback("delete")
        try:
            await self.primary.delete(sender_id)
        except StoreUnavailableError as exc:
            self._switch_to_fallback(exc)
            raise

    # -- switching -------------------------------------------------------------------

    def _refuse_in_fallback(self, operation: str) -> None:
        if self._mode == "fallback":
            raise StoreUnavailableError(
                f"Tracker store {operation} refused: the primary store is unavailable "
                f"(since {self._since}) and the in-memory fallback cannot answer it."
            )

    def _switch_to_fallback(self, exc: StoreUnavailableError) -> None:
        self._last_error = f"{type(exc).__name__}: {exc}"
        if self._mode == "fallback":
            return
        self._mode = "fallback"
        self._switches += 1
        self._since = time.time()
        logger.warning(
            "Tracker store %r unavailable, serving conversations from the in-memory "
            "fallback until it recovers: %s",
            self.primary, exc,
        )  # fmt: skip
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(
                self._probe_until_recovered(), name="palaver-tracker-store-probe"
            )

    async def _probe_until_recovered(self) -> None:
        delay = self.retry_interval
        while self._mode == "fallback":
            await asyncio.sleep(delay)
            try:
                await self.primary.load(PROBE_SENDER_ID)
                await self._replay()
            except StoreUnavailableError as exc:
                self._last_error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                # The primary refused the replay (or a bug): keep the events in the
                # fallback and keep probing, or the store would stay in fallback
                # mode for good; status() and the log say why.
                self._last_error = f"{type(exc).__name__}: {exc}"
                logger.exception(
                    "Replaying the fallback to the tracker store %r failed", self.primary
                )
            delay = min(delay * 2, self.max_retry_interval)

    async def _replay(self) -> None:
        """Move the fallback's conversations to the primary, then switch back to it."""
        self._not_replaying.clear()  # calls wait: nothing may reach the fallback meanwhile
        try:
            conversations, events = 0, 0
            while (sender_id := self._fallback.first_conversation()) is not None:
                stored = await self._fallback.load(sender_id, full=True)
                pending = stored.events if stored is not None else []
                await self.primary.append(sender_id, pending)
                await self._fallback.delete(sender_id)
                conversations += 1
                events += len(pending)
                self._replayed_events += len(pending)
            if self._mode == "fallback":
                self._mode = "primary"
                outage = time.time() - (self._since or time.time())
                self._since = time.time()
                logger.info(
                    "Tracker store %r is back after %.1fs; replayed %d events of %d "
                    "conversations from the fallback",
                    self.primary, outage, events, conversations,
                )  # fmt: skip
        finally:
            self._not_replaying.set()


class VersionedFailSafeTrackerStore(FailSafeTrackerStore):
    """A fail-safe wrapper around a primary that implements ``version()``."""

    async def version(self, sender_id: str) -> ConversationVersion | None:
        await self._not_replaying.wait()
        if self._mode == "primary":
            primary = cast(VersionedStore, self.primary)  # checked in __new__
            try:
                return await primary.version(sender_id)
            except StoreUnavailableError as exc:
                self._switch_to_fallback(exc)
        return await self._fallback.version(sender_id)
