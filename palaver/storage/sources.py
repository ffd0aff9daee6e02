"""Where the server gets its model from: at start-up, and when asked to load another.

Start-up follows Rasa's order: a model server (``models`` in endpoints.yml),
then remote storage (``--remote-storage`` or ``model_storage`` in
endpoints.yml), then a local path (``-m``: a file, or the newest archive in a
directory). The first two run as a background task, so the server answers
``/`` and ``/ready`` (503 with the reason) while the model is fetched.

``load_model_from`` is the one entry point for loading another model at run
time (``PUT /model``, ``Runtime.load_model_from``). An explicitly loaded model
stays until the model server publishes a new one: the poller only swaps when
the server's ETag changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from palaver.errors import ConfigError

if TYPE_CHECKING:
    from palaver.core.model import LoadedModel
    from palaver.server.runtime import Runtime

MODEL_SOURCE_TASK = "model-source"
"""Name of the runtime's background task that fetches (and polls for) the model."""

LOCAL_SOURCE = "local"


def initial_model_task(runtime: Runtime) -> Callable[[], Awaitable[None]] | None:
    """A background task that obtains the model, or None to load from a local path.

    Builds (and so validates) the model server or persistor settings now:
    configuration errors stop the start-up instead of surfacing later.
    """
    if runtime.endpoints.models:
        from palaver.storage.server import ModelServerPoller

        poller = ModelServerPoller.from_runtime(runtime)
        runtime.model_poller = poller
        return poller.run
    from palaver.storage.remote import remote_model_task, remote_storage_options

    chosen = remote_storage_options(
        runtime.settings.remote_storage, runtime.endpoints.model_storage
    )
    if chosen is not None:
        return remote_model_task(runtime)
    return None


async def load_model_from(
    runtime: Runtime,
    *,
    model_file: str | Path | None = None,
    model_server: Mapping[str, Any] | None = None,
    remote_storage: str | None = None,
) -> LoadedModel:
    """Load a model now and swap it in (Rasa's ``PUT /model`` body).

    Exactly one source is used, in this order:

    - ``model_server``: a ``models``-style mapping (``url``, ``token``,
      ``wait_time_between_pulls``, ...). The model is fetched once now; with a
      pull interval, this server then replaces the one being polled.
    - ``remote_storage``: a persistor name; ``model_file`` names the archive in
      the bucket (the newest one when omitted).
    - ``model_file``: a local archive, or a directory (its newest archive).

    Returns:
        The model now serving (unchanged if the model server had nothing new).

    Raises:
        ConfigError: no source given, or its settings are invalid.
        ModelError: the model could not be fetched or was rejected; the
            previous model keeps serving (``ModelStorageUnavailableError`` when
            the source is unreachable).
    """
    if model_server is not None:
        return await _load_from_model_server(runtime, model_server)
    if remote_storage is not None:
        return await _load_from_remote_storage(runtime, remote_storage, model_file)
    if model_file is not None:
        return await runtime.load_model_file(model_file, source=LOCAL_SOURCE)
    raise ConfigError("Nothing to load: give 'model_file', 'model_server' or 'remote_storage'.")


async def _load_from_model_server(runtime: Runtime, config: Mapping[str, Any]) -> LoadedModel:
    from palaver.storage.server import ModelServerPoller

    if not isinstance(config, Mapping):
        raise ConfigError(f"'model_server' has value {config!r}. Not a mapping.")
    poller = ModelServerPoller.from_runtime(runtime, config)
    await poller.pull()
    await runtime.cancel_background(MODEL_SOURCE_TASK)
    runtime.model_poller = poller
    interval = poller.settings.wait_time_between_pulls
    if interval is not None:
        runtime.spawn(partial(poller.run, interval), MODEL_SOURCE_TASK)
    return runtime.model


async def _load_from_remote_storage(
    runtime: Runtime, storage: str, model_file: str | Path | None
) -> LoadedModel:
    from palaver.storage.remote import (
        create_persistor,
        load_from_persistor,
        remote_storage_options,
    )

    chosen = remote_storage_options(storage, runtime.endpoints.model_storage)
    assert chosen is not None
    name, options = chosen
    persistor = create_persistor(name, options)
    model_name = str(model_file) if model_file is not None else None
    return await load_from_persistor(runtime, persistor, name, model_name)
