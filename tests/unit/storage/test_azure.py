"""The Azure persistor against an in-memory fake of ``azure.storage.blob.aio``."""

from __future__ import annotations

import sys
import types
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from palaver.errors import ConfigError, ModelStorageError, ModelStorageUnavailableError
from palaver.storage.azure import AzurePersistor
from palaver.storage.remote import create_persistor
from tests.unit.storage.helpers import make_archive

Containers = dict[str, dict[str, tuple[bytes, datetime]]]


class ServiceRequestError(Exception):
    """Named like azure.core's connection failure."""


class FakeDownloader:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), 7):
            yield self._data[start : start + 7]


class FakeBlobClient:
    def __init__(self, objects: dict[str, tuple[bytes, datetime]], name: str) -> None:
        self._objects = objects
        self.name = name

    async def exists(self) -> bool:
        return self.name in self._objects

    async def download_blob(self) -> FakeDownloader:
        return FakeDownloader(self._objects[self.name][0])

    async def upload_blob(self, data: AsyncIterable[bytes], overwrite: bool) -> None:
        assert overwrite
        body = b"".join([chunk async for chunk in data])
        stamp = datetime.now(UTC) + timedelta(seconds=len(self._objects))
        self._objects[self.name] = (body, stamp)


class FakeBlobProperties:
    def __init__(self, name: str, last_modified: datetime) -> None:
        self.name = name
        self.last_modified = last_modified


class FakeContainerClient:
    def __init__(self, containers: Containers, name: str) -> None:
        self._containers = containers
        self._name = name

    async def exists(self) -> bool:
        return self._name in self._containers

    async def create_container(self) -> None:
        self._containers[self._name] = {}

    def get_blob_client(self, name: str) -> FakeBlobClient:
        return FakeBlobClient(self._containers.setdefault(self._name, {}), name)

    async def list_blobs(self, name_starts_with: str) -> AsyncIterator[FakeBlobProperties]:
        for name, (_, stamp) in self._containers.get(self._name, {}).items():
            if name.startswith(name_starts_with):
                yield FakeBlobProperties(name, stamp)


class FakeService:
    containers: Containers = {}
    fail: BaseException | None = None
    created_with: dict[str, Any] = {}

    def __init__(self, account_url: str, credential: str | None) -> None:
        FakeService.created_with = {"account_url": account_url, "credential": credential}

    async def __aenter__(self) -> FakeService:
        if FakeService.fail is not None:
            raise FakeService.fail
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    def get_container_client(self, name: str) -> FakeContainerClient:
        return FakeContainerClient(self.containers, name)


@pytest.fixture(autouse=True)
def fake_azure(monkeypatch: pytest.MonkeyPatch) -> Containers:
    aio = types.ModuleType("azure.storage.blob.aio")
    aio.BlobServiceClient = FakeService  # type: ignore[attr-defined]
    blob = types.ModuleType("azure.storage.blob")
    blob.aio = aio  # type: ignore[attr-defined]
    storage = types.ModuleType("azure.storage")
    storage.blob = blob  # type: ignore[attr-defined]
    azure = types.ModuleType("azure")
    azure.storage = storage  # type: ignore[attr-defined]
    for name, module in (
        ("azure", azure),
        ("azure.storage", storage),
        ("azure.storage.blob", blob),
        ("azure.storage.blob.aio", aio),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("AZURE_CONTAINER", "models")
    monkeypatch.setenv("AZURE_ACCOUNT_NAME", "acct")
    monkeypatch.setenv("AZURE_ACCOUNT_KEY", "secret-key")
    monkeypatch.delenv("REMOTE_STORAGE_PATH", raising=False)
    FakeService.containers = {}
    FakeService.fail = None
    return FakeService.containers


def azure() -> AzurePersistor:
    persistor = create_persistor("azure")
    assert isinstance(persistor, AzurePersistor)
    return persistor


def test_settings_name_missing_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_CONTAINER")
    monkeypatch.delenv("AZURE_ACCOUNT_NAME")
    with pytest.raises(ConfigError, match="needs AZURE_CONTAINER, AZURE_ACCOUNT_NAME"):
        create_persistor("azure")


def test_key_is_masked_in_repr() -> None:
    assert "secret-key" not in repr(azure().settings)
    assert "***" in repr(azure().settings)


async def test_upload_creates_container_then_download(
    fake_azure: Containers, tmp_path: Path
) -> None:
    await azure().upload(make_archive(tmp_path, "model-a"))
    await azure().upload(make_archive(tmp_path, "model-b"))
    assert sorted(fake_azure["models"]) == ["model-a.tar.gz", "model-b.tar.gz"]
    assert FakeService.created_with == {
        "account_url": "https://acct.blob.core.windows.net/",
        "credential": "secret-key",
    }

    by_name = await azure().download("model-a", tmp_path / "cache")
    assert by_name.read_bytes() == (tmp_path / "model-a.tar.gz").read_bytes()
    newest = await azure().download(None, tmp_path / "cache")
    assert newest.name == "model-b.tar.gz"


async def test_missing_model_lists_what_is_there(tmp_path: Path) -> None:
    await azure().upload(make_archive(tmp_path, "model-a"))
    with pytest.raises(ModelStorageError, match=r"Archives there: model-a\.tar\.gz") as info:
        await azure().download("model-x", tmp_path / "cache")
    assert not info.value.retriable


async def test_connection_failures_are_retriable(tmp_path: Path) -> None:
    FakeService.fail = ServiceRequestError("cannot connect")
    with pytest.raises(ModelStorageUnavailableError, match="cannot connect"):
        await azure().download("model-a", tmp_path / "cache")
