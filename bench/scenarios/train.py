"""``palaver train`` wall time for the example bots (``--force``, fresh output dir)."""

from __future__ import annotations

import statistics
import subprocess
import time

from bench.procs import PYTHON, ROOT
from bench.runner import EXAMPLES, Context, Row

TITLE = "palaver train time"
BOTS = ("moodbot", "formbot")


def _once(ctx: Context, bot: str, index: int) -> float:
    out = ctx.work_dir / "train" / f"{bot}-{index}"
    started = time.perf_counter()
    subprocess.run(
        [PYTHON, "-m", "palaver", "train", "--project", str(EXAMPLES / bot), "--out", str(out),
         "--force"],
        cwd=str(ROOT), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def run(ctx: Context) -> list[Row]:
    rows = []
    for bot in BOTS:
        runs = [_once(ctx, bot, i) for i in range(max(3, ctx.settings.repeats))]
        rows.append(
            Row(
                scenario="train",
                variant=bot,
                connections=None,
                palaver={
                    "train_s": round(statistics.median(runs), 3),
                    "errors": 0,
                    "runs": len(runs),
                },
                raw={"palaver": [{"train_s": round(r, 3)} for r in runs]},
            )
        )
    return rows
