"""The server's GC schedule: freeze survivors every N messages, collect fully only on growth."""

from __future__ import annotations

import gc
import sys
import weakref
from types import SimpleNamespace

import pytest

from palaver.core import gc_policy


class FakeGc:
    """Records calls; ``frozen`` is what ``get_freeze_count`` answers, ``blocks`` the heap."""

    def __init__(self, frozen: int, blocks: int) -> None:
        self.frozen = frozen
        self.blocks = blocks
        self.calls: list[str] = []

    def namespace(self) -> SimpleNamespace:
        def count() -> int:
            self.calls.append("count")
            return self.frozen

        return SimpleNamespace(
            freeze=lambda: self.calls.append("freeze"),
            unfreeze=lambda: self.calls.append("unfreeze"),
            collect=lambda: self.calls.append("collect"),
            get_freeze_count=count,
        )


@pytest.fixture
def fake_gc(monkeypatch: pytest.MonkeyPatch) -> FakeGc:
    fake = FakeGc(frozen=400_000, blocks=2_000_000)
    monkeypatch.setattr(gc_policy, "gc", fake.namespace())
    monkeypatch.setattr(gc_policy, "heap_blocks", lambda: fake.blocks)
    monkeypatch.setattr(gc_policy, "GC_FREEZE_EVERY", 3)
    return fake


def messages(schedule: gc_policy.GcSchedule, n: int) -> None:
    for _ in range(n):
        schedule.message_done()


def test_a_steady_heap_is_frozen_every_n_messages_and_never_counted_or_collected(
    fake_gc: FakeGc,
) -> None:
    schedule = gc_policy.GcSchedule()
    fake_gc.calls.clear()
    messages(schedule, 3_000)
    assert fake_gc.calls == ["freeze"] * 1_000
    assert schedule.full_collections == 0


def test_untracked_growth_costs_a_count_at_the_next_idle_moment(fake_gc: FakeGc) -> None:
    """The in-memory store's bytes grow the heap, not the collector's population."""
    schedule = gc_policy.GcSchedule()
    fake_gc.calls.clear()
    fake_gc.blocks = 2_500_000  # exactly 1.25x: not yet
    messages(schedule, 3)
    assert fake_gc.calls == ["freeze"] and not schedule.idle_due
    fake_gc.blocks = 2_500_001
    messages(schedule, 3)
    assert fake_gc.calls == ["freeze", "freeze"]  # nothing stops the world under load
    assert schedule.idle_due
    schedule.on_idle()
    assert fake_gc.calls == ["freeze", "freeze", "count"]
    assert not schedule.idle_due
    messages(schedule, 30)  # measured from the last count: nothing new is due
    schedule.on_idle()
    assert fake_gc.calls.count("count") == 1
    assert schedule.full_collections == 0


def test_a_doubled_population_is_collected_fully_once_when_idle(fake_gc: FakeGc) -> None:
    schedule = gc_policy.GcSchedule()  # base: 400,000 frozen objects
    fake_gc.calls.clear()
    fake_gc.frozen, fake_gc.blocks = 800_000, 3_000_000  # exactly 2x: not yet
    messages(schedule, 3)
    schedule.on_idle()
    assert fake_gc.calls == ["freeze", "count"]
    fake_gc.frozen, fake_gc.blocks = 800_001, 3_900_000
    messages(schedule, 3)
    assert fake_gc.calls[2:] == ["freeze"]
    schedule.on_idle()
    assert fake_gc.calls[3:] == ["count", "unfreeze", "collect", "freeze", "count"]
    assert schedule.full_collections == 1
    # The new bases are what is there after the collection: steady again.
    fake_gc.calls.clear()
    messages(schedule, 30)
    schedule.on_idle()
    assert fake_gc.calls == ["freeze"] * 10


def test_under_load_counts_at_a_doubled_heap_and_collects_at_a_quadrupled_population(
    fake_gc: FakeGc,
) -> None:
    """A server that never idles still bounds what frozen cyclic garbage can cost."""
    schedule = gc_policy.GcSchedule()  # bases: 400,000 frozen, 2,000,000 blocks
    fake_gc.calls.clear()
    fake_gc.frozen, fake_gc.blocks = 1_200_000, 4_000_001  # heap doubled, population 3x
    messages(schedule, 3)
    assert fake_gc.calls == ["freeze", "count"]
    assert schedule.full_collections == 0
    assert schedule.idle_due  # the doubled population is collected at the next idle moment
    fake_gc.frozen, fake_gc.blocks = 1_600_001, 8_000_003  # heap doubled again, 4x
    messages(schedule, 3)
    assert fake_gc.calls[2:] == ["freeze", "count", "unfreeze", "collect", "freeze", "count"]
    assert schedule.full_collections == 1
    assert not schedule.idle_due


def test_a_collection_found_due_under_load_runs_at_idle(fake_gc: FakeGc) -> None:
    schedule = gc_policy.GcSchedule()
    fake_gc.frozen, fake_gc.blocks = 900_000, 4_000_001
    messages(schedule, 3)  # counted under load: 2.25x, under the busy margin
    fake_gc.calls.clear()
    schedule.on_idle()
    assert fake_gc.calls == ["unfreeze", "collect", "freeze", "count"]
    assert schedule.full_collections == 1


def test_a_small_population_is_measured_from_the_minimum_base(fake_gc: FakeGc) -> None:
    fake_gc.frozen = 1_000
    schedule = gc_policy.GcSchedule()
    fake_gc.frozen, fake_gc.blocks = 390_000, 3_000_000  # 390x, but under 2x the minimum
    messages(schedule, 3)
    schedule.on_idle()
    assert schedule.full_collections == 0
    fake_gc.frozen, fake_gc.blocks = 400_001, 4_000_000
    messages(schedule, 3)
    schedule.on_idle()
    assert schedule.full_collections == 1


def test_without_pymalloc_the_population_is_counted_every_few_freezes(
    fake_gc: FakeGc, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_gc.blocks = 0  # PYTHONMALLOC=malloc: sys.getallocatedblocks() is 0
    monkeypatch.setattr(gc_policy, "GC_CHECK_EVERY_FREEZES", 4)
    schedule = gc_policy.GcSchedule()
    fake_gc.calls.clear()
    messages(schedule, 3 * 8)  # under load: every 8 freezes
    assert fake_gc.calls.count("count") == 1
    fake_gc.calls.clear()
    messages(schedule, 3 * 4)  # 4 more freezes: due, and counted when idle
    assert fake_gc.calls.count("count") == 0 and schedule.idle_due
    schedule.on_idle()
    assert fake_gc.calls.count("count") == 1


def test_cyclic_garbage_that_was_frozen_alive_is_collected_by_a_full_collection() -> None:
    """Real gc: a cycle frozen while alive survives ``gc.collect()``, not ``collect_fully``."""

    class Node:
        other: Node | None = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    schedule = gc_policy.GcSchedule()
    gc.freeze()
    try:
        del a, b
        gc.collect()
        assert alive() is not None  # frozen: the collector does not look at it
        schedule.collect_fully()
        assert alive() is None
    finally:
        gc.unfreeze()


def test_the_heap_is_measured_in_allocated_blocks() -> None:
    assert gc_policy.heap_blocks() == pytest.approx(sys.getallocatedblocks(), rel=0.01)


def test_young_threshold_is_raised_never_lowered(monkeypatch: pytest.MonkeyPatch) -> None:
    thresholds = [(700, 10, 10)]
    fake = SimpleNamespace(
        get_threshold=lambda: thresholds[-1],
        set_threshold=lambda *t: thresholds.append(t),
    )
    monkeypatch.setattr(gc_policy, "gc", fake)
    gc_policy.tune_gc()
    assert thresholds[-1] == (gc_policy.GC_YOUNG_THRESHOLD, 10, 10)
    thresholds.append((10 * gc_policy.GC_YOUNG_THRESHOLD, 10, 10))
    gc_policy.tune_gc()
    assert thresholds[-1] == (10 * gc_policy.GC_YOUNG_THRESHOLD, 10, 10)
