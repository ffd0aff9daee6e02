"""create_event_broker: the explicit registry of broker types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from palaver.brokers import BROKERS, create_event_broker
from palaver.brokers.file import FileEventBroker
from palaver.brokers.kafka import KafkaEventBroker
from palaver.brokers.pika import PikaEventBroker
from palaver.brokers.sql import SQLEventBroker
from palaver.errors import ConfigError


class CustomBroker:
    """A user broker loaded by dotted path."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CustomBroker:
        return cls(**config)

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, sender_id: str, events: Sequence[dict[str, Any]]) -> None: ...

    def stats(self) -> dict[str, Any]:
        return {}


class NotABroker:
    def __init__(self) -> None: ...


def test_no_config_means_no_broker() -> None:
    assert create_event_broker(None) is None


@pytest.mark.parametrize(
    ("config", "cls"),
    [
        ({"type": "kafka", "url": "b:9092"}, KafkaEventBroker),
        ({"type": "pika", "url": "rabbit"}, PikaEventBroker),
        ({"type": "rabbitmq", "url": "rabbit"}, PikaEventBroker),
        ({"type": "SQL", "dialect": "sqlite", "db": "x.db"}, SQLEventBroker),
        ({"type": "file"}, FileEventBroker),
    ],
)
def test_builtin_types(config: dict[str, Any], cls: type) -> None:
    assert isinstance(create_event_broker(config), cls)


def test_unknown_type_lists_valid_types() -> None:
    with pytest.raises(ConfigError) as info:
        create_event_broker({"type": "redis"})
    message = str(info.value)
    assert "'redis'" in message
    for name in ("file", "kafka", "pika", "rabbitmq", "sql"):
        assert name in message
    assert BROKERS.names == ["file", "kafka", "pika", "rabbitmq", "sql"]


def test_missing_type_lists_valid_types() -> None:
    with pytest.raises(ConfigError, match=r"needs a 'type'.*kafka"):
        create_event_broker({"url": "b:9092"})


def test_bad_settings_surface_as_config_error() -> None:
    with pytest.raises(ConfigError, match="security_protocol"):
        create_event_broker({"type": "kafka", "url": "b", "security_protocol": "TLS"})


def test_custom_class_by_dotted_path() -> None:
    broker = create_event_broker(
        {"type": "tests.unit.brokers.test_registry.CustomBroker", "prefix": "x"}
    )
    assert isinstance(broker, CustomBroker)
    assert broker.prefix == "x"


def test_custom_class_must_implement_the_protocol() -> None:
    with pytest.raises(ConfigError, match="does not implement"):
        create_event_broker({"type": "tests.unit.brokers.test_registry.NotABroker"})


def test_custom_class_that_cannot_be_imported() -> None:
    with pytest.raises(ConfigError, match="no_such_module"):
        create_event_broker({"type": "no_such_module.Broker"})


def test_creating_a_broker_does_no_io(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    create_event_broker({"type": "file", "path": str(tmp_path / "e.log"), "outbox_dir": outbox})
    assert not outbox.exists()
    assert not (tmp_path / "e.log").exists()
