"""Unpacking model archives: only files and directories inside the target, on every 3.11.

Python 3.11.0-3.11.3 (Debian 12's system Python is 3.11.2) have no tar extraction
filters; each case runs with the interpreter's filter and with it removed.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from palaver.errors import ModelError
from palaver.storage.archive import METADATA_FILE, unpack


@pytest.fixture(params=["data filter", "no filters (3.11.0-3.11.3)"])
def filters(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param != "data filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tar extraction filters")
    return str(request.param)


def _file(tar: tarfile.TarFile, name: str, data: bytes = b"{}") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _archive(path: Path, add: Callable[[tarfile.TarFile], None]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        _file(tar, METADATA_FILE)
        add(tar)
    return path


def _link(name: str, target: str, kind: bytes) -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = target
        tar.addfile(info)

    return add


def test_a_model_archive_unpacks(tmp_path: Path, filters: str) -> None:
    def add(tar: tarfile.TarFile) -> None:
        folder = tarfile.TarInfo("core")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        _file(tar, "core/policies.pkl", b"x" * 10)

    archive = _archive(tmp_path / "model.tar.gz", add)
    target = unpack(archive, tmp_path / "out")
    assert (target / METADATA_FILE).read_bytes() == b"{}"
    assert (target / "core" / "policies.pkl").read_bytes() == b"x" * 10


@pytest.mark.parametrize(
    ("add", "problem"),
    [
        (lambda tar: _file(tar, "/tmp/palaver-evil"), "outside the model directory"),
        (lambda tar: _file(tar, "../evil"), "outside the model directory"),
        (lambda tar: _file(tar, "core/../../evil"), "outside the model directory"),
        (_link("evil", "/etc/passwd", tarfile.SYMTYPE), "not a regular file or directory"),
        (_link("evil", "../x", tarfile.SYMTYPE), "not a regular file or directory"),
        (_link("evil", METADATA_FILE, tarfile.LNKTYPE), "not a regular file or directory"),
        (_link("evil", "", tarfile.FIFOTYPE), "not a regular file or directory"),
    ],
    ids=["absolute", "dotdot", "nested-dotdot", "symlink-out", "symlink-up", "hardlink", "fifo"],
)
def test_unsafe_members_are_refused_and_nothing_is_written(
    tmp_path: Path, filters: str, add: Callable[[tarfile.TarFile], None], problem: str
) -> None:
    archive = _archive(tmp_path / "model.tar.gz", add)
    target = tmp_path / "deep" / "out"
    target.mkdir(parents=True)
    with pytest.raises(ModelError, match=problem):
        unpack(archive, target)
    assert not target.exists()  # removed with whatever it held
    assert not (tmp_path / "deep" / "evil").exists()
    assert not (tmp_path / "evil").exists()
    assert not Path("/tmp/palaver-evil").exists()
