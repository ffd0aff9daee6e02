"""Test helpers for model storage: small fake archives and a fake model loader."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from palaver.core.model import LoadedModel
from palaver.errors import ModelError
from palaver.policies.ensemble import PolicyEnsemble
from palaver.storage.archive import ModelMetadata, pack, read_metadata, unpack


def make_archive(directory: Path, model_id: str, fingerprint: str | None = None) -> Path:
    """A valid archive (metadata + a domain file) named ``<model_id>.tar.gz``."""
    source = directory / f"src-{model_id}"
    source.mkdir(parents=True, exist_ok=True)
    (source / "domain.yml").write_text(f"# {model_id}\n", encoding="utf-8")
    metadata = ModelMetadata(
        fingerprint=fingerprint or f"fp-{model_id}", model_id=model_id, trained_at=time.time()
    )
    return pack(source, metadata, directory / f"{model_id}.tar.gz")


def listing(directory: Path) -> list[str]:
    """File names in ``directory`` (sync, so async tests need not touch the disk)."""
    return sorted(p.name for p in directory.iterdir())


def make_corrupt_archive(directory: Path, name: str = "corrupt") -> Path:
    path = directory / f"{name}.tar.gz"
    path.write_bytes(b"\x1f\x8b this is not a gzip stream at all" * 10)
    return path


def fake_load_model(archive: Path) -> LoadedModel:
    """``load_model`` without NLU/policies: validates the archive, keeps the metadata."""
    metadata = read_metadata(archive)
    workdir = unpack(archive)
    try:
        if not (workdir / "domain.yml").exists():
            raise ModelError(f"'{archive}' has no domain.yml.")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    # An ensemble without policies: the runtime sizes its replay cache on every swap.
    return LoadedModel(
        metadata=metadata, domain=None, nlu=None, policies=PolicyEnsemble([]), archive=archive
    )


class FakeTarget:
    """What the poller needs from the runtime, recording every load."""

    def __init__(self) -> None:
        self.not_ready_reason = "starting"
        self.model_or_none: LoadedModel | None = None
        self.loads: list[tuple[str, str, str | None]] = []

    async def load_model_file(
        self, path: str | Path, source: str, origin: str | None = None
    ) -> LoadedModel:
        model = await asyncio.to_thread(fake_load_model, Path(path))
        self.model_or_none = model
        self.loads.append((model.metadata.model_id, source, origin))
        return model
