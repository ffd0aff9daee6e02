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

Both the count and the full collection stop the world (a count of half a
million objects 10-40 ms, a full collection of them ~0.5 s), so they wait for
an idle moment: the processor calls ``on_idle`` once no turn has been in
flight for ``GC_IDLE_AFTER`` seconds, and at freeze time only marks the work
as due (``idle_due``). A server that never idles still does it under load,
at wider margins: a count once the heap doubled (``GC_CHECK_GROWTH_BUSY``)
and a full collection once the population quadrupled
(``GC_FULL_GROWTH_BUSY``), so the leak bound stays proportional to the live
heap.

Earlier schedules collected fully every 100,000 messages whatever the heap
did (with 2,000 cached trackers, ~480,000 objects, a 460 ms pause every 40 s
at full load), then whenever the *blocks* grew by half (pauses while the
in-memory store filled with untracked bytes), then on doubling under load
(a half-second pause in the middle of traffic while the caches filled).
"""

from __future__ import annotations

import gc
import sys

GC_YOUNG_THRESHOLD = 50_000
GC_FREEZE_EVERY = 500
GC_FULL_GROWTH = 2.0
GC_CHECK_GROWTH = 1.25
# The same, when the work cannot wait for an idle moment any longer.
GC_FULL_GROWTH_BUSY = 4.0
GC_CHECK_GROWTH_BUSY = 2.0
# No turn in flight for this long counts as idle (see MessageProcessor).
GC_IDLE_AFTER = 0.05
# Below this many frozen objects a full collection is cheap (tens of ms) and not worth
# scheduling around: growth is measured from at least this base.
GC_FULL_MIN_BASE = 200_000
# Without pymalloc (PYTHONMALLOC=malloc) there are no blocks to watch: count the frozen
# objects every this many freezes instead (at an idle moment; under load every
# GC_CHECK_GROWTH_BUSY times as many).
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
    """When to freeze the survivors of recent messages, and when to count and collect fully.

    ``message_done`` after every message; ``on_idle`` when no message has been
    in flight for a while and ``idle_due`` says there is work for it.
    """

    def __init__(self) -> None:
        self._messages = 0
        self._freezes = 0
        self._frozen_base = max(gc.get_freeze_count(), GC_FULL_MIN_BASE)
        self._blocks_at_check = heap_blocks()
        # A count is due at the next idle moment; a count found the population grown.
        self._count_due = False
        self._collect_due = False
        self.full_collections = 0
        self.counts = 0

    @property
    def idle_due(self) -> bool:
        """Whether ``on_idle`` has work to do (cheap: a flag set at freeze time)."""
        return self._count_due or self._collect_due

    def message_done(self) -> None:
        self._messages += 1
        if self._messages < GC_FREEZE_EVERY:
            return
        self._messages = 0
        self._freezes += 1
        gc.freeze()
        blocks = heap_blocks()
        if blocks <= 0:
            due = self._freezes % GC_CHECK_EVERY_FREEZES == 0
            busy = self._freezes % round(GC_CHECK_EVERY_FREEZES * GC_CHECK_GROWTH_BUSY) == 0
        else:
            due = blocks > self._blocks_at_check * GC_CHECK_GROWTH
            busy = blocks > self._blocks_at_check * GC_CHECK_GROWTH_BUSY
        if busy:
            self._check(GC_FULL_GROWTH_BUSY)
        elif due:
            self._count_due = True

    def on_idle(self) -> None:
        """Do the due count (and full collection, if the population doubled) now."""
        if self._count_due:
            self._check(GC_FULL_GROWTH)
        elif self._collect_due:
            self.collect_fully()

    def _check(self, collect_above: float) -> None:
        """Count the frozen objects; collect fully above ``collect_above`` x the base."""
        self._count_due = False
        self._blocks_at_check = heap_blocks()
        frozen = self._count()
        if frozen > self._frozen_base * collect_above:
            self.collect_fully()
        elif frozen > self._frozen_base * GC_FULL_GROWTH:
            self._collect_due = True

    def _count(self) -> int:
        self.counts += 1
        return gc.get_freeze_count()

    def collect_fully(self) -> None:
        """Walk everything once (cycles among frozen objects included), then freeze again."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.full_collections += 1
        self._count_due = self._collect_due = False
        self._frozen_base = max(gc.get_freeze_count(), GC_FULL_MIN_BASE)
        self._blocks_at_check = heap_blocks()
