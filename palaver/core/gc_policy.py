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
* and collects fully (unfreeze, collect, freeze again) only when the heap
  has grown by ``GC_FULL_GROWTH`` since the last full collection. A server
  whose caches are full holds a steady heap, so it never pauses for a full
  collection; a heap that really grows (a bigger cache, a new model,
  reference cycles that some library leaves behind and that were alive when
  frozen) is walked again after growing by half, the rule CPython's own
  collector uses for its oldest generation (there: a quarter), so collection
  work stays proportional to allocation and a leak of cyclic garbage is
  bounded by half the heap.

The heap is measured as pymalloc's allocated blocks (``sys.getallocatedblocks``:
a walk over arenas, ~0.2 ms for a 6-million-block heap), not as the frozen set
(``gc.get_freeze_count`` walks every frozen object: 10-40 ms for a server's
half a million, measured at ~7 % of a production turn's CPU when asked every
500 messages).

An earlier schedule collected fully every 100,000 messages whatever the heap
did: with 2,000 cached trackers (~480,000 objects) that was a 460 ms pause
every 40 s at full load.
"""

from __future__ import annotations

import gc
import sys

GC_YOUNG_THRESHOLD = 50_000
GC_FREEZE_EVERY = 500
GC_FULL_GROWTH = 1.5
# Below this many allocated blocks a full collection is cheap (a few ms) and not worth
# scheduling around: growth is measured from at least this base.
GC_FULL_MIN_BASE = 1_000_000


def heap_blocks() -> int:
    """The size of the heap in pymalloc blocks; the frozen set's size without pymalloc."""
    blocks = sys.getallocatedblocks()
    # 0 under PYTHONMALLOC=malloc: fall back to counting the frozen objects (a walk).
    return blocks if blocks > 0 else gc.get_freeze_count()


def tune_gc() -> None:
    """Raise the young-generation threshold (never lowers a larger one)."""
    young, middle, old = gc.get_threshold()
    if young < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


class GcSchedule:
    """When to freeze the survivors of recent messages, and when to collect fully."""

    def __init__(self) -> None:
        self._messages = 0
        self._base = self._next_base()
        self.full_collections = 0

    @staticmethod
    def _next_base() -> int:
        return max(heap_blocks(), GC_FULL_MIN_BASE)

    def message_done(self) -> None:
        self._messages += 1
        if self._messages < GC_FREEZE_EVERY:
            return
        self._messages = 0
        gc.freeze()
        if heap_blocks() > self._base * GC_FULL_GROWTH:
            self.collect_fully()

    def collect_fully(self) -> None:
        """Walk everything once (cycles among frozen objects included), then freeze again."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.full_collections += 1
        self._base = self._next_base()
