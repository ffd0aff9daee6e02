"""Closed-loop HTTP load against the REST channel: wrk when available, else bench.loadgen.

Both generators send the same traffic. With ``senders="many"`` request ``i``
of a generator thread goes to conversation slot ``i % pool`` (``pool`` is
four times the connections, so one conversation never has two messages in
flight in practice) and each conversation gets the six messages of
``MESSAGES`` in order, then a new conversation starts in that slot. With
``senders="one"`` every message goes to one conversation (``hot_sender``).

Latencies are per request, from sending to the full response; warm-up
requests are not measured. Errors are connection errors, timeouts and
non-2xx answers. The wrk script defines no ``response()`` callback: with one,
wrk 4.1 stalls connections for up to seconds (seen here), so reply bodies are
checked only by the Python generator and by each scenario's own probes.
A load over several URLs (replicas) runs one
generator per URL with the connections split between them (a round-robin
client) and merges the results.
"""

from __future__ import annotations

import bisect
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.procs import PYTHON, ROOT, WEBHOOK

# The rasa-init (moodbot) conversation: greet, mood, greet again, sad -> cheer up, affirm, bye.
MESSAGES: tuple[str, ...] = ("hello", "I am great", "hi there", "I am sad", "yes", "bye")
# Percentiles each generator reports; merging several generators interpolates over them.
PERCENTILE_GRID: tuple[float, ...] = (
    *[float(p) for p in range(1, 100)],
    99.5,
    99.9,
    99.99,
)


@dataclass(frozen=True)
class LoadSpec:
    urls: tuple[str, ...]
    connections: int
    duration: float
    warmup: float
    senders: str = "many"  # "many" | "one"
    sender_prefix: str = "bench"
    hot_sender: str = "hot"
    messages: tuple[str, ...] = MESSAGES
    timeout: float = 10.0


@dataclass
class LoadResult:
    generator: str
    connections: int
    duration_s: float
    requests: int
    errors: int
    error_detail: dict[str, int]
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    generator_cpu_s: float
    grid: list[tuple[float, float]] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("grid")
        return out


# -- generator choice --------------------------------------------------------------


def ensure_wrk(allow_install: bool = True) -> str | None:
    """Path of wrk, installing the Debian package ``wrk`` with apt-get if it is missing.

    Returns None when it is missing and cannot be installed (not root, no
    apt-get, no network): the caller then uses the Python generator.
    """
    found = shutil.which("wrk")
    if found or not allow_install:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args: str) -> int:
        done = subprocess.run(
            [apt, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return done.returncode

    if apt_get("install", "-y", "-q", "wrk") != 0:
        apt_get("update", "-q")
        apt_get("install", "-y", "-q", "wrk")
    return shutil.which("wrk")


def run_load(spec: LoadSpec, wrk: str | None) -> LoadResult:
    """Warm up, then measure; one generator process per URL, results merged."""
    split = _split_connections(spec.connections, len(spec.urls))
    if wrk is not None and spec.warmup > 0:
        _run_many(spec, split, wrk, warmup=True)
    return _run_many(spec, split, wrk, warmup=False)


def _split_connections(connections: int, parts: int) -> list[int]:
    base, extra = divmod(connections, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _run_many(spec: LoadSpec, split: list[int], wrk: str | None, *, warmup: bool) -> LoadResult:
    procs = []
    for index, (url, connections) in enumerate(zip(spec.urls, split, strict=True)):
        if connections == 0:
            continue
        prefix = f"{spec.sender_prefix}{'-w' if warmup else ''}-u{index}"
        if wrk is not None:
            procs.append(_start_wrk(wrk, spec, url, connections, prefix, warmup))
        else:
            procs.append(_start_python(spec, url, connections, prefix))
    results = [_finish(p) for p in procs]
    return merge(results)


# -- wrk ------------------------------------------------------------------------------

_LUA = r"""
local messages = {%(messages)s}
local nmsg = #messages
local counter = 0
local prefix, mode, pool, hot
local headers = {["Content-Type"] = "application/json"}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

function init(args)
  prefix = args[1]; mode = args[2]; pool = tonumber(args[3]); hot = args[4]
end

function request()
  local i = counter
  counter = counter + 1
  local sender, text
  if mode == "one" then
    sender = hot
    text = messages[(i %% nmsg) + 1]
  else
    local slot = i %% pool
    local round = math.floor(i / pool)
    sender = prefix .. "-" .. tid .. "-" .. slot .. "-" .. math.floor(round / nmsg)
    text = messages[(round %% nmsg) + 1]
  end
  return wrk.format("POST", "%(path)s", headers,
    '{"sender":"' .. sender .. '","message":' .. text .. '}')
end

function done(summary, latency, requests)
  local parts = {}
  for _, p in ipairs({%(grid)s}) do
    table.insert(parts, string.format("[%%g,%%d]", p, latency:percentile(p)))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"max_us":%%d,"grid":[%%s]}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.max, table.concat(parts, ",")))
end
"""


def _lua_script(spec: LoadSpec) -> Path:
    messages = ", ".join(
        "'" + orjson.dumps(m).decode().replace("\\", "\\\\").replace("'", "\\'") + "'"
        for m in spec.messages
    )
    grid = ", ".join(f"{p:g}" for p in PERCENTILE_GRID)
    text = _LUA % {"messages": messages, "grid": grid, "path": WEBHOOK}
    fd, name = tempfile.mkstemp(prefix="palaver-bench-", suffix=".lua")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return Path(name)


@dataclass
class _Running:
    kind: str
    proc: subprocess.Popen[bytes]
    connections: int
    started: float
    cleanup: Path | None = None


def _start_wrk(
    wrk: str, spec: LoadSpec, url: str, connections: int, prefix: str, warmup: bool
) -> _Running:
    script = _lua_script(spec)
    duration = spec.warmup if warmup else spec.duration
    pool = max(8, 4 * connections)
    args = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={max(1, round(spec.timeout))}s",
        "-s",
        str(script),
        url + WEBHOOK,
        "--",
        prefix,
        spec.senders,
        str(pool),
        spec.hot_sender,
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return _Running("wrk", proc, connections, time.perf_counter(), script)


def _start_python(spec: LoadSpec, url: str, connections: int, prefix: str) -> _Running:
    args = [
        PYTHON,
        "-m",
        "bench.loadgen",
        "--url",
        url,
        "--connections",
        str(connections),
        "--duration",
        str(spec.duration),
        "--warmup",
        str(spec.warmup),
        "--senders",
        spec.senders,
        "--prefix",
        prefix,
        "--hot-sender",
        spec.hot_sender,
        "--timeout",
        str(spec.timeout),
        "--messages-json",
        orjson.dumps(list(spec.messages)).decode(),
        "--json",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT))
    return _Running("python", proc, connections, time.perf_counter())


def _finish(run: _Running) -> LoadResult:
    _, status, usage = os.wait4(run.proc.pid, 0)
    run.proc.returncode = os.waitstatus_to_exitcode(status)
    out = run.proc.stdout.read().decode() if run.proc.stdout else ""
    err = run.proc.stderr.read().decode() if run.proc.stderr else ""
    if run.cleanup is not None:
        run.cleanup.unlink(missing_ok=True)
    cpu = usage.ru_utime + usage.ru_stime
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCHJSON ")), None)
    if run.proc.returncode != 0 or line is None:
        raise RuntimeError(f"{run.kind} failed ({run.proc.returncode}): {err.strip()} {out[-500:]}")
    data = orjson.loads(line.removeprefix("BENCHJSON "))
    duration = data["duration_us"] / 1e6
    detail = {
        k: int(data[k]) for k in ("connect", "read", "write", "status", "timeout") if data.get(k)
    }
    if data.get("empty"):
        detail["empty_reply"] = int(data["empty"])
    grid = [(float(p), float(v) / 1000.0) for p, v in data["grid"]]
    return LoadResult(
        generator=run.kind,
        connections=run.connections,
        duration_s=round(duration, 3),
        requests=int(data["requests"]),
        errors=sum(detail.values()),
        error_detail=detail,
        rps=round(data["requests"] / duration, 1) if duration > 0 else 0.0,
        p50_ms=_at(grid, 50),
        p90_ms=_at(grid, 90),
        p99_ms=_at(grid, 99),
        max_ms=round(data["max_us"] / 1000.0, 2),
        generator_cpu_s=round(cpu, 3),
        grid=grid,
    )


def _at(grid: Sequence[tuple[float, float]], q: float) -> float:
    for p, v in grid:
        if p >= q:
            return round(v, 2)
    return round(grid[-1][1], 2) if grid else 0.0


# -- merging several generators --------------------------------------------------------


def _cdf(grid: Sequence[tuple[float, float]], value: float) -> float:
    """Fraction of requests at or below ``value``, interpolated on the percentile grid."""
    values = [v for _, v in grid]
    i = bisect.bisect_right(values, value)
    if i == 0:
        return 0.0
    if i >= len(grid):
        return 1.0
    (p0, v0), (p1, v1) = grid[i - 1], grid[i]
    frac = 0.0 if v1 == v0 else (value - v0) / (v1 - v0)
    return (p0 + frac * (p1 - p0)) / 100.0


def merge(results: Sequence[LoadResult]) -> LoadResult:
    """One result for generators that ran side by side (throughputs add up)."""
    if len(results) == 1:
        return results[0]
    total = sum(r.requests for r in results) or 1
    candidates = sorted({v for r in results for _, v in r.grid})

    def percentile(q: float) -> float:
        for v in candidates:
            if sum(r.requests * _cdf(r.grid, v) for r in results) / total >= q / 100.0:
                return round(v, 2)
        return round(candidates[-1], 2) if candidates else 0.0

    grid = [(p, percentile(p)) for p in PERCENTILE_GRID]
    detail: dict[str, int] = {}
    for r in results:
        for k, v in r.error_detail.items():
            detail[k] = detail.get(k, 0) + v
    duration = max(r.duration_s for r in results)
    return LoadResult(
        generator=results[0].generator,
        connections=sum(r.connections for r in results),
        duration_s=duration,
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
        error_detail=detail,
        rps=round(sum(r.rps for r in results), 1),
        p50_ms=_at(grid, 50),
        p90_ms=_at(grid, 90),
        p99_ms=_at(grid, 99),
        max_ms=max(r.max_ms for r in results),
        generator_cpu_s=round(sum(r.generator_cpu_s for r in results), 3),
        grid=grid,
    )
