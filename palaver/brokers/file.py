"""File event broker (``type: file``): one JSON object per line.

Like Rasa's file broker, each line is the event JSON with ``sender_id``;
the default file is ``rasa_event.log``. A batch is appended with one write
and fsynced before it counts as delivered; all file I/O runs in a worker
thread. A failed write is cut back off the file, so a retry never leaves a
torn line behind. Meant for one process per file (like Rasa's).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palaver.brokers.dispatcher import (
    BackgroundBroker,
    ConfigReader,
    DeliveryReport,
    DeliverySettings,
)
from palaver.brokers.outbox import Record
from palaver.errors import BrokerUnavailableError

DEFAULT_PATH = "rasa_event.log"


@dataclass(frozen=True, slots=True)
class FileSettings:
    """Validated ``event_broker`` settings for ``type: file``.

    Attributes:
        path: the JSON-lines file events are appended to.
        fsync: fsync after every batch (on by default).
    """

    path: Path
    delivery: DeliverySettings
    fsync: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FileSettings:
        """Build from the ``event_broker`` mapping; errors name key and value."""
        reader = ConfigReader("file", config)
        settings = cls(
            path=Path(reader.text("path", DEFAULT_PATH)),
            delivery=DeliverySettings.read(reader, "file"),
            fsync=reader.flag("fsync", True),
        )
        reader.finish()
        return settings


class FileTransport:
    """Appends batches to the file from a worker thread."""

    def __init__(self, settings: FileSettings) -> None:
        self.settings = settings
        self._fd: int | None = None

    @property
    def target(self) -> str:
        return f"file {self.settings.path}"

    async def connect(self) -> None:
        self._fd = await asyncio.to_thread(
            os.open, self.settings.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
        )

    async def deliver(self, records: Sequence[Record], budget: float) -> DeliveryReport:
        if self._fd is None:
            raise BrokerUnavailableError(f"{self.target} is not open.")
        data = b"".join(record.body + b"\n" for record in records)
        async with asyncio.timeout(budget):
            await asyncio.to_thread(_append, self._fd, data, self.settings.fsync)
        return DeliveryReport.all_acked(records)

    async def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            await asyncio.to_thread(os.close, fd)


def _append(fd: int, data: bytes, fsync: bool) -> None:
    start = os.lseek(fd, 0, os.SEEK_END)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)  # no torn line; the whole batch is retried
        raise


class FileEventBroker(BackgroundBroker):
    """``type: file`` — see ``FileSettings`` and ``BackgroundBroker``."""

    def __init__(self, settings: FileSettings) -> None:
        self.settings = settings
        super().__init__(FileTransport(settings), settings.delivery)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FileEventBroker:
        return cls(FileSettings.from_config(config))
