"""Event brokers: the registry from an ``event_broker`` config ``type`` to a broker.

Types: ``kafka``, ``pika`` (alias ``rabbitmq``), ``sql``, ``file``, or a
dotted path to a custom class implementing ``EventBroker``. Backend modules
are imported only when their type is used, so each backend's client library
stays an optional extra.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from palaver.brokers.base import EventBroker, EventDict
from palaver.errors import ConfigError
from palaver.registry import Registry

__all__ = ["BROKERS", "EventBroker", "EventDict", "create_event_broker"]


def _kafka(config: Mapping[str, Any]) -> EventBroker:
    from palaver.brokers.kafka import KafkaEventBroker

    return KafkaEventBroker.from_config(config)


def _pika(config: Mapping[str, Any]) -> EventBroker:
    from palaver.brokers.pika import PikaEventBroker

    return PikaEventBroker.from_config(config)


def _sql(config: Mapping[str, Any]) -> EventBroker:
    from palaver.brokers.sql import SQLEventBroker

    return SQLEventBroker.from_config(config)


def _file(config: Mapping[str, Any]) -> EventBroker:
    from palaver.brokers.file import FileEventBroker

    return FileEventBroker.from_config(config)


_EXTRAS = {"kafka": "kafka", "pika": "rabbitmq", "rabbitmq": "rabbitmq"}


def _needs_extra(
    name: str, factory: Callable[[Mapping[str, Any]], EventBroker]
) -> Callable[[Mapping[str, Any]], EventBroker]:
    def create(config: Mapping[str, Any]) -> EventBroker:
        try:
            return factory(config)
        except ImportError as exc:
            raise ConfigError(
                f"The '{name}' event broker needs 'pip install palaver[{_EXTRAS[name]}]': {exc}"
            ) from exc

    return create


BROKERS: Registry[EventBroker] = Registry(
    "event broker",
    {
        "kafka": _needs_extra("kafka", _kafka),
        "pika": _needs_extra("pika", _pika),
        "rabbitmq": _needs_extra("rabbitmq", _pika),
        "sql": _sql,
        "file": _file,
    },
    check=lambda instance: isinstance(instance, EventBroker),
)


def create_event_broker(config: Mapping[str, Any] | None) -> EventBroker | None:
    """Build the broker of an ``event_broker`` endpoint config; ``None`` -> no broker.

    Raises:
        ConfigError: no or an unknown ``type`` (the message lists the valid
            ones), or invalid settings (the message names the key and value).
    """
    if config is None:
        return None
    type_name = config.get("type")
    if not isinstance(type_name, str) or not type_name.strip():
        raise ConfigError(
            f"The event_broker config needs a 'type'. Valid types: {', '.join(BROKERS.names)}, "
            "or a dotted path to a custom class."
        )
    options = {key: value for key, value in config.items() if key != "type"}
    return BROKERS.create(type_name.strip(), options)
