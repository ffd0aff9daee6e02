"""``python -m bench``: start what is needed, run the scenarios, stop everything, report.

    python -m bench                      # every scenario, 3 repeats of 10 s
    python -m bench --quick              # 1 repeat of 2 s, for a smoke check
    python -m bench --scenarios a,d      # only these (see bench/scenarios/__init__.py)

Writes ``bench/RESULTS.md`` (the generated tables; notes outside the markers
are kept) and ``bench/results/<date>.json`` (every run). The load generator is
wrk (installed with apt-get if missing and possible), else bench.loadgen; the
report says which. Exit status 1 if any message failed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import report
from bench.load import ensure_wrk
from bench.runner import Context, Row, Settings
from bench.scenarios import SCENARIOS
from bench.services import Services

logger = logging.getLogger("bench")
DEFAULT_ORDER = ("a", "b", "c", "d", "e", "lockwait", "startup", "train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 repeat, 1 s warm-up, 2 s runs")
    p.add_argument("--scenarios", default=",".join(DEFAULT_ORDER),
                   help=f"comma-separated, from {', '.join(SCENARIOS)}")  # fmt: skip
    p.add_argument("--repeats", type=int, help="runs per measurement (median reported)")
    p.add_argument("--duration", type=float, help="seconds per measured run")
    p.add_argument("--warmup", type=float, help="seconds of warm-up before each run")
    p.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument("--shared-services", action="store_true",
                   help="use the machine's Redis/PostgreSQL (fresh db/prefix) instead of "
                        "private servers")  # fmt: skip
    p.add_argument("--output", type=Path, default=Path(__file__).resolve().parent,
                   help="where RESULTS.md and results/ go (default: bench/)")  # fmt: skip
    p.add_argument("--keep-work-dir", action="store_true", help="keep models and server logs")
    return p.parse_args(argv)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    # SIGTERM unwinds like Ctrl-C, so every server and service started is stopped.
    signal.signal(signal.SIGTERM, _terminate)
    args = parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s) {', '.join(unknown)}; valid: {', '.join(SCENARIOS)}")
        return 2
    settings = Settings.create(
        args.quick, args.repeats, args.duration, args.warmup, args.shared_services
    )
    wrk = None if args.generator == "python" else ensure_wrk()
    if args.generator == "wrk" and wrk is None:
        print("wrk is not installed and could not be installed (apt-get install wrk)")
        return 2
    logger.info("load generator: %s", wrk or "python (bench.loadgen)")
    work_dir = Path(tempfile.mkdtemp(prefix="palaver-bench-"))
    env = report.environment("wrk" if wrk else "python", wrk)
    rows: list[Row] = []
    failed: list[str] = []
    with contextlib.ExitStack() as stack:
        services = stack.enter_context(Services(shared=settings.shared_services))
        ctx = Context(settings=settings, wrk=wrk, work_dir=work_dir, services=services)
        for name in names:
            module = SCENARIOS[name]
            logger.info("scenario %s: %s", name, module.TITLE)
            started = time.monotonic()
            try:
                new_rows = module.run(ctx)
            except Exception:  # one broken scenario must not lose the others' results
                traceback.print_exc()
                failed.append(name)
                continue
            rows.extend(new_rows)
            for row in new_rows:
                logger.info("  %s %s c=%s: %s", row.scenario, row.variant, row.connections,
                            {k: v for k, v in row.palaver.items() if k != "runs"})  # fmt: skip
            logger.info("scenario %s took %.0f s", name, time.monotonic() - started)
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    md, js = report.write(args.output, rows, env, command.strip(), settings.__dict__)
    logger.info("wrote %s and %s", md, js)
    if args.keep_work_dir:
        logger.info("work dir kept: %s", work_dir)
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    errors = sum(int(r.palaver.get("errors", 0)) for r in rows)
    if failed:
        logger.error("scenario(s) failed: %s", ", ".join(failed))
    return 1 if errors or failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
