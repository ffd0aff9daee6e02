"""What every scenario uses: run settings, trained models, measuring a load, medians.

A measurement is one generator run against one or more server processes:
throughput and latency from the generator, server CPU per message from the
``utime + stime`` delta of the server processes over the measured window
(warm-up excluded), and peak RSS (``VmHWM``).
"""

from __future__ import annotations

import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load import LoadResult, LoadSpec, run_load
from bench.procs import PYTHON, ROOT, Server
from bench.services import Services
from tests.services import free_port

EXAMPLES = ROOT / "examples"


@dataclass
class Settings:
    quick: bool = False
    repeats: int = 3
    duration: float = 10.0
    warmup: float = 3.0
    connections: tuple[int, ...] = (1, 32)
    shared_services: bool = False

    @classmethod
    def create(
        cls,
        quick: bool,
        repeats: int | None,
        duration: float | None,
        warmup: float | None,
        shared_services: bool,
    ) -> Settings:
        base = cls(quick=True, repeats=1, duration=2.0, warmup=1.0) if quick else cls()
        return cls(
            quick=quick,
            repeats=repeats or base.repeats,
            duration=duration or base.duration,
            warmup=warmup if warmup is not None else base.warmup,
            shared_services=shared_services,
        )


@dataclass
class Context:
    settings: Settings
    wrk: str | None
    work_dir: Path
    services: Services
    _models: dict[str, Path] = field(default_factory=dict)

    @property
    def generator(self) -> str:
        return "wrk" if self.wrk else "python"

    @property
    def log_dir(self) -> Path:
        return self.work_dir / "logs"

    def port(self) -> int:
        return free_port()

    def model(self, bot: str = "moodbot") -> Path:
        """A trained model of an example bot (trained once per run)."""
        if bot not in self._models:
            out = self.work_dir / "models" / bot
            subprocess.run(
                [PYTHON, "-m", "palaver", "train", "--project", str(EXAMPLES / bot),
                 "--out", str(out), "--force"],
                cwd=str(ROOT), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            self._models[bot] = out
        return self._models[bot]

    def spec(self, urls: Sequence[str], connections: int, **kwargs: Any) -> LoadSpec:
        return LoadSpec(
            urls=tuple(urls),
            connections=connections,
            duration=self.settings.duration,
            warmup=self.settings.warmup,
            sender_prefix=kwargs.pop("sender_prefix", f"b{uuid.uuid4().hex[:6]}"),
            **kwargs,
        )


@dataclass
class Measurement:
    load: LoadResult
    server_cpu_s: float
    cpu_us_per_msg: float
    peak_rss_mb: float

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.load.summary(),
            "server_cpu_s": round(self.server_cpu_s, 3),
            "cpu_us_per_msg": round(self.cpu_us_per_msg, 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


def measure(ctx: Context, servers: Sequence[Server], spec: LoadSpec) -> Measurement:
    """Warm up, then measure ``spec`` against ``servers`` (one URL each, in order)."""
    if spec.warmup > 0:
        run_load(_warmup_spec(spec), ctx.wrk)
    before = [s.cpu() for s in servers]
    result = run_load(_measured_spec(spec), ctx.wrk)
    cpu = sum(s.cpu() - b for s, b in zip(servers, before, strict=True))
    return Measurement(
        load=result,
        server_cpu_s=cpu,
        cpu_us_per_msg=cpu / result.requests * 1e6 if result.requests else 0.0,
        peak_rss_mb=max(s.peak_rss_mb() for s in servers),
    )


def _warmup_spec(spec: LoadSpec) -> LoadSpec:
    return LoadSpec(**{**spec.__dict__, "duration": spec.warmup, "warmup": 0.0,
                       "sender_prefix": spec.sender_prefix + "w"})  # fmt: skip


def _measured_spec(spec: LoadSpec) -> LoadSpec:
    return LoadSpec(**{**spec.__dict__, "warmup": 0.0})


METRICS = ("rps", "p50_ms", "p90_ms", "p99_ms", "cpu_us_per_msg", "peak_rss_mb")


def median_of(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Median of each metric over repeated runs; errors are summed, never medianed."""
    out: dict[str, Any] = {k: round(statistics.median(r[k] for r in runs), 2) for k in METRICS}
    out["errors"] = sum(int(r["errors"]) for r in runs)
    out["requests"] = sum(int(r["requests"]) for r in runs)
    out["runs"] = len(runs)
    return out


@dataclass
class Row:
    """One line of the results table."""

    scenario: str
    variant: str
    connections: int | None
    palaver: dict[str, Any]
    floor: dict[str, Any] | None = None
    floor_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.floor or not self.floor.get("rps"):
            return None
        return round(float(self.palaver["rps"]) / float(self.floor["rps"]), 3)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "variant": self.variant,
            "connections": self.connections,
            "palaver": self.palaver,
            "floor_name": self.floor_name,
            "floor": self.floor,
            "ratio": self.ratio,
            "extra": self.extra,
            "raw": self.raw,
        }


def compare(
    ctx: Context,
    scenario: str,
    variant: str,
    palaver: Sequence[Server],
    floor: Sequence[Server] | None,
    floor_name: str | None,
    spec_for: Callable[[Sequence[str], int], LoadSpec] | None = None,
) -> list[Row]:
    """Palaver and its floor at each connection count, interleaved over the repeats."""
    spec_for = spec_for or (lambda urls, c: ctx.spec(urls, c))
    rows = []
    for connections in ctx.settings.connections:
        runs: dict[str, list[dict[str, Any]]] = {"palaver": [], "floor": []}
        for rep in range(ctx.settings.repeats):
            order = [("palaver", palaver), ("floor", floor)]
            if rep % 2:
                order.reverse()
            for name, servers in order:
                if not servers:
                    continue
                spec = spec_for([s.url for s in servers], connections)
                runs[name].append(measure(ctx, servers, spec).as_dict())
                time.sleep(0.2)
        rows.append(
            Row(
                scenario=scenario,
                variant=variant,
                connections=connections,
                palaver=median_of(runs["palaver"]),
                floor=median_of(runs["floor"]) if runs["floor"] else None,
                floor_name=floor_name if runs["floor"] else None,
                raw=runs,
            )
        )
    return rows
