"""Backoff: doubling delays, capped, reset after a success."""

from __future__ import annotations

import pytest

from palaver.storage.backoff import Backoff


def test_delays_double_up_to_the_cap() -> None:
    backoff = Backoff(cap=10.0, initial=1.0)
    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.failures == 6


def test_initial_delay_never_exceeds_the_cap() -> None:
    backoff = Backoff(cap=0.5, initial=1.0)
    assert [backoff.next_delay() for _ in range(3)] == [0.5, 0.5, 0.5]


def test_reset_starts_over() -> None:
    backoff = Backoff(cap=60.0)
    backoff.next_delay()
    backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_long_outages_do_not_overflow() -> None:
    backoff = Backoff(cap=30.0)
    for _ in range(5000):
        delay = backoff.next_delay()
    assert delay == 30.0


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Backoff(cap=0)
