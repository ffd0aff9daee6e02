"""Streaming downloads to disk: atomic, bounded, nothing left behind on failure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from palaver.errors import ModelStorageError
from palaver.storage import files
from palaver.storage.files import model_cache_dir, write_stream
from tests.unit.storage.helpers import listing


async def chunks(*parts: bytes, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for index, part in enumerate(parts):
        if fail_after is not None and index == fail_after:
            raise ConnectionResetError("peer went away")
        yield part


async def test_writes_all_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "WRITE_BUFFER_BYTES", 4)  # several thread writes
    target = tmp_path / "sub" / "model.tar.gz"
    assert await write_stream(chunks(b"abc", b"defgh", b"ij"), target) == 10
    assert target.read_bytes() == b"abcdefghij"
    assert listing(target.parent) == ["model.tar.gz"]


async def test_failed_stream_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "model.tar.gz"
    with pytest.raises(ConnectionResetError):
        await write_stream(chunks(b"abc", b"def", fail_after=1), target)
    assert listing(tmp_path) == []


async def test_failed_stream_keeps_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "model.tar.gz"
    target.write_bytes(b"old")
    with pytest.raises(ConnectionResetError):
        await write_stream(chunks(b"new", b"er", fail_after=1), target)
    assert target.read_bytes() == b"old"


async def test_too_large_download_is_aborted(tmp_path: Path) -> None:
    target = tmp_path / "model.tar.gz"
    with pytest.raises(ModelStorageError, match="exceeds 5 bytes"):
        await write_stream(chunks(b"abc", b"def"), target, max_bytes=5)
    assert listing(tmp_path) == []


def test_cache_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PALAVER_MODEL_CACHE_DIR", str(tmp_path))
    assert model_cache_dir() == tmp_path
    monkeypatch.delenv("PALAVER_MODEL_CACHE_DIR")
    assert model_cache_dir().name == "palaver-model-cache"
