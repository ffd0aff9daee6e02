"""Model loading end to end: a model server (ETag polling), S3, failures, readiness.

A real ``palaver run`` process pulls from a fake model server (in a thread of
the test process) or from S3 on moto_server, while a load generator keeps
talking to it over the REST channel.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from palaver.storage.archive import read_metadata
from palaver.storage.remote import create_persistor
from tests.integration.conftest import EXAMPLES
from tests.services import MotoServer, free_port
from tests.unit.storage.fake_model_server import FakeModelServer
from tests.unit.storage.helpers import make_corrupt_archive

pytestmark = pytest.mark.slow

GREETING_A = "Hey! How are you?"
GREETING_B = "Hello from model B!"
PULL_INTERVAL = 1
STARTUP_TIMEOUT = 90.0


@pytest.fixture(scope="session")
def moodbot_b_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Moodbot whose ``utter_greet`` says something else."""
    from palaver.training import train_project

    project = tmp_path_factory.mktemp("moodbot-b") / "project"
    shutil.copytree(EXAMPLES / "moodbot", project)
    domain = project / "domain.yml"
    text = domain.read_text(encoding="utf-8")
    assert GREETING_A in text
    domain.write_text(text.replace(GREETING_A, GREETING_B), encoding="utf-8")
    return train_project(project, out_dir=project.parent / "models", force=True).archive


@pytest.fixture
def model_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


def write_endpoints(directory: Path, url: str) -> Path:
    path = directory / "endpoints.yml"
    path.write_text(
        f"models:\n  url: {url}\n  wait_time_between_pulls: {PULL_INTERVAL}\n", encoding="utf-8"
    )
    return path


def cache_env(directory: Path) -> dict[str, str]:
    return {"PALAVER_MODEL_CACHE_DIR": str(directory / "model-cache")}


async def start(start_server: Any, args: list[str], env: dict[str, str], ready: bool) -> Any:
    """``palaver run`` answering ``/``; with ``ready``, also wait for ``/ready`` (a model)."""
    # start_server blocks while it waits for the port: keep the loop free meanwhile.
    server = await asyncio.to_thread(start_server, args, "/", env)
    if ready:
        async with aiohttp.ClientSession() as session:

            async def is_ready() -> bool:
                return (await get_json(session, server.url + "/ready"))[0] == 200

            # Generous: the machine may be busy (training, other suites).
            await wait_until(is_ready, STARTUP_TIMEOUT, "ready", server.log)
    return server


async def get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        return response.status, await response.json(content_type=None)


async def say(session: aiohttp.ClientSession, url: str, text: str = "hello") -> tuple[int, Any]:
    body = {"sender": f"user-{uuid.uuid4().hex[:12]}", "message": text}
    async with session.post(url + "/webhooks/rest/webhook", json=body) as response:
        return response.status, await response.json(content_type=None)


async def greeting(session: aiohttp.ClientSession, url: str) -> str:
    status, body = await say(session, url)
    assert status == 200, body
    assert len(body) == 1, body
    return str(body[0]["text"])


async def wait_until(
    check: Callable[[], Any], within: float, what: str, log: Path | None = None
) -> None:
    """Poll ``check`` (sync, or async for HTTP checks) every 0.1s until it is true.

    On timeout the failure shows the server's log (read then, not before).
    """
    for _ in range(int(within / 0.1)):
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(0.1)
    details = await asyncio.to_thread(log.read_text) if log is not None else ""
    raise AssertionError(f"{what}: not within {within}s\n--- server log ---\n{details}")


# ------------------------------------------------------------ load generator
@dataclass
class Reply:
    started: float
    ended: float
    status: int
    body: Any

    @property
    def text(self) -> str | None:
        if self.status != 200 or not isinstance(self.body, list) or len(self.body) != 1:
            return None
        text = self.body[0].get("text")
        return text if isinstance(text, str) else None


@dataclass
class LoadGenerator:
    """Workers posting "hello" (each time as a new conversation) until stopped."""

    session: aiohttp.ClientSession
    url: str
    workers: int = 8
    replies: list[Reply] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]

    async def _worker(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status, body = await say(self.session, self.url)
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.errors.append(repr(exc))
                continue
            self.replies.append(Reply(started, time.monotonic(), status, body))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def count(self, text: str) -> int:
        return sum(1 for reply in self.replies if reply.text == text)


# ------------------------------------------------------------------ tests
async def test_model_server_switch_under_load(
    start_server: Any,
    model_server: FakeModelServer,
    moodbot_model: Path,
    moodbot_b_model: Path,
    tmp_path: Path,
) -> None:
    model_server.serve(moodbot_model, etag='"model-a"')
    endpoints = write_endpoints(tmp_path, model_server.url)
    server = await start(
        start_server, ["--endpoints", str(endpoints)], cache_env(tmp_path), ready=True
    )
    b_meta = read_metadata(moodbot_b_model)

    async with aiohttp.ClientSession() as session:
        load = LoadGenerator(session, server.url)
        load.start()
        try:
            await wait_until(
                lambda: load.count(GREETING_A) >= 50,
                30,
                "replies from A",
                server.log,
            )
            switch_requested = time.monotonic()
            model_server.serve(moodbot_b_model, etag='"model-b"')
            await wait_until(
                lambda: load.count(GREETING_B) >= 50,
                30,
                "replies from B",
                server.log,
            )
        finally:
            await load.stop()
        _, status = await get_json(session, server.url + "/status")

    assert load.errors == []
    failed = [r for r in load.replies if r.text not in (GREETING_A, GREETING_B)]
    assert failed == [], failed[:5]
    first_b = min(r.ended for r in load.replies if r.text == GREETING_B)
    # Switched within about one pull interval (plus download and load time).
    assert first_b - switch_requested < PULL_INTERVAL + 10.0
    # Never back to A: every request started after B answered once is answered by B.
    assert {r.text for r in load.replies if r.started > first_b} == {GREETING_B}
    assert {r.text for r in load.replies if r.ended < switch_requested} == {GREETING_A}
    # No request waited long during the swap (generous: CI machines may be busy).
    assert max(r.ended - r.started for r in load.replies) < 5.0

    assert status["model_id"] == b_meta.model_id
    assert status["fingerprint"] == {"model": b_meta.fingerprint}
    assert status["model_source"] == "model_server"
    assert status["model_origin"] == model_server.url
    assert status["model_server"]["etag"] == '"model-b"'
    assert status["counters"]["message_errors"] == 0


async def test_corrupt_archive_is_rejected_and_a_keeps_serving(
    start_server: Any, model_server: FakeModelServer, moodbot_model: Path, tmp_path: Path
) -> None:
    model_server.serve(moodbot_model, etag='"model-a"')
    endpoints = write_endpoints(tmp_path, model_server.url)
    server = await start(
        start_server, ["--endpoints", str(endpoints)], cache_env(tmp_path), ready=True
    )

    async with aiohttp.ClientSession() as session:
        _, before = await get_json(session, server.url + "/status")
        model_server.serve(make_corrupt_archive(tmp_path), etag='"broken"')

        async def rejected() -> bool:
            _, status = await get_json(session, server.url + "/status")
            return bool(status["model_server"]["rejected_archives"] >= 1)

        await wait_until(rejected, 30, "corrupt archive rejected", server.log)
        assert await greeting(session, server.url) == GREETING_A
        _, after = await get_json(session, server.url + "/status")

    for key in ("model_id", "fingerprint", "model_source", "model_origin", "model_loaded_at"):
        assert after[key] == before[key], key
    assert after["ready"] is True
    assert after["counters"]["model_load_failures"] >= 1
    assert 'rejected the served archive (ETag "broken")' in after["model_server"]["last_error"]
    log = server.log.read_text()
    assert "rejected the served archive" in log
    assert "keeps serving" in log


async def test_model_server_down_at_start_up_then_up(
    start_server: Any, moodbot_model: Path, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens here yet
    url = f"http://127.0.0.1:{port}/model"
    endpoints = write_endpoints(tmp_path, url)
    server = await start(
        start_server, ["--endpoints", str(endpoints)], cache_env(tmp_path), ready=False
    )

    async with aiohttp.ClientSession() as session:

        async def failed_once() -> bool:
            _, body = await get_json(session, server.url + "/ready")
            return "last attempt" in body.get("reason", "")

        await wait_until(failed_once, 30, "failed pull in /ready", server.log)
        status, body = await get_json(session, server.url + "/ready")
        assert status == 503
        assert body["status"] == "not ready"
        assert f"waiting for a model from the model server {url}" in body["reason"]

        status, body = await say(session, server.url)
        assert status == 503
        assert body["reason"] == "ModelNotReady"
        assert body["message"].startswith("No model is loaded yet: waiting for a model")

        with FakeModelServer(port=port) as models:
            models.serve(moodbot_model, etag='"model-a"')

            async def ready() -> bool:
                return (await get_json(session, server.url + "/ready"))[0] == 200

            await wait_until(ready, 60, "ready after the model server", server.log)
            assert await greeting(session, server.url) == GREETING_A


# ----------------------------------------------------------------------- S3
@pytest.fixture
def s3_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "BUCKET_NAME": f"palaver-models-{uuid.uuid4().hex[:10]}",
        "AWS_ENDPOINT_URL": moto_server.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REMOTE_STORAGE_PATH", raising=False)
    return env


async def test_start_up_from_s3_then_put_model_from_s3(
    start_server: Any,
    s3_env: dict[str, str],
    moodbot_model: Path,
    moodbot_b_model: Path,
    tmp_path: Path,
) -> None:
    await create_persistor("aws").upload(moodbot_model)
    await create_persistor("aws").upload(moodbot_b_model)
    args = ["--remote-storage", "aws", "-m", moodbot_model.name, "--enable-api"]
    server = await start(start_server, args, {**s3_env, **cache_env(tmp_path)}, ready=True)

    async with aiohttp.ClientSession() as session:
        assert await greeting(session, server.url) == GREETING_A
        _, status = await get_json(session, server.url + "/status")
        assert status["model_source"] == "remote_storage"
        assert status["model_origin"] == f"aws:{moodbot_model.name}"

        body = {"remote_storage": "aws", "model_file": moodbot_b_model.name}
        async with session.put(server.url + "/model", json=body) as response:
            assert response.status == 204, await response.text()
        assert await greeting(session, server.url) == GREETING_B

        body = {"remote_storage": "aws", "model_file": "no-such-model"}
        async with session.put(server.url + "/model", json=body) as response:
            assert response.status == 400
            assert "Model 'no-such-model.tar.gz' not found" in (await response.json())["message"]
        assert await greeting(session, server.url) == GREETING_B


async def test_train_push_uploads_to_s3(s3_env: dict[str, str], tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "palaver", "train", "--project", str(EXAMPLES / "moodbot"),
        "--out", str(tmp_path / "models"), "--fixed-model-name", "pushed",
        "--push", "--remote-storage", "aws",
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *command,
        env={**os.environ, **s3_env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    assert "Uploaded pushed.tar.gz to aws." in output.decode()

    downloaded = await create_persistor("aws").download(None, tmp_path / "downloaded")
    assert downloaded.name == "pushed.tar.gz"
    assert read_metadata(downloaded).model_id == "pushed"
