"""Smoke test of the benchmark harness: scenario (a) with --quick against a real server.

No timing assertions: only that the harness starts what it needs, drives real
traffic with no failed message, stops everything and writes its results.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
@pytest.mark.parametrize("generator", ["auto", "python"])
def test_quick_scenario_a(tmp_path: Path, generator: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--scenarios", "a", "--duration", "2",
         "--warmup", "0.5", "--generator", generator, "--output", str(tmp_path)],
        cwd=str(ROOT), capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = list((tmp_path / "results").glob("*.json"))
    assert len(results) == 1
    data = json.loads(results[0].read_text())
    rows = [row for row in data["rows"] if row["scenario"] == "a"]
    assert [row["connections"] for row in rows] == [1, 32]
    for row in rows:
        assert row["palaver"]["errors"] == 0
        assert row["palaver"]["requests"] > 0
        assert row["floor"]["errors"] == 0
    if generator == "python":
        assert data["environment"]["generator"] == "python"
    markdown = (tmp_path / "RESULTS.md").read_text()
    assert "python -m bench --quick --scenarios a" in markdown
    assert "| a in-memory | 32 |" in markdown
