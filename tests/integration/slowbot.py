"""A tiny bot whose ``slow`` turn blocks in a custom action until the test releases it.

``write_slowbot`` writes the project (keyword NLU, rules: ``hello`` ->
``utter_greet``, ``slow`` -> ``action_slow``). ``SlowActionServer`` is a
rasa-sdk-protocol action server running in the test's event loop: it records
each request (the tracker it carries includes the ``palaver_lock`` trace of
the message) and answers ``action_slow`` only once ``release`` is set. So a
test knows exactly when a replica holds a conversation's lock mid-turn, and
for how long.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from tests import services

GREETING = "Hey!"
SLOW_REPLY = "Done, slowly."

_DOMAIN = f"""\
version: "3.1"
intents:
  - greet
  - slow
responses:
  utter_greet:
    - text: "{GREETING}"
actions:
  - action_slow
session_config:
  session_expiration_time: 60
  carry_over_slots_to_new_session: true
"""

_CONFIG = """\
language: en
assistant_id: slowbot
pipeline:
  - name: WhitespaceTokenizer
  - name: KeywordIntentClassifier
policies:
  - name: RulePolicy
"""

_NLU = """\
version: "3.1"
nlu:
  - intent: greet
    examples: |
      - hello
      - hi
  - intent: slow
    examples: |
      - slow
      - take your time
"""

_RULES = """\
version: "3.1"
rules:
  - rule: greet
    steps:
      - intent: greet
      - action: utter_greet
  - rule: slow
    steps:
      - intent: slow
      - action: action_slow
"""


def write_slowbot(root: Path) -> Path:
    """Write the project under ``root``; returns ``root``."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "domain.yml").write_text(_DOMAIN, encoding="utf-8")
    (root / "config.yml").write_text(_CONFIG, encoding="utf-8")
    (root / "data" / "nlu.yml").write_text(_NLU, encoding="utf-8")
    (root / "data" / "rules.yml").write_text(_RULES, encoding="utf-8")
    return root


class SlowActionServer:
    """Serves ``action_slow``: records the request, then waits for ``release``."""

    def __init__(self) -> None:
        self.port = services.free_port()
        self.requests: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self._webhook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self.release.set()  # let blocked handlers finish so the runner closes at once
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for_requests(self, count: int, within: float = 20.0) -> dict[str, Any]:
        """Wait until ``count`` requests arrived; returns the last one."""
        deadline = time.monotonic() + within
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} action requests, expected {count}")
            await asyncio.sleep(0.01)
        return self.requests[count - 1]

    @staticmethod
    def lock_trace(request: dict[str, Any]) -> dict[str, Any]:
        """The ``palaver_lock`` trace of the message whose turn called the action."""
        latest = request["tracker"]["latest_message"]
        trace = latest["metadata"]["palaver_lock"]
        assert isinstance(trace, dict)
        return trace

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if body.get("next_action") != "action_slow":
            return web.json_response({"action_name": body.get("next_action")}, status=404)
        await self.release.wait()
        return web.json_response({"events": [], "responses": [{"text": SLOW_REPLY}]})
