"""Remote model storage: the ``Persistor`` contract, its registry and the start-up task.

``--remote-storage`` names a persistor:

- ``aws``: Amazon S3 or an S3-compatible store (``palaver.storage.s3``, extra
  ``palaver[aws]``): ``BUCKET_NAME``, ``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``,
  credentials from botocore's usual chain;
- ``gcs``: Google Cloud Storage (``palaver.storage.gcs``, needs
  ``google-cloud-storage``): ``BUCKET_NAME``;
- ``azure``: Azure Blob Storage (``palaver.storage.azure``, needs
  ``azure-storage-blob``): ``AZURE_CONTAINER``, ``AZURE_ACCOUNT_NAME``,
  ``AZURE_ACCOUNT_KEY``;
- ``my_pkg.storage.MyPersistor``: a custom class built with
  ``from_config(mapping)`` (or ``cls(**mapping)``) that satisfies ``Persistor``.

Every persistor also honours ``REMOTE_STORAGE_PATH``, a key prefix inside the
bucket (as Rasa 3.7). Options may instead come from the ``model_storage``
section of endpoints.yml (``bucket_name``, ``prefix``, ...); the environment
fills in what it leaves out.

Which model: ``-m NAME`` downloads ``<prefix>/NAME`` (``.tar.gz`` is appended
when missing, and only the last path component is used, as Rasa does); without
``-m`` the newest archive (latest modification time) directly under the prefix
is used. The archive is downloaded into the model cache
(``PALAVER_MODEL_CACHE_DIR``), then loaded like a local file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from palaver.config import env_value
from palaver.errors import ConfigError, ModelError, ModelStorageUnavailableError
from palaver.registry import Registry
from palaver.storage.archive import ARCHIVE_SUFFIX
from palaver.storage.backoff import Backoff
from palaver.storage.files import model_cache_dir

if TYPE_CHECKING:
    from palaver.core.model import LoadedModel
    from palaver.server.runtime import Runtime

logger = logging.getLogger(__name__)

SOURCE = "remote_storage"
SECTION = "model_storage"
PREFIX_ENV = "REMOTE_STORAGE_PATH"


@runtime_checkable
class Persistor(Protocol):
    """A place trained models are pushed to and pulled from."""

    async def download(self, model_name: str | None, target_dir: Path) -> Path:
        """Download ``model_name`` (the newest archive if None) into ``target_dir``.

        Returns the local archive; it appears there only once complete.

        Raises:
            ModelStorageUnavailableError: the storage cannot be reached (retry later).
            ModelStorageError: no such model or bucket, access denied, ...
        """
        ...

    async def upload(self, archive: Path) -> None:
        """Upload ``archive`` under its file name (below the prefix).

        Raises:
            ModelStorageError: the upload failed.
        """
        ...


# ---------------------------------------------------------------- helpers
def archive_file_name(model_name: str) -> str:
    """``-m`` value -> the archive's name in the bucket (last component, with suffix)."""
    name = PurePosixPath(model_name.replace("\\", "/")).name
    if not name:
        raise ConfigError(f"'{model_name}' is not a model name.")
    return name if name.endswith(ARCHIVE_SUFFIX) else name + ARCHIVE_SUFFIX


def storage_prefix(configured: str | None) -> str:
    """``REMOTE_STORAGE_PATH`` -> a key prefix: ``""`` or ``"path/"``."""
    cleaned = (configured or "").strip().strip("/")
    return f"{cleaned}/" if cleaned else ""


def newest(entries: list[tuple[str, float]]) -> str | None:
    """The name with the latest timestamp among archives (ties: the greatest name)."""
    archives = [(stamp, name) for name, stamp in entries if name.endswith(ARCHIVE_SUFFIX)]
    return max(archives)[1] if archives else None


def check_keys(storage: str, config: Mapping[str, Any], valid: frozenset[str]) -> None:
    """A ``model_storage`` option this persistor does not know is an error naming it."""
    unknown = sorted(set(config) - valid)
    if unknown:
        raise ConfigError(
            f"{SECTION} ({storage}): unknown key(s) {unknown}. Valid keys: {sorted(valid)}."
        )


def config_text(config: Mapping[str, Any], key: str, env: str | None) -> str | None:
    """Option ``key`` from endpoints.yml, else the environment variable ``env``."""
    value = config.get(key)
    if value is None:
        return (env_value(env) or None) if env else None
    if not isinstance(value, str):
        raise ConfigError(f"{SECTION}: '{key}' has value {value!r}. Not a string.")
    return value or None


def missing_model_message(where: str, name: str, available: list[str]) -> str:
    shown = ", ".join(sorted(available)[-10:]) or "none"
    return f"Model '{name}' not found in {where}. Archives there: {shown}."


# --------------------------------------------------------------- registry
def _missing_package(name: str, package: str, install: str, exc: ImportError) -> ConfigError:
    return ConfigError(
        f"Remote storage '{name}' needs the '{package}' package, which is not installed: "
        f"pip install {install} ({exc})."
    )


def _aws(config: Mapping[str, Any]) -> Persistor:
    try:
        from palaver.storage.s3 import S3Persistor
    except ImportError as exc:
        raise _missing_package("aws", "aioboto3", "'palaver[aws]'", exc) from exc
    return S3Persistor.from_config(config)


def _gcs(config: Mapping[str, Any]) -> Persistor:
    from palaver.storage.gcs import GCSPersistor

    try:
        return GCSPersistor.from_config(config)
    except ImportError as exc:
        raise _missing_package("gcs", "google-cloud-storage", "google-cloud-storage", exc) from exc


def _azure(config: Mapping[str, Any]) -> Persistor:
    from palaver.storage.azure import AzurePersistor

    try:
        return AzurePersistor.from_config(config)
    except ImportError as exc:
        raise _missing_package("azure", "azure-storage-blob", "azure-storage-blob", exc) from exc


def _is_persistor(obj: object) -> bool:
    return isinstance(obj, Persistor)


PERSISTORS: Registry[Persistor] = Registry(
    "remote storage", {"aws": _aws, "gcs": _gcs, "azure": _azure}, check=_is_persistor
)


def create_persistor(name: str, config: Mapping[str, Any] | None = None) -> Persistor:
    """Build the persistor ``name`` (``aws``, ``gcs``, ``azure`` or a dotted class path).

    Args:
        name: the ``--remote-storage`` value.
        config: options (the ``model_storage`` section without ``type``); the
            environment supplies whatever is missing.

    Raises:
        ConfigError: unknown name (the message lists the valid ones), a missing
            optional package (named), or missing settings such as the bucket.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"--remote-storage has value {name!r}. Valid values: "
            f"{', '.join(PERSISTORS.names)}, or a dotted path to a custom class."
        )
    return PERSISTORS.create(name.strip(), dict(config or {}))


def remote_storage_options(
    flag: str | None, section: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any]] | None:
    """Which persistor to use: ``--remote-storage`` and/or ``model_storage`` in endpoints.yml."""
    options = dict(section or {})
    configured = options.pop("type", None)
    if configured is not None and not isinstance(configured, str):
        raise ConfigError(f"{SECTION}: 'type' has value {configured!r}. Not a valid type name.")
    if flag and configured and flag.strip().lower() != configured.strip().lower():
        raise ConfigError(
            f"--remote-storage is '{flag}' but {SECTION} in endpoints.yml has type "
            f"'{configured}'; use one of them."
        )
    name = flag or configured
    return (name, options) if name else None


# ---------------------------------------------------------------- loading
async def load_from_persistor(
    runtime: Runtime, persistor: Persistor, storage: str, model_name: str | None
) -> LoadedModel:
    """Download ``model_name`` (or the newest) into the cache and swap it in."""
    archive = await persistor.download(model_name, model_cache_dir() / "remote")
    return await runtime.load_model_file(archive, source=SOURCE, origin=f"{storage}:{archive.name}")


def remote_model_task(runtime: Runtime) -> Callable[[], Awaitable[None]]:
    """The start-up task that loads the model from remote storage.

    The persistor is built now, so configuration errors stop the start-up.
    The download is retried (backoff up to a minute) while the storage is
    unreachable; other failures (no such model, a corrupt archive) leave the
    server not ready with the reason in ``/ready``.
    """
    chosen = remote_storage_options(
        runtime.settings.remote_storage, runtime.endpoints.model_storage
    )
    if chosen is None:
        raise ConfigError("No remote storage configured (--remote-storage or model_storage).")
    storage, options = chosen
    persistor = create_persistor(storage, options)
    model_name = runtime.settings.model
    if model_name:
        archive_file_name(model_name)  # an unusable -m fails the start-up, not the task

    async def run() -> None:
        backoff = Backoff()
        wanted = f"model '{model_name}'" if model_name else "the newest model"
        while True:
            try:
                await load_from_persistor(runtime, persistor, storage, model_name)
                return
            except ModelStorageUnavailableError as exc:
                delay = backoff.next_delay()
                runtime.not_ready_reason = f"waiting for {wanted} from {storage}: {exc}"
                logger.warning("remote storage %s: %s; next attempt in %.1fs", storage, exc, delay)
                await asyncio.sleep(delay)
            except ModelError as exc:
                runtime.not_ready_reason = f"could not load {wanted} from {storage}: {exc}"
                logger.error("remote storage %s: could not load %s: %s", storage, wanted, exc)
                return

    return run
