"""Azure Blob Storage as remote model storage (needs ``azure-storage-blob``).

Settings (``model_storage`` in endpoints.yml, else the environment, as Rasa):
``container`` (``AZURE_CONTAINER``), ``account_name`` (``AZURE_ACCOUNT_NAME``),
``account_key`` (``AZURE_ACCOUNT_KEY``), ``prefix`` (``REMOTE_STORAGE_PATH``)
and optionally ``account_url`` (e.g. an Azurite emulator). Uses the library's
asyncio client; file reads and writes happen in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from palaver.errors import ConfigError, ModelStorageError, ModelStorageUnavailableError
from palaver.storage.files import write_stream
from palaver.storage.remote import (
    archive_file_name,
    check_keys,
    config_text,
    missing_model_message,
    newest,
    storage_prefix,
)

logger = logging.getLogger(__name__)

_KEYS = frozenset({"container", "account_name", "account_key", "account_url", "prefix"})
_READ_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True, repr=False)
class AzurePersistorSettings:
    container: str
    account_name: str
    account_key: str | None = None
    account_url: str | None = None
    prefix: str = ""

    def __repr__(self) -> str:
        return (
            f"AzurePersistorSettings(container={self.container!r}, "
            f"account_name={self.account_name!r}, "
            f"account_key={'***' if self.account_key else None}, "
            f"account_url={self.account_url!r}, prefix={self.prefix!r})"
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        check_keys("azure", config, _KEYS)
        container = config_text(config, "container", "AZURE_CONTAINER")
        account = config_text(config, "account_name", "AZURE_ACCOUNT_NAME")
        missing = [
            env
            for env, value in (("AZURE_CONTAINER", container), ("AZURE_ACCOUNT_NAME", account))
            if not value
        ]
        if missing or container is None or account is None:
            raise ConfigError(
                f"Remote storage 'azure' needs {', '.join(missing)} in the environment "
                "(or container / account_name under model_storage in endpoints.yml)."
            )
        return cls(
            container=container,
            account_name=account,
            account_key=config_text(config, "account_key", "AZURE_ACCOUNT_KEY"),
            account_url=config_text(config, "account_url", None),
            prefix=storage_prefix(config_text(config, "prefix", "REMOTE_STORAGE_PATH")),
        )

    @property
    def url(self) -> str:
        return self.account_url or f"https://{self.account_name}.blob.core.windows.net/"

    @property
    def location(self) -> str:
        return f"azure://{self.account_name}/{self.container}/{self.prefix}"


def storage_error(exc: BaseException, action: str) -> ModelStorageError:
    """Connection failures and 5xx/429 answers are retriable; the rest is not."""
    status = getattr(exc, "status_code", None)
    message = f"{action}: {type(exc).__name__}: {exc}"
    transient_type = type(exc).__name__ in ("ServiceRequestError", "ServiceResponseError")
    if transient_type or isinstance(exc, ConnectionError | TimeoutError):
        return ModelStorageUnavailableError(message)
    if isinstance(status, int) and (status >= 500 or status == 429):
        return ModelStorageUnavailableError(message)
    return ModelStorageError(message)


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, _READ_CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


class AzurePersistor:
    """Models as blobs ``<prefix><archive name>`` in one container."""

    def __init__(self, settings: AzurePersistorSettings) -> None:
        from azure.storage.blob.aio import BlobServiceClient

        self.settings = settings
        self._client_class: Any = BlobServiceClient

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Raises ImportError without azure-storage-blob (the registry names the package)."""
        from azure.storage.blob.aio import BlobServiceClient  # noqa: F401 - package first

        return cls(AzurePersistorSettings.from_config(config))

    def _service(self) -> Any:
        return self._client_class(
            account_url=self.settings.url, credential=self.settings.account_key
        )

    async def download(self, model_name: str | None, target_dir: Path) -> Path:
        s = self.settings
        try:
            async with self._service() as service:
                container = service.get_container_client(s.container)
                if model_name:
                    name = archive_file_name(model_name)
                else:
                    found = newest(list((await self._archives(container)).items()))
                    if found is None:
                        raise ModelStorageError(f"No model archive found in {s.location}.")
                    name = found
                blob = container.get_blob_client(s.prefix + name)
                if not await blob.exists():
                    available = list(await self._archives(container))
                    raise ModelStorageError(missing_model_message(s.location, name, available))
                downloader = await blob.download_blob()
                target = target_dir / name
                await write_stream(downloader.chunks(), target)
        except ModelStorageError:
            raise
        except Exception as exc:
            raise storage_error(exc, f"download from {s.location} failed") from exc
        logger.info("downloaded %s%s", s.location, name)
        return target

    async def _archives(self, container: Any) -> dict[str, float]:
        prefix = self.settings.prefix
        found: dict[str, float] = {}
        async for blob in container.list_blobs(name_starts_with=prefix):
            name = str(blob.name)[len(prefix) :]
            if "/" not in name:
                found[name] = blob.last_modified.timestamp() if blob.last_modified else 0.0
        return found

    async def upload(self, archive: Path) -> None:
        s = self.settings
        try:
            async with self._service() as service:
                container = service.get_container_client(s.container)
                if not await container.exists():
                    await container.create_container()
                    logger.info("created container %s", s.container)
                blob = container.get_blob_client(s.prefix + archive.name)
                await blob.upload_blob(_read_file(archive), overwrite=True)
        except Exception as exc:
            raise storage_error(exc, f"upload to {s.location} failed") from exc
        logger.info("uploaded %s to %s", archive.name, s.location)
