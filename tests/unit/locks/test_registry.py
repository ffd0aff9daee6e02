"""create_lock_store: the explicit registry, custom classes and its errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest

from palaver.errors import ConfigError
from palaver.locks import LOCK_STORES, InMemoryLockStore, LockHandle, LockStore, create_lock_store
from palaver.locks.redis import RedisLockStore


class CustomLockStore:
    """Satisfies LockStore; built through from_config."""

    def __init__(self, option: str) -> None:
        self.option = option

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CustomLockStore:
        return cls(**config)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    @asynccontextmanager
    async def lock(
        self, conversation_id: str, *, wait_timeout: float | None = None
    ) -> AsyncIterator[LockHandle]:
        yield LockHandle(conversation_id, 1, 1)

    @property
    def multi_process_safe(self) -> bool:
        return True


class NotALockStore:
    def __init__(self, **config: Any) -> None:
        self.config = config


@pytest.mark.parametrize("config", [None, {}])
def test_nothing_configured_is_in_memory(config: Mapping[str, Any] | None) -> None:
    assert isinstance(create_lock_store(config), InMemoryLockStore)


@pytest.mark.parametrize("type_name", ["in_memory", "memory", "IN_MEMORY", " memory "])
def test_in_memory_names(type_name: str) -> None:
    store = create_lock_store({"type": type_name, "lock_wait_timeout": 3})
    assert isinstance(store, InMemoryLockStore)
    assert store.settings.lock_wait_timeout == 3


def test_redis() -> None:
    store = create_lock_store(
        {"type": "redis", "url": "cache", "password": "x", "lock_lifetime": 9}
    )
    assert isinstance(store, RedisLockStore)
    assert isinstance(store, LockStore)
    assert store.settings.host == "cache" and store.settings.lock_lifetime == 9


def test_unknown_type_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        create_lock_store({"type": "zookeeper"})
    message = str(info.value)
    assert "'zookeeper'" in message
    for name in ("in_memory", "memory", "redis"):
        assert name in message
    assert LOCK_STORES.names == ["in_memory", "memory", "redis"]


def test_options_without_type_are_an_error_not_a_silent_fallback() -> None:
    with pytest.raises(ConfigError, match="no 'type'"):
        create_lock_store({"url": "localhost"})
    with pytest.raises(ConfigError, match="Not a valid type name"):
        create_lock_store({"type": ""})


def test_backend_option_errors_surface() -> None:
    with pytest.raises(ConfigError, match="Unknown redis lock store option"):
        create_lock_store({"type": "redis", "lock_lifetim": 5})


def test_custom_class_by_dotted_path() -> None:
    store = create_lock_store({"type": f"{__name__}.CustomLockStore", "option": "x"})
    assert isinstance(store, CustomLockStore)
    assert store.option == "x"


def test_custom_class_must_implement_the_protocol() -> None:
    with pytest.raises(ConfigError, match="does not implement the lock store interface"):
        create_lock_store({"type": f"{__name__}.NotALockStore"})


def test_custom_class_errors_name_the_path() -> None:
    with pytest.raises(ConfigError, match="no_such_module"):
        create_lock_store({"type": "no_such_module.Store"})
    with pytest.raises(ConfigError, match="has no lock store class 'Missing'"):
        create_lock_store({"type": f"{__name__}.Missing"})
    with pytest.raises(ConfigError, match="rejected its config keys"):
        create_lock_store({"type": f"{__name__}.CustomLockStore", "bogus": 1})
