"""The server's GC schedule: freeze survivors every N messages, collect fully only on growth."""

from __future__ import annotations

import gc
import sys
import weakref
from types import SimpleNamespace

import pytest

from palaver.core import gc_policy


class FakeGc:
    """Records calls; ``frozen`` is the heap size ``heap_blocks`` answers."""

    def __init__(self, frozen: int) -> None:
        self.frozen = frozen
        self.calls: list[str] = []

    def namespace(self) -> SimpleNamespace:
        return SimpleNamespace(
            freeze=lambda: self.calls.append("freeze"),
            unfreeze=lambda: self.calls.append("unfreeze"),
            collect=lambda: self.calls.append("collect"),
        )


@pytest.fixture
def fake_gc(monkeypatch: pytest.MonkeyPatch) -> FakeGc:
    fake = FakeGc(frozen=2_000_000)
    monkeypatch.setattr(gc_policy, "gc", fake.namespace())
    monkeypatch.setattr(gc_policy, "heap_blocks", lambda: fake.frozen)
    monkeypatch.setattr(gc_policy, "GC_FREEZE_EVERY", 3)
    return fake


def test_a_steady_heap_is_frozen_every_n_messages_and_never_collected_fully(
    fake_gc: FakeGc,
) -> None:
    schedule = gc_policy.GcSchedule()
    for _ in range(3_000):
        schedule.message_done()
    assert fake_gc.calls == ["freeze"] * 1_000
    assert schedule.full_collections == 0


def test_growth_by_half_since_the_last_full_collection_triggers_one(fake_gc: FakeGc) -> None:
    schedule = gc_policy.GcSchedule()  # base: 2,000,000 blocks
    fake_gc.frozen = 3_000_000  # exactly 1.5x: not yet
    for _ in range(3):
        schedule.message_done()
    assert fake_gc.calls == ["freeze"]
    fake_gc.frozen = 3_000_001
    for _ in range(3):
        schedule.message_done()
    assert fake_gc.calls == ["freeze", "freeze", "unfreeze", "collect", "freeze"]
    assert schedule.full_collections == 1
    # The new base is what is frozen after the collection: steady again.
    fake_gc.calls.clear()
    for _ in range(30):
        schedule.message_done()
    assert fake_gc.calls == ["freeze"] * 10


def test_a_small_heap_is_measured_from_the_minimum_base(fake_gc: FakeGc) -> None:
    fake_gc.frozen = 10_000
    schedule = gc_policy.GcSchedule()
    fake_gc.frozen = 1_400_000  # 140x the real size, but under 1.5x the minimum base
    for _ in range(3):
        schedule.message_done()
    assert schedule.full_collections == 0
    fake_gc.frozen = 1_500_001
    for _ in range(3):
        schedule.message_done()
    assert schedule.full_collections == 1


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


def test_the_heap_is_measured_in_allocated_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gc_policy.heap_blocks() == pytest.approx(sys.getallocatedblocks(), rel=0.01)
    # Without pymalloc (PYTHONMALLOC=malloc) there are no blocks: the frozen set is counted.
    monkeypatch.setattr(gc_policy, "sys", SimpleNamespace(getallocatedblocks=lambda: 0))
    assert gc_policy.heap_blocks() == gc.get_freeze_count()


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
