"""The runtime: everything a running server holds, with one explicit lifecycle.

``Runtime.start()`` opens the pooled HTTP session, the tracker store, the lock
store and the event broker, and loads the model; ``stop()`` closes them in
reverse order and is safe to call twice. Only the Sanic listeners call them.

The current model is one reference swapped atomically: a request takes the
model once at its start and finishes on it even if a new model is loaded
meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from sanic import Blueprint

from palaver import __version__
from palaver.actions.endpoint import HttpClient
from palaver.config import CredentialsConfig, EndpointsConfig
from palaver.errors import ConfigError, ModelError, PalaverError
from palaver.server.auth import Authenticator
from palaver.server.settings import ServerSettings

if TYPE_CHECKING:
    from palaver.brokers.base import EventBroker
    from palaver.core.model import LoadedModel
    from palaver.core.processor import MessageProcessor
    from palaver.core.reminders import ReminderScheduler
    from palaver.locks.base import LockStore
    from palaver.storage.server import ModelServerPoller
    from palaver.stores.base import TrackerStore

logger = logging.getLogger(__name__)

# Request bodies above this are refused with 413 before they are read.
MAX_REQUEST_BODY = 1024 * 1024


class ModelNotReadyError(PalaverError):
    """No model is loaded yet; channels answer 503 until one is."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"No model is loaded yet: {reason}")


@dataclass
class Counters:
    messages: int = 0
    message_errors: int = 0
    lock_timeouts: int = 0
    actions_failed: int = 0
    model_loads: int = 0
    model_load_failures: int = 0
    processing_seconds: float = 0.0
    started_at: float = field(default_factory=time.time)
    # Not a total: POST /model/train jobs running now (/status num_active_training_jobs).
    active_training_jobs: int = 0


def _log_task_failure(task: asyncio.Task[None]) -> None:
    """A background task that dies of an unexpected error says so once, when it happens."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("background task %s failed", task.get_name(), exc_info=task.exception())


class Runtime:
    """Owns the model and every backend of one server process."""

    def __init__(
        self,
        settings: ServerSettings,
        endpoints: EndpointsConfig | None = None,
        credentials: CredentialsConfig | None = None,
    ) -> None:
        self.settings = settings
        self.endpoints = endpoints or EndpointsConfig()
        self.credentials = credentials or CredentialsConfig({"rest": {}})
        self.settings_max_body = MAX_REQUEST_BODY
        self.counters = Counters()
        self._model: LoadedModel | None = None
        self._model_source: str | None = None
        self._model_origin: str | None = None
        self._model_loaded_at: float | None = None
        self.model_poller: ModelServerPoller | None = None
        self._not_ready_reason = "the server is starting"
        self.http_client = HttpClient(connection_limit=256)
        self.tracker_store: TrackerStore | None = None
        self.lock_store: LockStore | None = None
        self.broker: EventBroker | None = None
        self.processor: MessageProcessor | None = None
        # Reminder timers of this process (ReminderScheduled events); see palaver.core.reminders.
        self.reminders: ReminderScheduler | None = None
        self._background: list[asyncio.Task[None]] = []
        self._started = False
        self._stopped = False
        self._model_lock = asyncio.Lock()
        self.auth = Authenticator(settings)
        self.replica_id = f"{socket.gethostname()}:{os.getpid()}:{settings.port}"
        self._validate_config()
        self._initial_model_task = self._model_source_task()

    # ----------------------------------------------------------------- config
    def _validate_config(self) -> None:
        """Build nothing yet, but fail fast on configuration errors."""
        from palaver.brokers import create_event_broker
        from palaver.locks import create_lock_store
        from palaver.stores import create_tracker_store

        store_config = dict(self.endpoints.tracker_store or {})
        fail_safe = store_config.pop("fail_safe", True)
        if not isinstance(fail_safe, bool):
            raise ConfigError(
                f"Config 'tracker_store.fail_safe' has value '{fail_safe}'. Not a valid bool."
            )
        store = create_tracker_store(store_config or None)
        self.tracker_store = store if not fail_safe else self._wrap_failsafe(store)
        self.lock_store = create_lock_store(self.endpoints.lock_store)
        self.broker = create_event_broker(self.endpoints.event_broker)
        if self.settings.workers > 1 and not self.lock_store.multi_process_safe:
            raise ConfigError(
                f"--workers {self.settings.workers} needs a lock store shared between processes "
                "(lock_store type 'redis' in endpoints.yml); the in-memory lock store only "
                "excludes concurrent messages within one process."
            )
        if self.settings.workers > 1 and self._is_memory_store():
            raise ConfigError(
                f"--workers {self.settings.workers} needs a tracker store shared between "
                "processes; the in-memory tracker store would give each worker its own "
                "conversations."
            )

    def _model_source_task(self) -> Callable[[], Awaitable[None]] | None:
        """The model server / remote storage task; builds (validates) its settings now."""
        from palaver.storage.sources import initial_model_task

        return initial_model_task(self)

    def _is_memory_store(self) -> bool:
        cfg = self.endpoints.tracker_store or {}
        return str(cfg.get("type", "in_memory")).lower() in ("in_memory", "memory")

    def _wrap_failsafe(self, store: TrackerStore) -> TrackerStore:
        """Persistent stores fail safe to memory unless ``fail_safe: false``."""
        if self._is_memory_store():
            return store
        from palaver.stores.failsafe import FailSafeTrackerStore

        return FailSafeTrackerStore(store)

    # -------------------------------------------------------------- lifecycle
    @property
    def http(self) -> aiohttp.ClientSession:
        """The session of the process-wide pooled HTTP client (open after start())."""
        session = self.http_client.session
        if session is None:
            raise RuntimeError("the runtime's HTTP client is not started")
        return session

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        from palaver.core.processor import MessageProcessor
        from palaver.server.reminders import create_reminder_scheduler

        assert self.tracker_store is not None and self.lock_store is not None
        await self.http_client.start()
        await self.tracker_store.start()
        await self.lock_store.start()
        if self.broker is not None:
            await self.broker.start()
        self.processor = MessageProcessor(self)
        await self.processor.start()
        self.reminders = create_reminder_scheduler(self)
        await self.reminders.start()
        await self._load_initial_model()

    async def stop(self) -> None:
        if self._stopped or not self._started:
            return
        self._stopped = True
        if self.reminders is not None:
            # First: a reminder being fired still uses the processor and the stores.
            await self.reminders.stop()
        for task in self._background:
            task.cancel()
        for task in self._background:
            # A background task's failure was logged when it happened; shutting down.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.processor is not None:
            await self.processor.stop()
        if self.broker is not None:
            await self.broker.stop()
        if self.lock_store is not None:
            await self.lock_store.stop()
        if self.tracker_store is not None:
            await self.tracker_store.stop()
        await self.http_client.stop()

    def spawn(self, coro_factory: Callable[[], Any], name: str) -> asyncio.Task[None]:
        """Run a background task owned by the runtime (cancelled on stop)."""
        task: asyncio.Task[None] = asyncio.create_task(coro_factory(), name=name)
        task.add_done_callback(_log_task_failure)
        self._background.append(task)
        return task

    async def cancel_background(self, name: str) -> None:
        """Cancel and await the background tasks called ``name`` (e.g. a model poller)."""
        tasks = [t for t in self._background if t.get_name() == name]
        self._background = [t for t in self._background if t.get_name() != name]
        for task in tasks:
            task.cancel()
        for task in tasks:
            # Its failures were logged when they happened; it is being replaced.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ------------------------------------------------------------------ model
    @property
    def model(self) -> LoadedModel:
        model = self._model
        if model is None:
            raise ModelNotReadyError(self._not_ready_reason)
        return model

    @property
    def model_or_none(self) -> LoadedModel | None:
        return self._model

    @property
    def is_ready(self) -> bool:
        return self._model is not None

    @property
    def not_ready_reason(self) -> str:
        return self._not_ready_reason

    @not_ready_reason.setter
    def not_ready_reason(self, reason: str) -> None:
        """Why there is no model (shown by ``/ready`` and channel 503s until one loads)."""
        self._not_ready_reason = reason

    @property
    def model_id(self) -> str | None:
        return self._model.metadata.model_id if self._model else None

    async def _load_initial_model(self) -> None:
        from palaver.storage.sources import LOCAL_SOURCE, MODEL_SOURCE_TASK

        if self._initial_model_task is not None:
            self._not_ready_reason = "the model is being fetched"
            self.spawn(self._initial_model_task, MODEL_SOURCE_TASK)
            return
        try:
            await self.load_model_file(self.settings.model or "models", source=LOCAL_SOURCE)
        except ModelError as exc:
            self._not_ready_reason = str(exc)
            logger.error("could not load the model: %s", exc)

    async def load_model_file(
        self, path: str | Path, source: str, origin: str | None = None
    ) -> LoadedModel:
        """Load an archive in a worker thread, validate it and swap it in.

        Args:
            path: an archive, or a directory (its newest archive).
            source: how it was obtained (``local``, ``model_server``, ``remote_storage``).
            origin: where from, for ``/status`` (a URL, ``aws:<name>``); default the path.

        Raises:
            ModelError: no such file, or a corrupt or incompatible archive; the
                current model keeps serving.
        """
        from palaver.core.model import load_model
        from palaver.storage.local import resolve_model_path

        async with self._model_lock:
            try:
                archive = await asyncio.to_thread(resolve_model_path, path)
                model = await asyncio.to_thread(load_model, archive)
            except ModelError:
                self.counters.model_load_failures += 1
                raise
            self.swap_model(model, source, origin or str(archive))
            return model

    async def load_model_from(
        self,
        *,
        model_file: str | Path | None = None,
        model_server: Mapping[str, Any] | None = None,
        remote_storage: str | None = None,
    ) -> LoadedModel:
        """Load a model from a file, a model server or remote storage (``PUT /model``).

        See ``palaver.storage.sources.load_model_from``; raises ``ConfigError``
        for an invalid request and ``ModelError`` when loading fails (the
        current model keeps serving).
        """
        from palaver.storage.sources import load_model_from

        return await load_model_from(
            self, model_file=model_file, model_server=model_server, remote_storage=remote_storage
        )

    def swap_model(self, model: LoadedModel, source: str, origin: str | None = None) -> None:
        """Make ``model`` current; requests already running finish on the previous one."""
        model.policies.keep_replays_for(self.settings.tracker_cache_size)
        self._model = model
        self._model_source = source
        self._model_origin = origin or (str(model.archive) if model.archive else None)
        self._model_loaded_at = time.time()
        self.counters.model_loads += 1
        logger.info(
            "model %s (fingerprint %s) loaded from %s %s",
            model.metadata.model_id,
            model.metadata.fingerprint[:12],
            source,
            self._model_origin,
        )

    def unload_model(self) -> None:
        self._model = None
        self._not_ready_reason = "the model was unloaded (DELETE /model)"

    # -------------------------------------------------------------- channels
    def channel_blueprints(self) -> list[Blueprint]:
        from palaver.channels import create_input_channels

        handler = self._handle_channel_message
        return [ch.blueprint(handler) for ch in create_input_channels(self.credentials, self)]

    async def _handle_channel_message(self, message: Any, output: Any) -> None:
        if self.processor is None:
            raise ModelNotReadyError(self._not_ready_reason)
        await self.processor.handle_message(message, output)

    # ----------------------------------------------------------------- status
    def status(self) -> dict[str, Any]:
        model = self._model
        store_status: dict[str, Any] = {"type": type(self.tracker_store).__name__}
        status_fn = getattr(self.tracker_store, "status", None)
        if callable(status_fn):
            store_status.update(status_fn())
        return {
            "model_id": model.metadata.model_id if model else None,
            "model_file": str(model.archive) if model and model.archive else None,
            "fingerprint": {"model": model.metadata.fingerprint} if model else {},
            "model_source": self._model_source if model else None,
            "model_origin": self._model_origin if model else None,
            "model_loaded_at": self._model_loaded_at if model else None,
            "model_server": self.model_poller.status() if self.model_poller else None,
            "num_active_training_jobs": self.counters.active_training_jobs,
            "ready": model is not None,
            "palaver_version": __version__,
            "tracker_store": store_status,
            "lock_store": {"type": type(self.lock_store).__name__},
            "event_broker": (
                {"type": type(self.broker).__name__, **self.broker.stats()} if self.broker else None
            ),
            "counters": {
                "messages": self.counters.messages,
                "message_errors": self.counters.message_errors,
                "lock_timeouts": self.counters.lock_timeouts,
                "actions_failed": self.counters.actions_failed,
                "model_loads": self.counters.model_loads,
                "model_load_failures": self.counters.model_load_failures,
            },
            "uptime_seconds": round(time.time() - self.counters.started_at, 3),
        }

    def metrics_text(self) -> str:
        c = self.counters
        lines = [
            f"palaver_messages_total {c.messages}",
            f"palaver_message_errors_total {c.message_errors}",
            f"palaver_lock_timeouts_total {c.lock_timeouts}",
            f"palaver_actions_failed_total {c.actions_failed}",
            f"palaver_model_loads_total {c.model_loads}",
            f"palaver_model_load_failures_total {c.model_load_failures}",
            f"palaver_processing_seconds_total {c.processing_seconds:.6f}",
            f"palaver_model_ready {1 if self._model else 0}",
            f"palaver_active_training_jobs {c.active_training_jobs}",
        ]
        status_fn = getattr(self.tracker_store, "status", None)
        if callable(status_fn):
            st = status_fn()
            fallback = 1 if st.get("mode") == "fallback" else 0
            lines.append(f"palaver_tracker_store_fallback {fallback}")
            if "switches" in st:
                lines.append(f"palaver_tracker_store_switches_total {st['switches']}")
        if self.broker is not None:
            for key, value in self.broker.stats().items():
                if isinstance(value, bool):
                    value = int(value)
                if isinstance(value, int | float):
                    lines.append(f"palaver_broker_{key} {value}")
        return "\n".join(lines) + "\n"
