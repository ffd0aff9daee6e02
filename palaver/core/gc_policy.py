"""Garbage collection in a server process: no stop-the-world pauses in steady state.

Python's cyclic GC collects its young generation every 700 net allocations of
container objects, and every older-generation pass walks all live objects,
the loaded model's included. A turn creates no reference cycles (measured:
no cyclic garbage per request), so everything it leaves behind is freed by
reference counting; what the collector keeps walking is the long-lived state:
the model and the per-conversation caches (trackers, replays), which churn
through the generations as conversations come and go. Because old objects die
as fast as new ones are made, the young generation's *net* count stays below
any threshold while its population grows, until one collection walks hundreds
of thousands of objects (measured: 300-600 ms pauses). So the processor

* raises the young threshold (``GC_YOUNG_THRESHOLD``);
* freezes (``gc.freeze``: the collector stops walking them; reference
  counting still frees them, and a freed object leaves the frozen set) each
  newly served model and, every ``GC_FREEZE_EVERY`` messages, whatever
  survived them, which keeps the young generation small;
* and collects fully (unfreeze, collect, freeze again) only when the
  tracked (frozen) objects have doubled (``GC_FULL_GROWTH``) since the last
  full collection. A server whose caches are full holds a steady population,
  so it never pauses for a full collection; a population that really grows
  (a bigger cache, a new model, a conversation of 100,000 events, reference
  cycles that some library leaves behind and that were alive when frozen) is
  walked again each time it doubles, so collection work stays proportional
  to allocation and a leak of cyclic garbage is bounded by the live heap.

Counting the frozen objects (``gc.get_freeze_count``) walks all of them:
10-40 ms for a server's half a million, ~7 % of a production turn's CPU if
asked every 500 messages (measured). So it is asked only when the heap, as
pymalloc's allocated blocks (``sys.getallocatedblocks``: a walk over arenas,
~0.2 ms for a 6-million-block heap), has grown by ``GC_CHECK_GROWTH`` since
the last count. Memory that the collector does not track (the in-memory
tracker store's JSON bytes) thus costs an occasional count, never a full
collection.

Earlier schedules collected fully every 100,000 messages whatever the heap
did (with 2,000 cached trackers, ~480,000 objects, a 460 ms pause every 40 s
at full load), then whenever the *blocks* grew by half (pauses while the
in-memory store filled with untracked bytes).
"""

from __future__ import annotations

import gc
import sys

GC_YOUNG_THRESHOLD = 50_000
GC_FREEZE_EVERY = 500
GC_FULL_GROWTH = 2.0
GC_CHECK_GROWTH = 1.25
# Below this many frozen objects a full collection is cheap (tens of ms) and not worth
# scheduling around: growth is measured from at least this base.
GC_FULL_MIN_BASE = 200_000
# Without pymalloc (PYTHONMALLOC=malloc) there are no blocks to watch: count the frozen
# objects every this many freezes instead.
GC_CHECK_EVERY_FREEZES = 20


def heap_blocks() -> int:
    """The size of the heap in pymalloc blocks (0 without pymalloc)."""
    return sys.getallocatedblocks()


def tune_gc() -> None:
    """Raise the young-generation threshold (never lowers a larger one)."""
    young, middle, old = gc.get_threshold()
    if young < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


class GcSchedule:
    """When to freeze the survivors of recent messages, and when to collect fully."""

    def __init__(self) -> None:
        self._messages = 0
        self._freezes = 0
        self._frozen_base = max(gc.get_freeze_count(), GC_FULL_MIN_BASE)
        self._blocks_at_check = heap_blocks()
        self.full_collections = 0
        self.counts = 0

    def message_done(self) -> None:
        self._messages += 1
        if self._messages < GC_FREEZE_EVERY:
            return
        self._messages = 0
        self._freezes += 1
        gc.freeze()
        if self._should_count() and self._count() > self._frozen_base * GC_FULL_GROWTH:
            self.collect_fully()

    def _should_count(self) -> bool:
        blocks = heap_blocks()
        if blocks <= 0:
            return self._freezes % GC_CHECK_EVERY_FREEZES == 0
        if blocks <= self._blocks_at_check * GC_CHECK_GROWTH:
            return False
        self._blocks_at_check = blocks
        return True

    def _count(self) -> int:
        self.counts += 1
        return gc.get_freeze_count()

    def collect_fully(self) -> None:
        """Walk everything once (cycles among frozen objects included), then freeze again."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.full_collections += 1
        self._frozen_base = max(gc.get_freeze_count(), GC_FULL_MIN_BASE)
        self._blocks_at_check = heap_blocks()
