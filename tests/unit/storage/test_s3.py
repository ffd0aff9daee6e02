"""The S3 persistor against moto_server (env-configured through palaver.config)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from palaver.errors import ModelStorageError, ModelStorageUnavailableError
from palaver.storage.remote import create_persistor
from palaver.storage.s3 import S3Persistor, S3PersistorSettings
from tests.services import MotoServer, free_port
from tests.unit.storage.helpers import make_archive


@pytest.fixture
def s3_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the persistor at moto with a fresh bucket; returns the bucket name."""
    bucket = f"palaver-models-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("BUCKET_NAME", bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("REMOTE_STORAGE_PATH", raising=False)
    return bucket


def aws() -> S3Persistor:
    persistor = create_persistor("aws")
    assert isinstance(persistor, S3Persistor)
    return persistor


def test_settings_come_from_the_environment(s3_env: str) -> None:
    settings = aws().settings
    assert settings.bucket_name == s3_env
    assert settings.endpoint_url == os.environ["AWS_ENDPOINT_URL"]
    assert settings.region == "us-east-1"
    assert settings.prefix == ""


def test_endpoints_options_win_over_the_environment(s3_env: str) -> None:
    settings = S3PersistorSettings.from_config({"bucket_name": "other", "prefix": "bots/mood"})
    assert settings.bucket_name == "other"
    assert settings.prefix == "bots/mood/"
    assert settings.location == "s3://other/bots/mood/"


async def test_upload_creates_the_bucket_and_download_fetches_by_name(
    s3_env: str, tmp_path: Path
) -> None:
    archive = make_archive(tmp_path / "src", "model-a")
    await aws().upload(archive)

    for name in ("model-a", "model-a.tar.gz", "models/model-a.tar.gz"):
        target = await aws().download(name, tmp_path / "cache")
        assert target == tmp_path / "cache" / "model-a.tar.gz"
        assert target.read_bytes() == archive.read_bytes()


async def test_download_without_a_name_takes_the_newest(s3_env: str, tmp_path: Path) -> None:
    persistor = aws()
    await persistor.upload(make_archive(tmp_path, "zzz-first"))
    await asyncio.sleep(1.1)  # S3 LastModified has one-second resolution
    await persistor.upload(make_archive(tmp_path, "aaa-second"))

    target = await persistor.download(None, tmp_path / "cache")
    assert target.name == "aaa-second.tar.gz"


async def test_prefix_separates_models(
    s3_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await aws().upload(make_archive(tmp_path, "outside"))
    monkeypatch.setenv("REMOTE_STORAGE_PATH", "moodbot")
    await aws().upload(make_archive(tmp_path, "inside"))

    target = await aws().download(None, tmp_path / "cache")
    assert target.name == "inside.tar.gz"
    with pytest.raises(ModelStorageError, match=r"Archives there: inside\.tar\.gz"):
        await aws().download("outside", tmp_path / "cache")


async def test_missing_model_lists_what_is_there(s3_env: str, tmp_path: Path) -> None:
    await aws().upload(make_archive(tmp_path, "model-a"))
    with pytest.raises(ModelStorageError) as info:
        await aws().download("model-b", tmp_path / "cache")
    assert str(info.value) == (
        f"Model 'model-b.tar.gz' not found in s3://{s3_env}/. Archives there: model-a.tar.gz."
    )
    assert not info.value.retriable
    assert not (tmp_path / "cache" / "model-b.tar.gz").exists()


async def test_empty_bucket_has_no_newest_model(s3_env: str, tmp_path: Path) -> None:
    await aws().upload(make_archive(tmp_path, "elsewhere"))
    with pytest.raises(ModelStorageError, match="No model archive found in s3://"):
        await S3Persistor(S3PersistorSettings.from_config({"prefix": "empty"})).download(
            None, tmp_path / "cache"
        )


async def test_missing_bucket_is_not_retriable(s3_env: str, tmp_path: Path) -> None:
    with pytest.raises(ModelStorageError, match="NoSuchBucket") as info:
        await aws().download("model-a", tmp_path / "cache")
    assert not info.value.retriable


async def test_unreachable_endpoint_is_retriable(
    s3_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    persistor = S3Persistor(
        S3PersistorSettings.from_config({"connect_timeout": 0.5, "read_timeout": 0.5})
    )
    with pytest.raises(ModelStorageUnavailableError, match="download from s3://"):
        await persistor.download("model-a", tmp_path / "cache")
