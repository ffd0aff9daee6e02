"""Progress bars for long runs (tqdm, on stderr, only when it is a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Tick = Callable[[], None]


def _nothing() -> None:
    return None


@contextmanager
def progress(total: int, description: str, unit: str = "it") -> Iterator[Tick]:
    """A tick function advancing a bar of ``total`` steps.

    The bar is hidden when stderr is not a terminal (CI logs stay clean) or
    when tqdm is not installed.
    """
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with the reports extra
        yield _nothing
        return
    bar = tqdm(total=total, desc=description, unit=unit, leave=False, disable=None, file=sys.stderr)
    try:
        yield lambda: bar.update(1)
    finally:
        bar.close()
