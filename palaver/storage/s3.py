"""Amazon S3 (or any S3-compatible store) as remote model storage, via aioboto3.

Settings come from the ``model_storage`` section of endpoints.yml when given,
otherwise from the environment, as in Rasa: ``BUCKET_NAME``,
``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION`` and ``REMOTE_STORAGE_PATH``.
Credentials follow botocore's chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, a profile, an instance role).

Downloads stream the object into the model cache (see
``palaver.storage.files``); uploads use aioboto3's managed (multipart)
transfer, which reads the file in worker threads. The bucket is created on
upload if it does not exist (as Rasa does).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Self

import aioboto3
import aiohttp
import botocore.exceptions as boto_errors
from botocore.config import Config as BotoConfig

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

_KEYS = frozenset(
    {"bucket_name", "endpoint_url", "region", "prefix", "connect_timeout", "read_timeout"}
)
CHUNK_BYTES = 256 * 1024
_UNAVAILABLE_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    boto_errors.EndpointConnectionError,
    boto_errors.ConnectionError,
    boto_errors.HTTPClientError,
    boto_errors.IncompleteReadError,
    boto_errors.ReadTimeoutError,
    aiohttp.ClientError,
    TimeoutError,
)


def _timeout(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"model_storage: '{key}' has value {value!r}. Not a positive number.")
    return float(value)


@dataclass(frozen=True, slots=True)
class S3PersistorSettings:
    """Where models live in S3.

    Attributes:
        bucket_name: the bucket (``BUCKET_NAME``).
        endpoint_url: a non-AWS endpoint such as MinIO or moto (``AWS_ENDPOINT_URL``).
        region: the region (``AWS_DEFAULT_REGION``).
        prefix: key prefix, ``""`` or ``"path/"`` (``REMOTE_STORAGE_PATH``).
    """

    bucket_name: str
    endpoint_url: str | None = None
    region: str | None = None
    prefix: str = ""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        check_keys("aws", config, _KEYS)
        bucket = config_text(config, "bucket_name", "BUCKET_NAME")
        if not bucket:
            raise ConfigError(
                "Remote storage 'aws' needs a bucket: set the environment variable "
                "BUCKET_NAME (or 'bucket_name' under model_storage in endpoints.yml)."
            )
        return cls(
            bucket_name=bucket,
            endpoint_url=config_text(config, "endpoint_url", "AWS_ENDPOINT_URL"),
            region=config_text(config, "region", "AWS_DEFAULT_REGION"),
            prefix=storage_prefix(config_text(config, "prefix", "REMOTE_STORAGE_PATH")),
            connect_timeout=_timeout(config, "connect_timeout", 10.0),
            read_timeout=_timeout(config, "read_timeout", 60.0),
        )

    @property
    def location(self) -> str:
        return f"s3://{self.bucket_name}/{self.prefix}"


def _error_code(exc: boto_errors.ClientError) -> tuple[str, int]:
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    return str(error.get("Code", "")), int(meta.get("HTTPStatusCode", 0) or 0)


def storage_error(exc: BaseException, action: str) -> ModelStorageError:
    """Map a botocore/aiohttp failure to Palaver's error (retriable when transient)."""
    if isinstance(exc, boto_errors.ClientError):
        code, status = _error_code(exc)
        message = f"{action}: {code or 'error'} (HTTP {status})"
        if code in _UNAVAILABLE_CODES or status >= 500:
            return ModelStorageUnavailableError(message)
        return ModelStorageError(message)
    if isinstance(exc, _CONNECTION_ERRORS):
        return ModelStorageUnavailableError(f"{action}: {type(exc).__name__}: {exc}")
    return ModelStorageError(f"{action}: {type(exc).__name__}: {exc}")


class S3Persistor:
    """Models as objects ``<prefix><archive name>`` in one bucket."""

    def __init__(self, settings: S3PersistorSettings) -> None:
        self.settings = settings
        self._session = aioboto3.Session()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        return cls(S3PersistorSettings.from_config(config))

    def _client(self) -> Any:
        s = self.settings
        return self._session.client(
            "s3",
            endpoint_url=s.endpoint_url,
            region_name=s.region,
            config=BotoConfig(
                connect_timeout=s.connect_timeout,
                read_timeout=s.read_timeout,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    async def download(self, model_name: str | None, target_dir: Path) -> Path:
        """Stream ``model_name`` (or the newest archive) into ``target_dir``."""
        s = self.settings
        try:
            async with self._client() as s3:
                key = await self._key_for(s3, model_name)
                target = target_dir / PurePosixPath(key).name
                try:
                    response = await s3.get_object(Bucket=s.bucket_name, Key=key)
                except boto_errors.ClientError as exc:
                    if _error_code(exc)[0] not in _NOT_FOUND_CODES:
                        raise
                    available = await self._archives(s3)
                    raise ModelStorageError(
                        missing_model_message(s.location, PurePosixPath(key).name, list(available))
                    ) from exc
                body = response["Body"]
                async with body:  # releases the connection; yields the raw response
                    await write_stream(body.iter_chunks(CHUNK_BYTES), target)
        except ModelStorageError:
            raise
        except (boto_errors.BotoCoreError, boto_errors.ClientError, *_CONNECTION_ERRORS) as exc:
            raise storage_error(exc, f"download from {s.location} failed") from exc
        except OSError as exc:
            raise ModelStorageError(f"cannot write the archive into {target_dir}: {exc}") from exc
        logger.info("downloaded %s%s", s.location, target.name)
        return target

    async def _key_for(self, s3: Any, model_name: str | None) -> str:
        if model_name:
            return self.settings.prefix + archive_file_name(model_name)
        name = newest([(n, t) for n, t in (await self._archives(s3)).items()])
        if name is None:
            raise ModelStorageError(f"No model archive found in {self.settings.location}.")
        return self.settings.prefix + name

    async def _archives(self, s3: Any) -> dict[str, float]:
        """Archive name -> modification time, directly under the prefix."""
        s = self.settings
        found: dict[str, float] = {}
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=s.bucket_name, Prefix=s.prefix, Delimiter="/"):
            for item in page.get("Contents", []):
                name = str(item["Key"])[len(s.prefix) :]
                found[name] = item["LastModified"].timestamp()
        return found

    async def upload(self, archive: Path) -> None:
        """Upload ``archive`` as ``<prefix><archive name>`` (creating the bucket if needed)."""
        s = self.settings
        key = s.prefix + archive.name
        try:
            async with self._client() as s3:
                await self._ensure_bucket(s3)
                await s3.upload_file(str(archive), s.bucket_name, key)
        except (boto_errors.BotoCoreError, boto_errors.ClientError, *_CONNECTION_ERRORS) as exc:
            raise storage_error(exc, f"upload to {s.location} failed") from exc
        except OSError as exc:
            raise ModelStorageError(f"cannot read '{archive}': {exc}") from exc
        logger.info("uploaded %s to %s", archive.name, s.location)

    async def _ensure_bucket(self, s3: Any) -> None:
        s = self.settings
        try:
            await s3.head_bucket(Bucket=s.bucket_name)
            return
        except boto_errors.ClientError as exc:
            if _error_code(exc)[0] not in _NOT_FOUND_CODES | {"NoSuchBucket"}:
                raise
        options: dict[str, Any] = {"Bucket": s.bucket_name}
        if s.region and s.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": s.region}
        try:
            await s3.create_bucket(**options)
        except boto_errors.ClientError as exc:
            if _error_code(exc)[0] not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise
        logger.info("created bucket %s", s.bucket_name)
