"""Per-conversation FIFO locks: the contract, the backends and their registry.

``create_lock_store(endpoints.lock_store)`` builds the configured backend:

- no config (``None`` or ``{}``): ``InMemoryLockStore`` (one replica only);
- ``type: in_memory`` (alias ``memory``): ``InMemoryLockStore``;
- ``type: redis``: ``palaver.locks.redis.RedisLockStore`` (extra ``palaver[redis]``);
- ``type: my_pkg.locks.MyLockStore``: a custom class built with its
  ``from_config(mapping)`` (or ``cls(**mapping)``) that must satisfy ``LockStore``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from palaver.errors import ConfigError
from palaver.locks.base import LockHandle, LockStore
from palaver.locks.memory import InMemoryLockSettings, InMemoryLockStore
from palaver.registry import Registry

__all__ = [
    "LOCK_STORES",
    "InMemoryLockSettings",
    "InMemoryLockStore",
    "LockHandle",
    "LockStore",
    "create_lock_store",
]


def _in_memory(config: Mapping[str, Any]) -> LockStore:
    return InMemoryLockStore.from_config(config)


def _redis(config: Mapping[str, Any]) -> LockStore:
    try:
        from palaver.locks.redis import RedisLockStore
    except ImportError as exc:
        raise ConfigError(
            f"Lock store type 'redis' needs the redis package: pip install 'palaver[redis]' "
            f"({exc})."
        ) from exc
    return RedisLockStore.from_config(config)


def _is_lock_store(obj: object) -> bool:
    return isinstance(obj, LockStore)


LOCK_STORES: Registry[LockStore] = Registry(
    "lock store",
    {"in_memory": _in_memory, "memory": _in_memory, "redis": _redis},
    check=_is_lock_store,
)


def create_lock_store(config: Mapping[str, Any] | None) -> LockStore:
    """Build the lock store of an endpoints ``lock_store`` entry.

    Args:
        config: the mapping with ``type`` and the backend's options, or
            ``None``/empty for the in-memory default.

    Raises:
        ConfigError: unknown type (the message lists the valid ones), a
            missing ``type`` next to other options, or an invalid option.
    """
    if not config:
        return InMemoryLockStore()
    options = dict(config)
    type_name = options.pop("type", None)
    if type_name is None:
        raise ConfigError(
            f"lock_store has options {sorted(options)} but no 'type'. Valid types: "
            f"{', '.join(LOCK_STORES.names)}, or a dotted path to a custom class."
        )
    if not isinstance(type_name, str) or not type_name.strip():
        raise ConfigError(f"lock_store 'type' has value '{type_name}'. Not a valid type name.")
    return LOCK_STORES.create(type_name.strip(), options)
