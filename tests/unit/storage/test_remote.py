"""The persistor registry, naming rules and remote-storage selection."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from palaver.errors import ConfigError
from palaver.storage.remote import (
    PERSISTORS,
    Persistor,
    archive_file_name,
    create_persistor,
    newest,
    remote_storage_options,
    storage_prefix,
)


class CustomPersistor:
    """Satisfies Persistor; built with from_config."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CustomPersistor:
        return cls(**config)

    async def download(self, model_name: str | None, target_dir: Path) -> Path:
        return target_dir / (model_name or "newest.tar.gz")

    async def upload(self, archive: Path) -> None:
        pass


class NotAPersistor:
    def __init__(self, **options: Any) -> None:
        pass


def test_registry_names() -> None:
    assert PERSISTORS.names == ["aws", "azure", "gcs"]


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        create_persistor("dropbox")
    message = str(info.value)
    assert "Unknown remote storage type 'dropbox'" in message
    assert "aws, azure, gcs, or a dotted path to a custom class" in message


@pytest.mark.parametrize("name", ["", "  "])
def test_empty_name_is_an_error(name: str) -> None:
    with pytest.raises(ConfigError, match="Valid values: aws, azure, gcs"):
        create_persistor(name)


@pytest.mark.parametrize(
    ("name", "package", "modules"),
    [
        ("gcs", "google-cloud-storage", ["google.cloud.storage", "google.cloud", "google"]),
        ("azure", "azure-storage-blob", ["azure.storage.blob.aio", "azure.storage.blob"]),
    ],
)
def test_missing_optional_package_is_named(
    name: str, package: str, modules: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    with pytest.raises(ConfigError) as info:
        create_persistor(name)
    assert f"Remote storage '{name}' needs the '{package}' package" in str(info.value)
    assert f"pip install {package}" in str(info.value)


def test_missing_aioboto3_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "palaver.storage.s3", None)
    monkeypatch.setitem(sys.modules, "aioboto3", None)
    with pytest.raises(ConfigError, match=r"'aws' needs the 'aioboto3' package.*palaver\[aws\]"):
        create_persistor("aws")


def test_custom_class_by_dotted_path() -> None:
    persistor = create_persistor(f"{__name__}.CustomPersistor", {"root": "/models"})
    assert isinstance(persistor, CustomPersistor)
    assert isinstance(persistor, Persistor)
    assert persistor.root == Path("/models")


def test_custom_class_must_implement_persistor() -> None:
    with pytest.raises(ConfigError, match="does not implement the remote storage interface"):
        create_persistor(f"{__name__}.NotAPersistor")


def test_custom_class_that_cannot_be_imported() -> None:
    with pytest.raises(ConfigError, match="Cannot import module 'no_such_pkg'"):
        create_persistor("no_such_pkg.Persistor")


def test_aws_without_bucket_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUCKET_NAME", raising=False)
    with pytest.raises(ConfigError, match="set the environment variable BUCKET_NAME"):
        create_persistor("aws")


def test_aws_unknown_option_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"model_storage \(aws\): unknown key\(s\) \['bukket'\]"):
        create_persistor("aws", {"bukket": "x"})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("model", "model.tar.gz"),
        ("model.tar.gz", "model.tar.gz"),
        ("models/20240101-brisk-dune.tar.gz", "20240101-brisk-dune.tar.gz"),
    ],
)
def test_archive_file_name(given: str, expected: str) -> None:
    assert archive_file_name(given) == expected


def test_archive_file_name_rejects_empty() -> None:
    with pytest.raises(ConfigError):
        archive_file_name("/")


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, ""), ("", ""), ("models", "models/"), ("/a/b/", "a/b/")],
)
def test_storage_prefix(given: str | None, expected: str) -> None:
    assert storage_prefix(given) == expected


def test_newest_ignores_other_files_and_breaks_ties_by_name() -> None:
    entries = [("a.tar.gz", 1.0), ("notes.txt", 9.0), ("c.tar.gz", 5.0), ("b.tar.gz", 5.0)]
    assert newest(entries) == "c.tar.gz"
    assert newest([("x.zip", 1.0)]) is None


def test_remote_storage_options() -> None:
    assert remote_storage_options(None, None) is None
    assert remote_storage_options("aws", None) == ("aws", {})
    assert remote_storage_options(None, {"type": "aws", "bucket_name": "b"}) == (
        "aws",
        {"bucket_name": "b"},
    )
    assert remote_storage_options("aws", {"bucket_name": "b"}) == ("aws", {"bucket_name": "b"})
    with pytest.raises(ConfigError, match="--remote-storage is 'aws' but model_storage"):
        remote_storage_options("aws", {"type": "gcs"})
