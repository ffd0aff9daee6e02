"""A real rasa-sdk action server for integration tests.

``RasaSdkActionServer(project, log, python)`` runs ``python -m rasa_sdk --actions
actions`` in a test bot's directory on a free port; ``python`` is the
interpreter with rasa-sdk installed (``PALAVER_TEST_RASA_SDK_PYTHON``).
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

from tests import services


class RasaSdkActionServer:
    """``python -m rasa_sdk --actions actions`` serving one test bot's actions."""

    def __init__(self, project: Path, log: Path, python: str) -> None:
        self.port = services.free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhook"
        self.log = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [python, "-m", "rasa_sdk", "--actions", "actions", "-p", str(self.port)],
            cwd=project,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"action server exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"action server not ready:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
