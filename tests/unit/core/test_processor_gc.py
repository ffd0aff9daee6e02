"""The processor's GC schedule: freeze survivors every N messages, collect fully now and then."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from palaver.core import processor


def test_freezes_every_n_messages_and_unfreezes_periodically(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    fake_gc = SimpleNamespace(
        freeze=lambda: calls.append("freeze"),
        unfreeze=lambda: calls.append("unfreeze"),
        collect=lambda: calls.append("collect"),
    )
    monkeypatch.setattr(processor, "gc", fake_gc)
    monkeypatch.setattr(processor, "GC_FREEZE_EVERY", 3)
    monkeypatch.setattr(processor, "GC_UNFREEZE_EVERY", 2)
    schedule = processor.GcSchedule()
    for _ in range(12):
        schedule.message_done()
    assert calls == [
        "freeze",  # message 3
        "unfreeze", "collect", "freeze",  # message 6: second freeze -> full pass
        "freeze",  # message 9
        "unfreeze", "collect", "freeze",  # message 12
    ]  # fmt: skip


def test_young_threshold_is_raised_never_lowered(monkeypatch: pytest.MonkeyPatch) -> None:
    thresholds = [(700, 10, 10)]
    fake_gc = SimpleNamespace(
        get_threshold=lambda: thresholds[-1],
        set_threshold=lambda *t: thresholds.append(t),
    )
    monkeypatch.setattr(processor, "gc", fake_gc)
    processor.tune_gc()
    assert thresholds[-1] == (processor.GC_YOUNG_THRESHOLD, 10, 10)
    thresholds.append((10 * processor.GC_YOUNG_THRESHOLD, 10, 10))
    processor.tune_gc()
    assert thresholds[-1] == (10 * processor.GC_YOUNG_THRESHOLD, 10, 10)
