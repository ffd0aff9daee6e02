"""Model storage: where trained model archives come from and go to.

- ``archive``: the archive format (pack, unpack, metadata); blocking, use threads.
- ``local``: ``-m`` semantics (a file, or the newest archive of a directory).
- ``server``: the model server poller (Rasa's ETag contract).
- ``remote``: the ``Persistor`` contract and registry (``aws``, ``gcs``,
  ``azure``, or a class path); one backend per module: ``s3``, ``gcs``, ``azure``.
- ``sources``: which source the server uses at start-up, and ``load_model_from``
  for loading another model at run time.
- ``files``, ``backoff``: streaming downloads to disk; retry delays.
"""

from __future__ import annotations

from palaver.storage.remote import PERSISTORS, Persistor, create_persistor
from palaver.storage.sources import initial_model_task, load_model_from

__all__ = [
    "PERSISTORS",
    "Persistor",
    "create_persistor",
    "initial_model_task",
    "load_model_from",
]
