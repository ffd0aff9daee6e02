"""The runtime validates endpoints.yml at construction, before any port is bound."""

from __future__ import annotations

import pytest

from palaver.config import EndpointsConfig
from palaver.errors import ConfigError
from palaver.server.runtime import Runtime
from palaver.server.settings import ServerSettings


def runtime(**sections: object) -> Runtime:
    return Runtime(ServerSettings(), EndpointsConfig(**sections))  # type: ignore[arg-type]


def test_persistent_store_is_wrapped_fail_safe_by_default() -> None:
    store = runtime(tracker_store={"type": "redis"}).tracker_store
    assert "FailSafe" in type(store).__name__


def test_fail_safe_can_be_switched_off() -> None:
    store = runtime(tracker_store={"type": "redis", "fail_safe": False}).tracker_store
    assert type(store).__name__ == "RedisTrackerStore"


def test_fail_safe_must_be_a_bool() -> None:
    with pytest.raises(ConfigError, match=r"tracker_store\.fail_safe"):
        runtime(tracker_store={"type": "redis", "fail_safe": "no"})


def test_memory_store_is_not_wrapped() -> None:
    store = runtime().tracker_store
    assert type(store).__name__ == "InMemoryTrackerStore"


def test_several_workers_need_shared_locks() -> None:
    with pytest.raises(ConfigError, match="lock store shared between processes"):
        Runtime(ServerSettings(workers=2), EndpointsConfig(tracker_store={"type": "redis"}))


def test_several_workers_need_a_shared_tracker_store() -> None:
    with pytest.raises(ConfigError, match="tracker store shared"):
        Runtime(ServerSettings(workers=2), EndpointsConfig(lock_store={"type": "redis"}))
