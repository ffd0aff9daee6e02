"""bench/RESULTS.md (generated tables between markers; the notes around them are kept)
and bench/results/<date>.json (every run, not only the medians)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.runner import Row
from palaver.server.settings import DEFAULT_EVENT_LOOP

START = "<!-- bench:generated:start -->"
END = "<!-- bench:generated:end -->"

# Rasa 3.6 serving its `rasa init` bot on this machine (from the project brief).
RASA = {
    "a1_rps": 50.0,
    "a32_rps": 45.0,
    "a32_p99_ms": 5000.0,
    "hot_rps": 9.0,
    "rss_mb": 1100.0,
    "startup_s": 35.0,
}

TARGETS = {
    "a32_rps": 2500.0,
    "a32_floor_ratio": 0.25,
    "a32_p99_ms": 30.0,
    "d32_rps": 1000.0,
    "d32_floor_ratio": 0.60,
    "hot_ratio": 1.2,
    "startup_s": 2.0,
    "idle_rss_mb": 150.0,
    "train_s": 10.0,
}


def environment(generator: str, wrk: str | None) -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), ""
            )
    except OSError:
        pass
    wrk_version = ""
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True)
        wrk_version = (
            (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else ""
        )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "event_loop": DEFAULT_EVENT_LOOP,
        "generator": generator,
        "wrk": wrk_version,
        "load_average": os.getloadavg(),
    }


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _load_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| Scenario | Conns | msg/s | p50 ms | p90 ms | p99 ms | CPU µs/msg | peak RSS MB "
        "| errors | Floor | floor msg/s | floor CPU µs/msg | Palaver/floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        p, f = row.palaver, row.floor or {}
        lines.append(
            f"| {row.scenario} {row.variant} | {row.connections} | {_fmt(p['rps'])} "
            f"| {_fmt(p['p50_ms'], 2)} | {_fmt(p['p90_ms'], 2)} | {_fmt(p['p99_ms'], 2)} "
            f"| {_fmt(p['cpu_us_per_msg'], 0)} | {_fmt(p['peak_rss_mb'], 0)} | {p['errors']} "
            f"| {row.floor_name or '-'} | {_fmt(f.get('rps'))} "
            f"| {_fmt(f.get('cpu_us_per_msg'), 0)} "
            f"| {_fmt(row.ratio, 3)} |"
        )
    return lines


def _hot_table(rows: Sequence[Row]) -> list[str]:
    seen = set()
    lines = [
        "| Stack | turns | p50 ms, ~10 prior events | p50 ms, 10,000 prior | p90 ~10 | p90 10,000 "
        "| ratio p50 | preload |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        e = row.extra
        if row.variant in seen or "ratio_p50" not in e:
            continue
        seen.add(row.variant)
        lines.append(
            f"| {row.variant} | {e['turns']} | {_fmt(e['fresh_p50_ms'], 2)} "
            f"| {_fmt(e['hot_p50_ms'], 2)} | {_fmt(e['fresh_p90_ms'], 2)} "
            f"| {_fmt(e['hot_p90_ms'], 2)} | {_fmt(e['ratio_p50'], 2)} "
            f"| {e['preloaded_events']:,} events in {e['preload_s']} s |"
        )
    return lines


def _simple_table(rows: Sequence[Row], keys: Sequence[tuple[str, str, int]]) -> list[str]:
    header = "| Scenario | " + " | ".join(title for _, title, _ in keys) + " | runs |"
    lines = [header, "|---|" + "---:|" * (len(keys) + 1)]
    for row in rows:
        values = " | ".join(_fmt(row.palaver.get(k), d) for k, _, d in keys)
        lines.append(f"| {row.scenario} {row.variant} | {values} | {row.palaver.get('runs')} |")
    return lines


def _lockwait_table(rows: Sequence[Row]) -> list[str]:
    keys = [("rps", "msg/s", 1), ("p50_ms", "p50 ms", 2), ("p99_ms", "p99 ms", 2),
            ("lock_wait_p50_ms", "wait p50 ms", 2), ("lock_wait_p90_ms", "wait p90 ms", 2),
            ("lock_wait_p99_ms", "wait p99 ms", 2), ("lock_wait_mean_ms", "wait mean ms", 2),
            ("traced_messages", "traced", 0), ("errors", "errors", 0)]  # fmt: skip
    lines = _simple_table(rows, keys)
    lines[0] = lines[0].replace("| Scenario |", "| Scenario | Conns |")
    lines[1] = "|---|---:|" + lines[1][5:]
    for i, row in enumerate(rows, start=2):
        lines[i] = lines[i].replace(" | ", f" | {row.connections} | ", 1)
    return lines


def _find(rows: Sequence[Row], scenario: str, connections: int | None = None,
          variant: str | None = None) -> Row | None:  # fmt: skip
    for row in rows:
        if (
            row.scenario == scenario
            and (connections is None or row.connections == connections)
            and (variant is None or variant in row.variant)
        ):
            return row
    return None


def _targets(rows: Sequence[Row]) -> list[str]:
    checks: list[tuple[str, str, float | None, float, bool]] = []  # name, unit, value, goal, ≥

    def add(name: str, unit: str, value: float | None, goal: float, at_least: bool) -> None:
        checks.append((name, unit, value, goal, at_least))

    a32 = _find(rows, "a", 32)
    if a32:
        add("(a) 32 conns msg/s", "msg/s", a32.palaver["rps"], TARGETS["a32_rps"], True)
        add("(a) 32 conns / bare Sanic", "", a32.ratio, TARGETS["a32_floor_ratio"], True)
        add("(a) 32 conns p99", "ms", a32.palaver["p99_ms"], TARGETS["a32_p99_ms"], False)
    d32 = _find(rows, "d", 32)
    if d32:
        add("(d) 32 conns msg/s", "msg/s", d32.palaver["rps"], TARGETS["d32_rps"], True)
        add("(d) 32 conns / stack floor", "", d32.ratio, TARGETS["d32_floor_ratio"], True)
    for variant in ("in-memory", "production"):
        hot = _find(rows, "b", None, variant)
        if hot and "ratio_p50" in hot.extra:
            add(f"(b) {variant}: p50 at 10,000 / at 10 prior events", "x",
                hot.extra["ratio_p50"], TARGETS["hot_ratio"], False)  # fmt: skip
    for row in rows:
        if row.scenario == "startup":
            add(f"start-up, {row.variant}", "s", row.palaver["startup_s"], TARGETS["startup_s"],
                False)  # fmt: skip
            add(f"idle RSS, {row.variant}", "MB", row.palaver["idle_rss_mb"],
                TARGETS["idle_rss_mb"], False)  # fmt: skip
        if row.scenario == "train":
            add(f"train {row.variant}", "s", row.palaver["train_s"], TARGETS["train_s"], False)
    for row in rows:
        if row.palaver.get("errors"):
            add(f"errors {row.scenario} {row.variant} c={row.connections}", "",
                float(row.palaver["errors"]), 0.0, False)  # fmt: skip
    lines = ["| Target | Goal | Measured (median) | Met |", "|---|---:|---:|---|"]
    for name, unit, value, goal, at_least in checks:
        met = value is not None and (value >= goal if at_least else value <= goal)
        sign = "≥" if at_least else "≤"
        lines.append(
            f"| {name} | {sign} {_fmt(goal, 2)} {unit} | {_fmt(value, 2)} {unit} "
            f"| {'yes' if met else '**no**'} |"
        )
    return lines


def _vs_rasa(rows: Sequence[Row]) -> list[str]:
    lines = ["| Measure | Rasa 3.6 | Palaver | Factor |", "|---|---:|---:|---:|"]

    def add(name: str, rasa: float, palaver: float | None, higher_better: bool) -> None:
        if palaver is None or palaver == 0:
            return
        factor = palaver / rasa if higher_better else rasa / palaver
        lines.append(f"| {name} | {_fmt(rasa)} | {_fmt(palaver, 2)} | {factor:,.1f}x |")

    a1, a32 = _find(rows, "a", 1), _find(rows, "a", 32)
    if a1:
        add("msg/s, 1 connection (a)", RASA["a1_rps"], a1.palaver["rps"], True)
    if a32:
        add("msg/s, 32 connections (a)", RASA["a32_rps"], a32.palaver["rps"], True)
        add("p99 ms, 32 connections (a)", RASA["a32_p99_ms"], a32.palaver["p99_ms"], False)
    hot = _find(rows, "b", 1, "in-memory")
    if hot:
        add("msg/s, one long conversation (b, 1 conn)", RASA["hot_rps"], hot.palaver["rps"], True)
    start = _find(rows, "startup", None, "in-memory")
    if start:
        add("start-up s", RASA["startup_s"], start.palaver["startup_s"], False)
        add("RSS MB (idle)", RASA["rss_mb"], start.palaver["idle_rss_mb"], False)
    return lines


def generated_section(
    rows: Sequence[Row], env: dict[str, Any], command: str, settings: dict[str, Any], date: str
) -> str:
    load_rows = [r for r in rows if r.scenario in ("a", "b", "c", "d", "e")]
    out = [
        START,
        f"## Results of {date}",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {env['cpus']} CPUs ({env['cpu_model']}), Python {env['python']}, "
        f"event loop {env['event_loop']} (Palaver and floors); load "
        f"generator: **{env['generator']}** {env['wrk']}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in env['load_average'])} (other test suites were running: "
        "absolute numbers are noisy, ratios to the floors measured in the same run are not). "
        f"Medians of {settings['repeats']} runs of {settings['duration']} s after "
        f"{settings['warmup']} s warm-up; errors are summed over all runs.",
        "",
    ]
    if load_rows:
        out += ["### Throughput and latency", "", *_load_table(load_rows), ""]
    if any("ratio_p50" in r.extra for r in rows):
        out += ["### (b) per-turn latency by conversation length (1 connection)", "",
                *_hot_table(rows), ""]  # fmt: skip
    start_rows = [r for r in rows if r.scenario == "startup"]
    if start_rows:
        keys = [("startup_s", "start-up s", 3), ("idle_rss_mb", "idle RSS MB", 1)]
        out += ["### Start-up and idle memory", "", *_simple_table(start_rows, keys), ""]
    train_rows = [r for r in rows if r.scenario == "train"]
    if train_rows:
        out += ["### Training", "", *_simple_table(train_rows, [("train_s", "train s", 2)]), ""]
    lock_rows = [r for r in rows if r.scenario == "lockwait"]
    if lock_rows:
        out += ["### Lock wait, one hot conversation on 3 replicas", "",
                *_lockwait_table(lock_rows), ""]  # fmt: skip
    out += ["### Targets", "", *_targets(rows), ""]
    out += ["### Against Rasa 3.6 on this machine (numbers from the brief)", "",
            *_vs_rasa(rows), "", END]  # fmt: skip
    return "\n".join(out)


def write(
    output_dir: Path,
    rows: Sequence[Row],
    env: dict[str, Any],
    command: str,
    settings: dict[str, Any],
) -> tuple[Path, Path]:
    """Write RESULTS.md (replacing only the generated block) and results/<date>.json."""
    now = dt.datetime.now()
    date = now.strftime("%Y-%m-%d %H:%M")
    results_dir = output_dir / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / f"{now.strftime('%Y-%m-%d-%H%M%S')}.json"
    json_path.write_bytes(
        orjson.dumps(
            {"date": now.isoformat(), "command": command, "settings": settings,
             "environment": env, "rows": [r.as_dict() for r in rows]},
            option=orjson.OPT_INDENT_2,
        )
    )  # fmt: skip
    md_path = output_dir / "RESULTS.md"
    section = generated_section(rows, env, command, settings, date)
    if md_path.exists() and START in (text := md_path.read_text(encoding="utf-8")):
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1] if END in rest else ""
        md_path.write_text(head + section + tail, encoding="utf-8")
    else:
        md_path.write_text(
            "# Palaver benchmark results\n\n" + section + "\n\n## Notes\n\n", encoding="utf-8"
        )
    return md_path, json_path
