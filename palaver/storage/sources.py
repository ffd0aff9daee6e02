"""Where the server gets its model from at start-up (and later, polling).

Rasa's order: a model server (``models`` in endpoints.yml), then remote
storage (``--remote-storage``), then a local path (``-m``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from palaver.server.runtime import Runtime


def initial_model_task(runtime: Runtime) -> Callable[[], Awaitable[None]] | None:
    """A background task that obtains the model, or None to load from a local path."""
    if runtime.endpoints.models:
        from palaver.storage.server import ModelServerPoller

        return ModelServerPoller.from_runtime(runtime).run
    if runtime.settings.remote_storage:
        from palaver.storage.remote import remote_model_task

        return remote_model_task(runtime)
    return None
