"""Local model storage: a model file, or the newest archive in a directory."""

from __future__ import annotations

from pathlib import Path

from palaver.errors import ModelError
from palaver.storage.archive import ARCHIVE_SUFFIX

DEFAULT_MODELS_DIR = "models"


def find_archives(directory: Path) -> list[Path]:
    """Archives in ``directory``, oldest first (by modification time, then name)."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_file() and p.name.endswith(ARCHIVE_SUFFIX)]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def resolve_model_path(model: str | Path | None) -> Path:
    """``-m`` semantics: a file is used as is, a directory gives its newest archive."""
    path = Path(model) if model else Path(DEFAULT_MODELS_DIR)
    if path.is_file():
        return path
    if path.is_dir():
        archives = find_archives(path)
        if not archives:
            raise ModelError(f"No model archive (*{ARCHIVE_SUFFIX}) found in '{path}'.")
        return archives[-1]
    raise ModelError(f"Model path '{path}' does not exist.")
