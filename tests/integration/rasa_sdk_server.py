"""A real rasa-sdk action server for integration tests.

``RasaSdkActionServer(project, log, python)`` runs ``python -m rasa_sdk --actions
actions`` in a test bot's directory on a free port; ``python`` is the
interpreter with rasa-sdk installed (``PALAVER_TEST_RASA_SDK_PYTHON``).

rasa-sdk serves from a Sanic worker *process* (and a multiprocessing resource
tracker): the server runs in a session of its own and ``stop`` ends the whole
process group, so no worker outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests import services


class RasaSdkActionServer:
    """``python -m rasa_sdk --actions actions`` serving one test bot's actions."""

    def __init__(self, project: Path, log: Path, python: str, actions: str = "actions") -> None:
        self.port = services.free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhook"
        self.log = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [python, "-m", "rasa_sdk", "--actions", actions, "-p", str(self.port)],
            cwd=project,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
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
        self._signal_group(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.proc.wait()
        # The worker and resource tracker may outlive the main process by a moment.
        deadline = time.monotonic() + 5
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal_group(signal.SIGKILL)
        self._log.close()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True
