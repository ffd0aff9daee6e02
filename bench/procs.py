"""Child processes the benchmark starts, and what it reads about them from /proc.

A :class:`Server` is one process serving HTTP on a loopback port (``palaver
run`` or a floor app). CPU time and peak RSS are read from ``/proc/<pid>``:
``utime + stime`` deltas over a measured window give the server CPU per
message, ``VmHWM`` the peak resident set.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WEBHOOK = "/webhooks/rest/webhook"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        # The command name may contain spaces: split after its closing parenthesis.
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kb(pid: int, key: str) -> int:
    """A ``/proc/<pid>/status`` memory field (``VmHWM``, ``VmRSS``) in kB; 0 if gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def post_message(port: int, sender: str, text: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """One REST-channel message on a fresh connection: (status, body)."""
    import orjson

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST",
            WEBHOOK,
            body=orjson.dumps({"sender": sender, "message": text}),
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class Server:
    """One HTTP server child process on ``port``; stopped by its own pid only."""

    name: str
    args: Sequence[str]
    port: int
    log_path: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_after: float = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            list(self.args),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(ROOT),
            env={**os.environ, **(self.env or {})},
        )
        log.close()

    def wait_answering(self, timeout: float = 60.0, sender: str = "bench-ready") -> float:
        """Poll with a real message until the server answers 200; seconds since start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, body = post_message(self.port, sender, "hello", timeout=2.0)
                if status == 200 and body.startswith(b"["):
                    self.ready_after = time.perf_counter() - self.started_at
                    return self.ready_after
            time.sleep(0.01)
        raise TimeoutError(f"{self.name} did not answer within {timeout}s; see {self.log_path}")

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mb(self) -> float:
        return memory_kb(self.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        return memory_kb(self.pid, "VmRSS") / 1024

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def palaver_server(
    name: str,
    model: Path,
    port: int,
    log_dir: Path,
    *,
    endpoints: Path | None = None,
    extra: Sequence[str] = (),
) -> Server:
    """``python -m palaver run`` (single process, access log off: the default)."""
    args = [PYTHON, "-m", "palaver", "run", "-m", str(model), "-i", "127.0.0.1", "-p", str(port)]
    if endpoints is not None:
        args += ["--endpoints", str(endpoints)]
    args += list(extra)
    return Server(name, args, port, log_dir / f"{name}-{port}.log")


def floor_server(
    name: str, module: str, port: int, log_dir: Path, extra: Sequence[str] = ()
) -> Server:
    """A floor app: ``python -m bench.floors.<module> --port PORT ...``."""
    args = [PYTHON, "-m", f"bench.floors.{module}", "--port", str(port), *extra]
    return Server(name, args, port, log_dir / f"{name}-{port}.log")
