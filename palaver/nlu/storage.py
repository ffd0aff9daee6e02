"""Reading and writing a trained NLU pipeline.

Layout of the model directory::

    nlu.json                 manifest: format version, language, resolved
                             pipeline, versions, one file name per component
    00_WhitespaceTokenizer.joblib
    01_CountVectorsFeaturizer.joblib
    ...

Component files are joblib pickles: load models only from trusted sources.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib

import palaver
from palaver.errors import ModelError
from palaver.nlu.component import Component

logger = logging.getLogger(__name__)

MANIFEST = "nlu.json"
FORMAT = "palaver-nlu"
FORMAT_VERSION = 1


def persist(
    directory: Path,
    components: Sequence[Component],
    config: Sequence[dict[str, Any]],
    language: str,
) -> None:
    """Write ``components`` and a manifest into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for index, component in enumerate(components):
        file_name = f"{index:02d}_{component.name}.joblib"
        joblib.dump(component, directory / file_name)
        files.append({"name": component.name, "file": file_name})
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "palaver_version": palaver.__version__,
        "sklearn_version": _sklearn_version(),
        "language": language,
        "pipeline": list(config),
        "components": files,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")


def _sklearn_version() -> str | None:
    """The installed scikit-learn's version, read without importing it (~1 s saved)."""
    try:
        return importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        return None


def load(directory: Path) -> tuple[list[Component], list[dict[str, Any]], str]:
    """Components, resolved config and language of the model in ``directory``."""
    manifest = _manifest(directory)
    installed = _sklearn_version()
    if manifest.get("sklearn_version") != installed:
        logger.warning(
            "nlu.load.sklearn_version_mismatch trained=%s installed=%s",
            manifest.get("sklearn_version"),
            installed,
        )
    components: list[Component] = []
    for entry in manifest["components"]:
        path = directory / entry["file"]
        try:
            component = joblib.load(path)
        except (OSError, EOFError, ValueError, AttributeError, ImportError) as exc:
            raise ModelError(f"Cannot load NLU component file '{path}': {exc}") from exc
        if getattr(component, "name", None) != entry["name"]:
            raise ModelError(f"NLU component file '{path}' does not hold a {entry['name']}.")
        components.append(component)
    return components, list(manifest["pipeline"]), str(manifest["language"])


def _manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelError(f"No NLU model in '{directory}': '{MANIFEST}' is missing.") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"Cannot read NLU manifest '{path}': {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"'{path}' is not a Palaver NLU model of format version {FORMAT_VERSION} "
            f"(found {manifest.get('format')!r} version {manifest.get('format_version')!r})."
        )
    return manifest
