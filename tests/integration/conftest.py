"""Fixtures for end-to-end tests: trained example models and running servers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import services

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def train_example(name: str, out_dir: Path) -> Path:
    from palaver.training import train_project

    return train_project(EXAMPLES / name, out_dir=out_dir, force=True).archive


@pytest.fixture(scope="session")
def moodbot_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_example("moodbot", tmp_path_factory.mktemp("moodbot-models"))


@pytest.fixture(scope="session")
def slowbot_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slow-action test bot (``tests/integration/slowbot.py``), trained once."""
    from palaver.training import train_project
    from tests.integration.slowbot import write_slowbot

    root = write_slowbot(tmp_path_factory.mktemp("slowbot"))
    return train_project(root, out_dir=root / "models", force=True).archive


@pytest.fixture(scope="session")
def formbot_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_example("formbot", tmp_path_factory.mktemp("formbot-models"))


class ServerProcess:
    """``palaver run`` in a subprocess on a free port."""

    def __init__(self, args: list[str], port: int, log: Path, env: dict[str, str]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_handle = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "palaver", "run", "-i", "127.0.0.1", "-p", str(port), *args],
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(ROOT),
        )

    def wait_ready(self, timeout: float = 30.0, path: str = "/") -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"server not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self, sig: int | None = None) -> None:
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_handle.close()


@contextlib.contextmanager
def _server_factory(log_dir: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def start(
        args: list[str],
        ready_path: str = "/",
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> ServerProcess:
        port = port or services.free_port()
        full_env = {**os.environ, **(env or {})}
        server = ServerProcess(args, port, log_dir / f"server-{port}-{len(started)}.log", full_env)
        started.append(server)
        server.wait_ready(path=ready_path)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """Factory: ``start_server(args, ready_path="/")`` -> a ready ServerProcess."""
    with _server_factory(tmp_path) as start:
        yield start


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Like ``start_server``, but the servers live for the whole test module."""
    with _server_factory(tmp_path_factory.mktemp("servers")) as start:
        yield start
