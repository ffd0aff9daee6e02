"""The model archive: one ``.tar.gz`` holding a trained model.

Layout inside the archive::

    metadata.json   palaver version, fingerprint, model id, training time, assistant id
    domain.yml      the domain the model was trained with
    nlu/            the persisted NLU pipeline
    core/           the persisted policy ensemble

Packing and unpacking are blocking (tarfile, gzip): call them from a worker
thread (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from palaver import __version__
from palaver.errors import ModelError

METADATA_FILE = "metadata.json"
ARCHIVE_SUFFIX = ".tar.gz"
# Archives larger than this are refused when unpacking (defence against a
# tar bomb from a misconfigured model server).
MAX_UNPACKED_BYTES = 2 * 1024**3

_ADJECTIVES = (
    "amber",
    "brisk",
    "calm",
    "dapper",
    "eager",
    "fuzzy",
    "gentle",
    "hazy",
    "ivory",
    "jolly",
    "keen",
    "lucid",
    "mellow",
    "nimble",
    "olive",
    "plucky",
    "quiet",
    "rapid",
    "sunny",
    "tidy",
)
_NOUNS = (
    "anchor",
    "badger",
    "canyon",
    "dune",
    "ember",
    "fjord",
    "grove",
    "harbor",
    "island",
    "juniper",
    "kettle",
    "lagoon",
    "meadow",
    "nebula",
    "orchid",
    "pebble",
    "quarry",
    "river",
    "summit",
    "tundra",
)


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    fingerprint: str
    model_id: str
    trained_at: float
    palaver_version: str = __version__
    assistant_id: str | None = None
    language: str | None = None
    project_fingerprints: dict[str, str] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        try:
            return cls(
                fingerprint=str(data["fingerprint"]),
                model_id=str(data["model_id"]),
                trained_at=float(data["trained_at"]),
                palaver_version=str(data.get("palaver_version", "unknown")),
                assistant_id=data.get("assistant_id"),
                language=data.get("language"),
                project_fingerprints=data.get("project_fingerprints"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"Model metadata is incomplete or invalid: {exc}") from exc


def archive_name(fingerprint: str, trained_at: float | None = None) -> str:
    """``20261121-225102-brisk-ferry.tar.gz``-style name, stable per fingerprint."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(trained_at or time.time()))
    seed = int(fingerprint[:8], 16) if fingerprint[:8].isalnum() else 0
    return f"{stamp}-{_ADJECTIVES[seed % 20]}-{_NOUNS[(seed // 20) % 20]}{ARCHIVE_SUFFIX}"


def pack(model_dir: Path, metadata: ModelMetadata, out_file: Path) -> Path:
    """Write ``model_dir`` plus metadata into ``out_file`` atomically."""
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(out_file.name + ".partial")
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        payload = json.dumps(asdict(metadata), indent=2).encode()
        info = tarfile.TarInfo(METADATA_FILE)
        info.size = len(payload)
        info.mtime = int(metadata.trained_at)
        tar.addfile(info, io.BytesIO(payload))
        for path in sorted(model_dir.rglob("*")):
            if path.name == METADATA_FILE and path.parent == model_dir:
                continue
            tar.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    tmp.replace(out_file)
    return out_file


def read_metadata(archive: Path) -> ModelMetadata:
    """Read only the metadata of an archive (cheap: no full unpack)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(METADATA_FILE)
            if member is None:
                raise ModelError(f"'{archive}' has no {METADATA_FILE}: not a Palaver model.")
            return ModelMetadata.from_dict(json.loads(member.read()))
    except (tarfile.TarError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise ModelError(f"'{archive}' is not a readable Palaver model archive: {exc}") from exc


def _unsafe_member(members: list[tarfile.TarInfo], target: Path) -> str | None:
    """What is wrong with the first member that must not be unpacked, if any."""
    root = target.resolve()
    for member in members:
        if not (member.isfile() or member.isdir()):
            return f"member '{member.name}' is not a regular file or directory"
        # An absolute name resolves to itself, ``..`` above the root: both land outside.
        path = (root / member.name).resolve()
        if path != root and root not in path.parents:
            return f"member '{member.name}' would unpack outside the model directory"
    return None


def unpack(archive: Path, target: Path | None = None) -> Path:
    """Unpack into ``target`` (a new temp dir by default) and return it.

    Refuses members that are not regular files or directories (a model
    archive has no links or devices), absolute paths, ``..`` members and
    archives that would unpack to more than ``MAX_UNPACKED_BYTES``.
    """
    target = target or Path(tempfile.mkdtemp(prefix="palaver-model-"))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            if sum(m.size for m in members) > MAX_UNPACKED_BYTES:
                raise ModelError(f"'{archive}' unpacks to more than {MAX_UNPACKED_BYTES} bytes.")
            problem = _unsafe_member(members, target)
            if problem is not None:
                raise ModelError(f"'{archive}' is not a Palaver model archive: {problem}.")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(target, members=members, filter="data")
            else:
                # Python 3.11.0-3.11.3 (Debian 12's 3.11.2) have no extraction
                # filters; ``_unsafe_member`` has checked what "data" would.
                tar.extractall(target, members=members)
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ModelError(f"'{archive}' is not a readable model archive: {exc}") from exc
    except ModelError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    if not (target / METADATA_FILE).exists():
        shutil.rmtree(target, ignore_errors=True)
        raise ModelError(f"'{archive}' has no {METADATA_FILE}: not a Palaver model.")
    return target
