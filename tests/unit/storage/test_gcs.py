"""The GCS persistor against an in-memory fake of ``google.cloud.storage``."""

from __future__ import annotations

import sys
import types
from datetime import UTC, datetime
from pathlib import Path

import pytest

from palaver.errors import ConfigError, ModelStorageError, ModelStorageUnavailableError
from palaver.storage.gcs import GCSPersistor
from palaver.storage.remote import create_persistor
from tests.unit.storage.helpers import make_archive

Buckets = dict[str, dict[str, tuple[bytes, datetime]]]


class ServiceUnavailable(Exception):
    code = 503


class FakeBlob:
    def __init__(self, objects: dict[str, tuple[bytes, datetime]], name: str) -> None:
        self._objects = objects
        self.name = name

    @property
    def updated(self) -> datetime:
        return self._objects[self.name][1]

    def exists(self) -> bool:
        return self.name in self._objects

    def download_to_filename(self, filename: str) -> None:
        Path(filename).write_bytes(self._objects[self.name][0])

    def upload_from_filename(self, filename: str) -> None:
        self._objects[self.name] = (Path(filename).read_bytes(), datetime.now(UTC))


class FakeBucket:
    def __init__(self, objects: dict[str, tuple[bytes, datetime]]) -> None:
        self._objects = objects

    def blob(self, name: str) -> FakeBlob:
        return FakeBlob(self._objects, name)


class FakeClient:
    buckets: Buckets = {}
    fail: BaseException | None = None

    def __init__(self, project: str | None = None) -> None:
        if FakeClient.fail is not None:
            raise FakeClient.fail

    def bucket(self, name: str) -> FakeBucket:
        return FakeBucket(self.buckets.setdefault(name, {}))

    def lookup_bucket(self, name: str) -> FakeBucket | None:
        return FakeBucket(self.buckets[name]) if name in self.buckets else None

    def create_bucket(self, name: str) -> FakeBucket:
        return FakeBucket(self.buckets.setdefault(name, {}))

    def list_blobs(self, bucket: str, prefix: str, delimiter: str) -> list[FakeBlob]:
        objects = self.buckets.get(bucket, {})
        return [
            FakeBlob(objects, name)
            for name in objects
            if name.startswith(prefix) and delimiter not in name[len(prefix) :]
        ]


@pytest.fixture(autouse=True)
def fake_gcs(monkeypatch: pytest.MonkeyPatch) -> Buckets:
    storage = types.ModuleType("google.cloud.storage")
    storage.Client = FakeClient  # type: ignore[attr-defined]
    cloud = types.ModuleType("google.cloud")
    cloud.storage = storage  # type: ignore[attr-defined]
    google = types.ModuleType("google")
    google.cloud = cloud  # type: ignore[attr-defined]
    for name, module in (("google", google), ("google.cloud", cloud)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setitem(sys.modules, "google.cloud.storage", storage)
    monkeypatch.setenv("BUCKET_NAME", "models")
    monkeypatch.delenv("REMOTE_STORAGE_PATH", raising=False)
    FakeClient.buckets = {}
    FakeClient.fail = None
    return FakeClient.buckets


def gcs() -> GCSPersistor:
    persistor = create_persistor("gcs")
    assert isinstance(persistor, GCSPersistor)
    return persistor


def test_bucket_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUCKET_NAME")
    with pytest.raises(ConfigError, match="'gcs' needs a bucket"):
        create_persistor("gcs")


async def test_upload_then_download_by_name_and_newest(fake_gcs: Buckets, tmp_path: Path) -> None:
    await gcs().upload(make_archive(tmp_path, "model-a"))
    await gcs().upload(make_archive(tmp_path, "model-b"))
    fake_gcs["models"]["model-a.tar.gz"] = (
        fake_gcs["models"]["model-a.tar.gz"][0],
        datetime(2030, 1, 1, tzinfo=UTC),
    )

    by_name = await gcs().download("model-b", tmp_path / "cache")
    assert by_name.read_bytes() == (tmp_path / "model-b.tar.gz").read_bytes()
    newest = await gcs().download(None, tmp_path / "cache")
    assert newest.name == "model-a.tar.gz"


async def test_missing_model_lists_what_is_there(tmp_path: Path) -> None:
    await gcs().upload(make_archive(tmp_path, "model-a"))
    with pytest.raises(ModelStorageError, match=r"Archives there: model-a\.tar\.gz") as info:
        await gcs().download("model-x", tmp_path / "cache")
    assert not info.value.retriable


async def test_server_errors_are_retriable(tmp_path: Path) -> None:
    FakeClient.fail = ServiceUnavailable("backend down")
    with pytest.raises(ModelStorageUnavailableError, match="ServiceUnavailable"):
        await gcs().download("model-a", tmp_path / "cache")


def test_prefix_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTE_STORAGE_PATH", "bots")
    assert gcs().settings.location == "gs://models/bots/"


def test_options_override(monkeypatch: pytest.MonkeyPatch) -> None:
    persistor = create_persistor("gcs", {"bucket_name": "other", "project": "p"})
    assert isinstance(persistor, GCSPersistor)
    assert persistor.settings.bucket_name == "other"
    assert persistor.settings.project == "p"
