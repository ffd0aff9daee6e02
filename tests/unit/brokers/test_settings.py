"""Broker settings: validation names the key and value; secrets never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from palaver.brokers.dispatcher import DeliverySettings
from palaver.brokers.file import FileSettings
from palaver.brokers.kafka import KafkaEventBroker, KafkaSettings
from palaver.brokers.pika import PikaEventBroker, PikaSettings
from palaver.brokers.sql import SQLSettings
from palaver.errors import ConfigError

# -- kafka -------------------------------------------------------------


def test_kafka_defaults_follow_rasa() -> None:
    settings = KafkaSettings.from_config({"url": "broker:9092"})
    assert settings.url == ("broker:9092",)
    assert settings.topic == "rasa_core_events"
    assert settings.acks == "all"
    assert settings.security_protocol == "PLAINTEXT"
    assert settings.partition_by_sender is False
    assert settings.delivery.outbox_dir == Path(".palaver/outbox/kafka")


def test_kafka_accepts_a_list_of_urls_and_string_values() -> None:
    settings = KafkaSettings.from_config(
        {"url": ["a:9092", "b:9092"], "partition_by_sender": "true", "acks": "1"}
    )
    assert settings.url == ("a:9092", "b:9092")
    assert settings.partition_by_sender is True
    assert settings.acks == 1


def test_kafka_linger_ms_defaults_to_a_few_ms_and_is_validated() -> None:
    assert KafkaSettings.from_config({"url": "b:9092"}).linger_ms == 5
    assert KafkaSettings.from_config({"url": "b:9092", "linger_ms": "0"}).linger_ms == 0
    with pytest.raises(ConfigError) as info:
        KafkaSettings.from_config({"url": "b:9092", "linger_ms": -1})
    assert "'linger_ms'" in str(info.value) and "-1" in str(info.value)


def test_kafka_sasl_username_implies_rasa_default_protocol() -> None:
    settings = KafkaSettings.from_config(
        {"url": "b:9092", "sasl_username": "user", "sasl_password": "pw"}
    )
    assert settings.security_protocol == "SASL_PLAINTEXT"


@pytest.mark.parametrize(
    ("key", "value"),
    [("security_protocol", "SASL_TLS"), ("sasl_mechanism", "GSSAPI"), ("acks", "2")],
)
def test_kafka_bad_choice_names_key_value_and_valid_values(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        KafkaSettings.from_config({"url": "b:9092", key: value})
    message = str(info.value)
    assert f"'{key}'" in message and value in message and "Valid values" in message


def test_kafka_sasl_needs_credentials() -> None:
    with pytest.raises(ConfigError, match="sasl_password"):
        KafkaSettings.from_config(
            {"url": "b:9092", "security_protocol": "SASL_SSL", "sasl_username": "u"}
        )


def test_kafka_needs_url() -> None:
    with pytest.raises(ConfigError, match="'url'"):
        KafkaSettings.from_config({"topic": "t"})


def test_kafka_idempotence_needs_acks_all() -> None:
    with pytest.raises(ConfigError, match="acks"):
        KafkaSettings.from_config({"url": "b:9092", "enable_idempotence": True, "acks": 1})


def test_kafka_repr_masks_password() -> None:
    settings = KafkaSettings.from_config(
        {
            "url": "b:9092",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "scram-sha-512",
            "sasl_username": "user",
            "sasl_password": "hunter2-secret",
        }
    )
    assert settings.sasl_mechanism == "SCRAM-SHA-512"
    assert "hunter2-secret" not in repr(settings)
    assert "***" in repr(settings)
    assert "hunter2-secret" not in repr(KafkaEventBroker(settings))


def test_unknown_key_is_an_error_listing_valid_keys() -> None:
    with pytest.raises(ConfigError) as info:
        KafkaSettings.from_config({"url": "b:9092", "topik": "x"})
    assert "topik" in str(info.value) and "topic" in str(info.value)


def test_rasa_only_keys_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        KafkaSettings.from_config({"url": "b:9092", "loglevel": "DEBUG"})
    assert "loglevel" in caplog.text


# -- pika --------------------------------------------------------------


def test_pika_defaults_follow_rasa() -> None:
    settings = PikaSettings.from_config({"url": "rabbit"})
    assert settings.host == "rabbit"
    assert settings.port == 5672
    assert settings.queues == ("rasa_core_events",)
    assert settings.exchange_name == "rasa-exchange"
    assert settings.raise_on_failure is False


def test_pika_reads_an_amqp_url_and_explicit_keys_win() -> None:
    settings = PikaSettings.from_config(
        {"url": "amqps://u:p%40ss@rabbit:1234/vh", "username": "other", "queues": "q1"}
    )
    assert (settings.host, settings.port, settings.vhost, settings.ssl) == (
        "rabbit",
        1234,
        "vh",
        True,
    )
    assert settings.username == "other"
    assert settings.password == "p@ss"
    assert settings.queues == ("q1",)


def test_pika_legacy_queue_key_and_rasa_retry_keys() -> None:
    settings = PikaSettings.from_config(
        {"host": "rabbit", "queue": "old", "connection_attempts": 20, "retry_delay_in_seconds": 5}
    )
    assert settings.queues == ("old",)


def test_pika_repr_and_safe_url_mask_password() -> None:
    settings = PikaSettings.from_config({"url": "rabbit", "password": "pa55-secret"})
    assert "pa55-secret" not in repr(settings)
    assert "pa55-secret" not in settings.safe_url
    assert "pa55-secret" in str(settings.url)
    assert "pa55-secret" not in repr(PikaEventBroker(settings))


def test_pika_bad_url_scheme_is_named() -> None:
    with pytest.raises(ConfigError, match="'url'"):
        PikaSettings.from_config({"url": "http://rabbit"})


def test_pika_bad_queues_type() -> None:
    with pytest.raises(ConfigError, match="'queues'"):
        PikaSettings.from_config({"url": "rabbit", "queues": [1, 2]})


# -- sql -----------------------------------------------------------------


def test_sql_defaults_to_sqlite_events_db() -> None:
    settings = SQLSettings.from_config({})
    assert (settings.dialect, settings.db) == ("sqlite", "events.db")


def test_sql_rasa_style_parts() -> None:
    settings = SQLSettings.from_config(
        {
            "dialect": "postgresql",
            "url": "db.local",
            "port": 5433,
            "db": "events",
            "username": "rasa",
            "password": "pg-secret",
        }
    )
    assert (settings.host, settings.port, settings.db) == ("db.local", 5433, "events")
    assert "pg-secret" not in repr(settings)


def test_sql_dsn_url() -> None:
    settings = SQLSettings.from_config({"url": "postgresql://rasa:pg-secret@db:5432/ev"})
    assert (settings.dialect, settings.host, settings.port) == ("postgresql", "db", 5432)
    assert (settings.db, settings.username, settings.password) == ("ev", "rasa", "pg-secret")
    assert "pg-secret" not in repr(settings)
    lite = SQLSettings.from_config({"url": "sqlite:///data/events.db"})
    assert (lite.dialect, lite.db) == ("sqlite", "data/events.db")


def test_sql_unsupported_dialect_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        SQLSettings.from_config({"dialect": "mysql"})
    assert "'dialect'" in str(info.value) and "mysql" in str(info.value)
    assert "postgresql" in str(info.value)


# -- file and delivery -----------------------------------------------------


def test_file_defaults_to_rasa_event_log() -> None:
    assert FileSettings.from_config({}).path == Path("rasa_event.log")


def test_delivery_settings_validation() -> None:
    with pytest.raises(ConfigError, match="'queue_size'"):
        DeliverySettings.from_config({"queue_size": 0}, "file")
    with pytest.raises(ConfigError, match="'on_overflow'"):
        DeliverySettings.from_config({"on_overflow": "drop"}, "file")
    with pytest.raises(ConfigError, match="'on_overflow'"):
        DeliverySettings.from_config({"on_overflow": "block"}, "file")
    with pytest.raises(ConfigError, match="'attempt_timeout'"):
        DeliverySettings.from_config({"attempt_timeout": "soon"}, "file")
    settings = DeliverySettings.from_config(
        {"name": "audit", "max_pending": "100", "on_overflow": "DROP"}, "file"
    )
    assert settings.outbox_dir == Path(".palaver/outbox/audit")
    assert (settings.max_pending, settings.on_overflow) == (100, "drop")
