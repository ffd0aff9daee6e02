"""Exponential backoff for fetching models: 1s, 2s, 4s, ... capped."""

from __future__ import annotations

DEFAULT_INITIAL_DELAY = 1.0
DEFAULT_MAX_DELAY = 60.0


class Backoff:
    """Delays that double after each failure, up to ``cap``; ``reset()`` after a success.

    Args:
        cap: the longest delay in seconds (the model server's pull interval).
        initial: the first delay; never more than ``cap``.
    """

    def __init__(
        self, cap: float = DEFAULT_MAX_DELAY, initial: float = DEFAULT_INITIAL_DELAY
    ) -> None:
        if cap <= 0:
            raise ValueError(f"backoff cap must be positive, got {cap}")
        self.cap = cap
        self.initial = min(initial, cap)
        self.failures = 0

    def next_delay(self) -> float:
        """Record one failure and return how long to wait before the next attempt."""
        # The exponent is bounded so a server down for days cannot overflow the float.
        delay = min(self.cap, self.initial * 2.0 ** min(self.failures, 60))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
