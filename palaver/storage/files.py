"""Streaming downloaded archives to disk without blocking the event loop.

Every write happens in a worker thread, a buffer at a time, into a hidden
partial file that is renamed into place only once the download is complete:
a reader never sees half an archive, and a failed download leaves nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterable
from pathlib import Path
from typing import BinaryIO

from palaver.config import env_value
from palaver.errors import ModelStorageError
from palaver.storage.archive import MAX_UNPACKED_BYTES

CACHE_DIR_ENV = "PALAVER_MODEL_CACHE_DIR"
"""Where downloaded models are kept (default: ``<tmp>/palaver-model-cache``)."""

WRITE_BUFFER_BYTES = 1024 * 1024
"""Bytes collected in memory before one write in a worker thread."""

MAX_DOWNLOAD_BYTES = MAX_UNPACKED_BYTES
"""A download larger than this is aborted: no archive that big would be unpacked."""


def model_cache_dir() -> Path:
    """The directory for downloaded model archives (``PALAVER_MODEL_CACHE_DIR``)."""
    configured = env_value(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "palaver-model-cache"


def _open_partial(target: Path) -> tuple[Path, BinaryIO]:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial")
    return partial, partial.open("wb")


def _finish(handle: BinaryIO, partial: Path, target: Path) -> None:
    handle.close()
    partial.replace(target)


def _discard(handle: BinaryIO, partial: Path) -> None:
    handle.close()
    partial.unlink(missing_ok=True)


async def write_stream(
    chunks: AsyncIterable[bytes], target: Path, max_bytes: int = MAX_DOWNLOAD_BYTES
) -> int:
    """Write ``chunks`` to ``target`` atomically; returns the number of bytes.

    Raises:
        ModelStorageError: the stream is larger than ``max_bytes``.
        OSError: the file cannot be written.
    """
    partial, handle = await asyncio.to_thread(_open_partial, target)
    buffer = bytearray()
    total = 0
    try:
        async for chunk in chunks:
            total += len(chunk)
            if total > max_bytes:
                raise ModelStorageError(
                    f"The download for '{target.name}' exceeds {max_bytes} bytes; aborted."
                )
            buffer += chunk
            if len(buffer) >= WRITE_BUFFER_BYTES:
                await asyncio.to_thread(handle.write, buffer)
                buffer = bytearray()
        if buffer:
            await asyncio.to_thread(handle.write, buffer)
        await asyncio.to_thread(_finish, handle, partial, target)
    except BaseException:
        # Cancelled again while cleaning up: the hidden partial file stays behind,
        # which is harmless (it never has the archive suffix).
        with contextlib.suppress(BaseException):
            await asyncio.to_thread(_discard, handle, partial)
        raise
    return total


async def remove_file(path: Path | None) -> None:
    """Delete ``path`` (if any) in a worker thread; a missing file is fine."""
    if path is not None:
        await asyncio.to_thread(path.unlink, missing_ok=True)
