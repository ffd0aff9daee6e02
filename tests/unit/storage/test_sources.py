"""The runtime's model sources: start-up, readiness, /status and load_model_from."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from palaver.config import EndpointsConfig
from palaver.errors import (
    ConfigError,
    ModelError,
    ModelStorageError,
    ModelStorageUnavailableError,
)
from palaver.server.runtime import ModelNotReadyError, Runtime
from palaver.server.settings import ServerSettings
from palaver.storage.backoff import Backoff
from palaver.storage.remote import create_persistor
from tests.services import MotoServer, free_port
from tests.unit.storage.fake_model_server import FakeModelServer
from tests.unit.storage.helpers import fake_load_model, make_archive, make_corrupt_archive

RuntimeFactory = Callable[..., Runtime]


@pytest.fixture(autouse=True)
def _fake_loader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Load archives without NLU/policies; keep downloads in the test's directory."""
    monkeypatch.setattr("palaver.core.model.load_model", fake_load_model)
    monkeypatch.setenv("PALAVER_MODEL_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
async def make_runtime() -> AsyncIterator[RuntimeFactory]:
    started: list[Runtime] = []

    def make(settings: ServerSettings | None = None, **endpoints: Any) -> Runtime:
        runtime = Runtime(settings or ServerSettings(), EndpointsConfig(**endpoints))
        started.append(runtime)
        return runtime

    yield make
    for runtime in started:
        await runtime.stop()


@pytest.fixture
def model_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``check`` (state changed by background tasks) until it holds."""
    for _ in range(int(within / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not reached within {within}s")


# ------------------------------------------------------------- local path
async def test_local_model_directory_loads_the_newest(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    make_archive(tmp_path / "models", "older")
    newer = make_archive(tmp_path / "models", "newer")
    runtime = make_runtime(ServerSettings(model=str(tmp_path / "models")))
    await runtime.start()

    status = runtime.status()
    assert status["model_id"] == "newer"
    assert status["model_source"] == "local"
    assert status["model_file"] == status["model_origin"] == str(newer)
    assert status["fingerprint"] == {"model": "fp-newer"}
    assert status["model_loaded_at"] is not None


async def test_missing_local_model_is_not_ready_with_the_reason(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    runtime = make_runtime(ServerSettings(model=str(tmp_path / "nothing")))
    await runtime.start()
    assert not runtime.is_ready
    assert "does not exist" in runtime.not_ready_reason
    with pytest.raises(ModelNotReadyError, match="does not exist"):
        runtime.model  # noqa: B018


# ----------------------------------------------------------- model server
async def test_model_server_down_at_start_then_up_makes_the_server_ready(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/model"
    runtime = make_runtime(models={"url": url, "wait_time_between_pulls": 0.2})
    await runtime.start()

    await eventually(lambda: "Cannot connect" in runtime.not_ready_reason)
    assert not runtime.is_ready
    assert f"waiting for a model from the model server {url}" in runtime.not_ready_reason

    with FakeModelServer(port=port) as server:
        server.serve(make_archive(tmp_path, "model-a"), etag='"a"')
        await eventually(lambda: runtime.is_ready)

    status = runtime.status()
    assert status["model_id"] == "model-a"
    assert status["model_source"] == "model_server"
    assert status["model_origin"] == url
    assert status["model_server"]["etag"] == '"a"'
    assert status["model_server"]["url"] == url


async def test_model_server_swaps_to_a_new_model(
    make_runtime: RuntimeFactory, model_server: FakeModelServer, tmp_path: Path
) -> None:
    model_server.serve(make_archive(tmp_path, "model-a"), etag='"a"')
    runtime = make_runtime(models={"url": model_server.url, "wait_time_between_pulls": 0.1})
    await runtime.start()
    await eventually(lambda: runtime.is_ready)
    first = runtime.model

    model_server.serve(make_archive(tmp_path, "model-b"), etag='"b"')
    await eventually(lambda: runtime.model_id == "model-b")

    assert first.metadata.model_id == "model-a"  # a request holding it is unaffected
    assert runtime.counters.model_loads == 2


async def test_corrupt_archive_keeps_the_model_and_status(
    make_runtime: RuntimeFactory, model_server: FakeModelServer, tmp_path: Path
) -> None:
    model_server.serve(make_archive(tmp_path, "model-a"), etag='"a"')
    runtime = make_runtime(models={"url": model_server.url, "wait_time_between_pulls": 0.1})
    await runtime.start()
    await eventually(lambda: runtime.is_ready)
    before = runtime.status()

    model_server.serve(make_corrupt_archive(tmp_path), etag='"bad"')
    await eventually(lambda: runtime.counters.model_load_failures >= 2)

    after = runtime.status()
    for key in ("model_id", "fingerprint", "model_source", "model_origin", "model_loaded_at"):
        assert after[key] == before[key]
    assert after["model_server"]["rejected_archives"] >= 2
    assert "rejected the served archive" in after["model_server"]["last_error"]


def test_invalid_model_server_config_fails_at_construction() -> None:
    with pytest.raises(ConfigError, match="wait_time_between_pulls"):
        Runtime(
            ServerSettings(),
            EndpointsConfig(models={"url": "http://m/x", "wait_time_between_pulls": -5}),
        )


# ------------------------------------------------------- load_model_from
async def test_load_model_from_file_then_corrupt_file_keeps_the_first(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    runtime = make_runtime(ServerSettings(model=str(tmp_path / "none")))
    await runtime.start()

    model = await runtime.load_model_from(model_file=make_archive(tmp_path, "model-a"))
    assert model.metadata.model_id == runtime.model_id == "model-a"

    with pytest.raises(ModelError, match="not a readable"):
        await runtime.load_model_from(model_file=str(make_corrupt_archive(tmp_path)))
    assert runtime.model_id == "model-a"
    assert runtime.counters.model_load_failures == 2  # the missing start-up model, the corrupt


async def test_load_model_from_nothing_is_a_config_error(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime()
    with pytest.raises(ConfigError, match="Nothing to load"):
        await runtime.load_model_from()


async def test_load_model_from_model_server_replaces_the_poller(
    make_runtime: RuntimeFactory, model_server: FakeModelServer, tmp_path: Path
) -> None:
    runtime = make_runtime(ServerSettings(model=str(tmp_path / "none")))
    await runtime.start()
    model_server.serve(make_archive(tmp_path, "model-a"), etag='"a"')

    model = await runtime.load_model_from(
        model_server={"url": model_server.url, "wait_time_between_pulls": 0.1}
    )
    assert model.metadata.model_id == "model-a"
    assert runtime.status()["model_server"]["etag"] == '"a"'

    model_server.serve(make_archive(tmp_path, "model-b"), etag='"b"')
    await eventually(lambda: runtime.model_id == "model-b")


async def test_load_model_from_unreachable_model_server_keeps_the_model(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    runtime = make_runtime(ServerSettings(model=str(make_archive(tmp_path, "model-a"))))
    await runtime.start()
    url = f"http://127.0.0.1:{free_port()}/model"
    with pytest.raises(ModelStorageError, match="download failed"):
        await runtime.load_model_from(model_server={"url": url})
    assert runtime.model_id == "model-a"
    assert runtime.model_poller is None


# -------------------------------------------------------- remote storage
@pytest.fixture
def s3_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    bucket = f"palaver-models-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("BUCKET_NAME", bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("REMOTE_STORAGE_PATH", raising=False)
    return bucket


async def test_start_up_from_remote_storage_by_name(
    make_runtime: RuntimeFactory, s3_env: str, tmp_path: Path
) -> None:
    await create_persistor("aws").upload(make_archive(tmp_path, "model-a"))
    await create_persistor("aws").upload(make_archive(tmp_path, "model-b"))
    runtime = make_runtime(ServerSettings(model="model-a", remote_storage="aws"))
    await runtime.start()
    await eventually(lambda: runtime.is_ready)

    status = runtime.status()
    assert status["model_id"] == "model-a"
    assert status["model_source"] == "remote_storage"
    assert status["model_origin"] == "aws:model-a.tar.gz"
    assert status["model_file"] == str(tmp_path / "cache" / "remote" / "model-a.tar.gz")


async def test_start_up_from_remote_storage_missing_model_is_not_ready(
    make_runtime: RuntimeFactory, s3_env: str, tmp_path: Path
) -> None:
    await create_persistor("aws").upload(make_archive(tmp_path, "model-a"))
    runtime = make_runtime(ServerSettings(model="model-x", remote_storage="aws"))
    await runtime.start()
    await eventually(lambda: "could not load" in runtime.not_ready_reason)
    assert "Model 'model-x.tar.gz' not found" in runtime.not_ready_reason
    assert not runtime.is_ready


def test_remote_storage_without_bucket_fails_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BUCKET_NAME", raising=False)
    with pytest.raises(ConfigError, match="BUCKET_NAME"):
        Runtime(ServerSettings(remote_storage="aws"), EndpointsConfig())


async def test_load_model_from_remote_storage(
    make_runtime: RuntimeFactory, s3_env: str, tmp_path: Path
) -> None:
    await create_persistor("aws").upload(make_archive(tmp_path, "model-a"))
    runtime = make_runtime(ServerSettings(model=str(tmp_path / "none")))
    await runtime.start()

    model = await runtime.load_model_from(remote_storage="aws")  # newest
    assert model.metadata.model_id == "model-a"
    assert runtime.status()["model_origin"] == "aws:model-a.tar.gz"


class FlakyPersistor:
    """Unreachable for the first ``failures`` downloads, then serves one archive."""

    archive: Path | None = None
    failures = 0
    calls = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FlakyPersistor:
        return cls()

    async def download(self, model_name: str | None, target_dir: Path) -> Path:
        FlakyPersistor.calls += 1
        if FlakyPersistor.calls <= FlakyPersistor.failures:
            raise ModelStorageUnavailableError("connection refused")
        assert FlakyPersistor.archive is not None
        return FlakyPersistor.archive

    async def upload(self, archive: Path) -> None:
        pass


async def test_remote_storage_unreachable_at_start_up_is_retried(
    make_runtime: RuntimeFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("palaver.storage.remote.Backoff", lambda: Backoff(cap=0.05, initial=0.01))
    FlakyPersistor.archive = make_archive(tmp_path, "model-a")
    FlakyPersistor.failures = 3
    FlakyPersistor.calls = 0
    storage = f"{__name__}.FlakyPersistor"
    runtime = make_runtime(ServerSettings(remote_storage=storage))

    with caplog.at_level(logging.WARNING, logger="palaver.storage.remote"):
        await runtime.start()
        await eventually(lambda: runtime.is_ready)

    assert FlakyPersistor.calls == 4
    assert len(caplog.records) == 3  # one line per failed attempt
    assert "connection refused; next attempt in" in caplog.records[0].getMessage()
    assert runtime.status()["model_origin"] == f"{storage}:model-a.tar.gz"


async def test_a_crashing_background_task_is_logged(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def crash() -> None:
        raise RuntimeError("boom")

    runtime = make_runtime()
    with caplog.at_level(logging.ERROR, logger="palaver.server.runtime"):
        task = runtime.spawn(crash, "doomed")
        with pytest.raises(RuntimeError):
            await task
        await asyncio.sleep(0)  # done callbacks run on the next loop iteration
    assert [r.getMessage() for r in caplog.records] == ["background task doomed failed"]
