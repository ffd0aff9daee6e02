"""The model server poller: settings, the ETag contract, failures and backoff."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from palaver.actions.endpoint import HttpClient
from palaver.errors import ConfigError, ModelError, ModelStorageError, ModelStorageUnavailableError
from palaver.storage.server import (
    DEFAULT_WAIT_TIME_BETWEEN_PULLS,
    ModelServerPoller,
    ModelServerSettings,
    PullResult,
)
from tests.services import free_port
from tests.unit.storage.fake_model_server import FakeModelServer
from tests.unit.storage.helpers import FakeTarget, listing, make_archive, make_corrupt_archive


# --------------------------------------------------------------- settings
def test_settings_default_pull_interval_is_rasas() -> None:
    settings = ModelServerSettings.from_config({"url": "http://models/x.tar.gz"})
    assert settings.wait_time_between_pulls == DEFAULT_WAIT_TIME_BETWEEN_PULLS == 100.0


@pytest.mark.parametrize("value", [0, None])
def test_settings_zero_or_null_interval_fetches_once(value: object) -> None:
    config = {"url": "http://models/x", "wait_time_between_pulls": value}
    assert ModelServerSettings.from_config(config).wait_time_between_pulls is None


@pytest.mark.parametrize("value", [-1, "soon", True])
def test_settings_invalid_interval_names_key_and_value(value: object) -> None:
    with pytest.raises(ConfigError, match=r"'wait_time_between_pulls' has value"):
        ModelServerSettings.from_config({"url": "http://m/x", "wait_time_between_pulls": value})


def test_settings_unknown_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['wait_time'\]"):
        ModelServerSettings.from_config({"url": "http://m/x", "wait_time": 3})


def test_settings_missing_url_is_an_error() -> None:
    with pytest.raises(ConfigError, match="models: 'url'"):
        ModelServerSettings.from_config({"wait_time_between_pulls": 3})


def test_display_url_hides_the_query_string() -> None:
    settings = ModelServerSettings.from_config({"url": "http://m/x?token=secret"})
    assert settings.display_url == "http://m/x"


# ------------------------------------------------------------------ pulls
@pytest.fixture
def model_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    client = HttpClient()
    await client.start()
    yield client
    await client.stop()


def make_poller(
    url: str,
    target: FakeTarget,
    http: HttpClient,
    cache: Path,
    **config: object,
) -> ModelServerPoller:
    settings = ModelServerSettings.from_config({"url": url, **config})
    return ModelServerPoller(settings, target, http, cache)


async def test_first_pull_loads_the_model_and_remembers_the_etag(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    model_server.serve(make_archive(tmp_path, "model-a"), etag='"etag-a"')
    target = FakeTarget()
    poller = make_poller(model_server.url, target, http, tmp_path / "cache")

    assert await poller.pull() is PullResult.UPDATED

    assert target.loads == [("model-a", "model_server", model_server.url)]
    assert poller.etag == '"etag-a"'
    assert model_server.requests[0].if_none_match is None


async def test_unchanged_model_is_a_304_and_not_reloaded(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    model_server.serve(make_archive(tmp_path, "model-a"), etag='"etag-a"')
    target = FakeTarget()
    poller = make_poller(model_server.url, target, http, tmp_path / "cache")
    await poller.pull()

    assert await poller.pull() is PullResult.UNCHANGED

    assert [r.if_none_match for r in model_server.requests] == [None, '"etag-a"']
    assert [r.status for r in model_server.requests] == [200, 304]
    assert len(target.loads) == 1


async def test_a_new_etag_loads_the_new_model_and_deletes_the_old_download(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    target = FakeTarget()
    poller = make_poller(model_server.url, target, http, cache)
    model_server.serve(make_archive(tmp_path, "model-a"), etag='"a"')
    await poller.pull()
    model_server.serve(make_archive(tmp_path, "model-b"), etag='"b"')

    assert await poller.pull() is PullResult.UPDATED

    assert [load[0] for load in target.loads] == ["model-a", "model-b"]
    assert poller.etag == '"b"'
    assert len(listing(cache)) == 1  # only the archive of the current model


async def test_204_is_unchanged_when_a_model_is_loaded(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    target = FakeTarget()
    poller = make_poller(model_server.url, target, http, tmp_path / "cache")
    model_server.serve(make_archive(tmp_path, "model-a"), etag='"a"')
    await poller.pull()
    model_server.serve(None)

    assert await poller.pull() is PullResult.UNCHANGED
    assert target.model_or_none is not None


async def test_204_without_any_model_is_an_error(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    poller = make_poller(model_server.url, FakeTarget(), http, tmp_path / "cache")
    model_server.serve(None)
    with pytest.raises(ModelStorageError, match="no model to serve"):
        await poller.pull()


async def test_current_fingerprint_is_sent_before_the_server_sent_an_etag(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    """Rasa's contract: If-None-Match carries the fingerprint of the model in use."""
    archive = make_archive(tmp_path, "model-a", fingerprint="fp-a")
    target = FakeTarget()
    await target.load_model_file(archive, "local")
    model_server.serve(archive, etag="fp-a")
    poller = make_poller(model_server.url, target, http, tmp_path / "cache")

    assert await poller.pull() is PullResult.UNCHANGED
    assert model_server.requests[0].if_none_match == "fp-a"


async def test_server_ignoring_if_none_match_with_same_etag_is_unchanged(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    model_server.ignore_if_none_match = True  # always 200: the same ETag is the same model
    target = FakeTarget()
    poller = make_poller(model_server.url, target, http, tmp_path / "cache")
    model_server.serve(make_archive(tmp_path, "model-a"), etag='"a"')
    await poller.pull()

    assert await poller.pull() is PullResult.UNCHANGED
    assert [r.status for r in model_server.requests] == [200, 200]
    assert len(target.loads) == 1


async def test_without_etag_header_the_fingerprint_becomes_the_etag(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    model_server.send_etag = False
    target = FakeTarget()
    poller = make_poller(model_server.url, target, http, tmp_path / "cache")
    model_server.serve(make_archive(tmp_path, "model-a", fingerprint="fp-a"))

    assert await poller.pull() is PullResult.UPDATED
    assert poller.etag == "fp-a"


async def test_same_fingerprint_under_a_new_etag_is_not_reloaded(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    archive = make_archive(tmp_path, "model-a", fingerprint="fp-a")
    target = FakeTarget()
    poller = make_poller(model_server.url, target, http, tmp_path / "cache")
    model_server.serve(archive, etag='"one"')
    await poller.pull()
    model_server.serve(archive, etag='"two"')

    assert await poller.pull() is PullResult.UNCHANGED
    assert len(target.loads) == 1
    assert poller.etag == '"two"'


async def test_token_is_sent_as_query_parameter(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    model_server.token = "s3cret"
    model_server.serve(make_archive(tmp_path, "model-a"))
    poller = make_poller(model_server.url, FakeTarget(), http, tmp_path / "c", token="s3cret")

    assert await poller.pull() is PullResult.UPDATED
    assert model_server.requests[0].query == {"token": "s3cret"}


async def test_wrong_token_is_a_non_retriable_error(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    model_server.token = "s3cret"
    model_server.serve(make_archive(tmp_path, "model-a"))
    poller = make_poller(model_server.url, FakeTarget(), http, tmp_path / "c", token="nope")
    with pytest.raises(ModelStorageError, match="HTTP 401") as info:
        await poller.pull()
    assert not info.value.retriable


async def test_server_error_is_retriable(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    model_server.serve(make_archive(tmp_path, "model-a"))
    model_server.fail_with(503)
    poller = make_poller(model_server.url, FakeTarget(), http, tmp_path / "cache")
    with pytest.raises(ModelStorageUnavailableError, match="HTTP 503"):
        await poller.pull()


async def test_connection_refused_is_retriable(http: HttpClient, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/model"
    poller = make_poller(url, FakeTarget(), http, tmp_path / "cache")
    with pytest.raises(ModelStorageUnavailableError, match="download failed"):
        await poller.pull()


async def test_corrupt_archive_is_rejected_and_the_current_model_kept(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    target = FakeTarget()
    poller = make_poller(model_server.url, target, http, cache)
    model_server.serve(make_archive(tmp_path, "model-a"), etag='"a"')
    await poller.pull()
    model_server.serve(make_corrupt_archive(tmp_path), etag='"bad"')

    with pytest.raises(ModelError, match=r"rejected the served archive \(ETag \"bad\"\)"):
        await poller.pull()

    assert target.model_or_none is not None
    assert target.model_or_none.metadata.model_id == "model-a"
    assert poller.etag == '"a"'  # the bad one is tried again later
    assert len(listing(cache)) == 1
    assert poller.status()["rejected_archives"] == 1


# ------------------------------------------------------------ the loop
async def test_failures_back_off_exponentially_capped_at_the_interval(
    http: HttpClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}/model"
    target = FakeTarget()
    poller = make_poller(url, target, http, tmp_path / "c", wait_time_between_pulls=5)

    with caplog.at_level(logging.WARNING, logger="palaver.storage.server"):
        delays = [await poller.attempt() for _ in range(5)]

    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(caplog.records) == 5  # one line per failed attempt
    assert "no model yet" in caplog.records[0].getMessage()
    assert "waiting for a model from the model server" in target.not_ready_reason
    assert poller.status()["consecutive_failures"] == 5


async def test_success_resets_the_backoff_and_waits_the_interval(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    target = FakeTarget()
    poller = make_poller(model_server.url, target, http, tmp_path / "c", wait_time_between_pulls=7)
    model_server.fail_with(500)
    assert await poller.attempt() == 1.0
    assert await poller.attempt() == 2.0
    model_server.serve(make_archive(tmp_path, "model-a"))

    assert await poller.attempt() == 7
    assert poller.status()["consecutive_failures"] == 0
    assert poller.status()["last_error"] is None


async def test_fetch_once_stops_after_the_first_model(
    model_server: FakeModelServer, http: HttpClient, tmp_path: Path
) -> None:
    sleeps: list[float] = []

    async def sleep(delay: float) -> None:
        sleeps.append(delay)
        if len(sleeps) == 2:
            model_server.serve(make_archive(tmp_path, "model-a"))

    settings = ModelServerSettings.from_config(
        {"url": model_server.url, "wait_time_between_pulls": 0}
    )
    target = FakeTarget()
    poller = ModelServerPoller(settings, target, http, tmp_path / "c", sleep=sleep)

    await poller.run()  # returns: fetch once, but keeps trying until a model is loaded

    assert sleeps == [1.0, 2.0]
    assert [load[0] for load in target.loads] == ["model-a"]
