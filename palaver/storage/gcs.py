"""Google Cloud Storage as remote model storage (needs ``google-cloud-storage``).

Settings: ``bucket_name`` and ``prefix`` under ``model_storage`` in
endpoints.yml, else ``BUCKET_NAME`` and ``REMOTE_STORAGE_PATH``; credentials
from Google's application-default chain. The client library is blocking, so
every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from palaver.errors import ConfigError, ModelStorageError, ModelStorageUnavailableError
from palaver.storage.remote import (
    archive_file_name,
    check_keys,
    config_text,
    missing_model_message,
    newest,
    storage_prefix,
)

logger = logging.getLogger(__name__)

_KEYS = frozenset({"bucket_name", "prefix", "project"})


@dataclass(frozen=True, slots=True)
class GCSPersistorSettings:
    bucket_name: str
    prefix: str = ""
    project: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        check_keys("gcs", config, _KEYS)
        bucket = config_text(config, "bucket_name", "BUCKET_NAME")
        if not bucket:
            raise ConfigError(
                "Remote storage 'gcs' needs a bucket: set the environment variable "
                "BUCKET_NAME (or 'bucket_name' under model_storage in endpoints.yml)."
            )
        return cls(
            bucket_name=bucket,
            prefix=storage_prefix(config_text(config, "prefix", "REMOTE_STORAGE_PATH")),
            project=config_text(config, "project", None),
        )

    @property
    def location(self) -> str:
        return f"gs://{self.bucket_name}/{self.prefix}"


def storage_error(exc: BaseException, action: str) -> ModelStorageError:
    """Server errors (5xx, 429) and connection failures are retriable; the rest is not."""
    code = getattr(exc, "code", None)
    message = f"{action}: {type(exc).__name__}: {exc}"
    if isinstance(code, int) and (code >= 500 or code == 429):
        return ModelStorageUnavailableError(message)
    if isinstance(exc, ConnectionError | TimeoutError) or "ConnectionError" in type(exc).__name__:
        return ModelStorageUnavailableError(message)
    return ModelStorageError(message)


class GCSPersistor:
    """Models as blobs ``<prefix><archive name>`` in one bucket."""

    def __init__(self, settings: GCSPersistorSettings) -> None:
        from google.cloud import storage

        self.settings = settings
        self._storage: Any = storage
        self._client: Any = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Raises ImportError without google-cloud-storage (the registry names the package)."""
        from google.cloud import storage  # noqa: F401 - fail on the missing package first

        return cls(GCSPersistorSettings.from_config(config))

    def _get_client(self) -> Any:
        # Blocking (credential discovery): only ever called in a worker thread.
        if self._client is None:
            self._client = self._storage.Client(project=self.settings.project)
        return self._client

    async def download(self, model_name: str | None, target_dir: Path) -> Path:
        try:
            return await asyncio.to_thread(self._download, model_name, target_dir)
        except ModelStorageError:
            raise
        except Exception as exc:
            raise storage_error(exc, f"download from {self.settings.location} failed") from exc

    def _archives(self) -> dict[str, float]:
        s = self.settings
        blobs = self._get_client().list_blobs(s.bucket_name, prefix=s.prefix, delimiter="/")
        return {
            str(blob.name)[len(s.prefix) :]: blob.updated.timestamp() if blob.updated else 0.0
            for blob in blobs
        }

    def _download(self, model_name: str | None, target_dir: Path) -> Path:
        s = self.settings
        if model_name:
            name = archive_file_name(model_name)
        else:
            found = newest(list(self._archives().items()))
            if found is None:
                raise ModelStorageError(f"No model archive found in {s.location}.")
            name = found
        blob = self._get_client().bucket(s.bucket_name).blob(s.prefix + name)
        if not blob.exists():
            raise ModelStorageError(missing_model_message(s.location, name, list(self._archives())))
        target_dir.mkdir(parents=True, exist_ok=True)
        partial = target_dir / f".{name}.{uuid.uuid4().hex[:12]}.partial"
        try:
            blob.download_to_filename(str(partial))
            target = target_dir / name
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        logger.info("downloaded %s%s", s.location, name)
        return target

    async def upload(self, archive: Path) -> None:
        try:
            await asyncio.to_thread(self._upload, archive)
        except Exception as exc:
            raise storage_error(exc, f"upload to {self.settings.location} failed") from exc

    def _upload(self, archive: Path) -> None:
        s = self.settings
        client = self._get_client()
        bucket = client.lookup_bucket(s.bucket_name)
        if bucket is None:
            bucket = client.create_bucket(s.bucket_name)
            logger.info("created bucket %s", s.bucket_name)
        bucket.blob(s.prefix + archive.name).upload_from_filename(str(archive))
        logger.info("uploaded %s to %s", archive.name, s.location)
