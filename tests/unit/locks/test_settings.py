"""Lock store settings: config keys, DSNs, validation messages, secret masking."""

from __future__ import annotations

import pytest

from palaver.errors import ConfigError
from palaver.locks.memory import InMemoryLockSettings
from palaver.locks.redis import RedisLockSettings


def test_redis_defaults_follow_rasa() -> None:
    settings = RedisLockSettings.from_config({})
    assert (settings.host, settings.port, settings.db) == ("localhost", 6379, 0)
    assert settings.lock_lifetime == 60
    assert settings.socket_timeout == 10
    assert settings.namespace == "palaver:lock:"


def test_redis_rasa_style_config() -> None:
    settings = RedisLockSettings.from_config(
        {
            "url": "redis.internal",
            "port": "6380",
            "db": "2",
            "username": "bot",
            "password": "s3cret",
            "use_ssl": "true",
            "ssl_ca_certs": "/etc/ca.pem",
            "key_prefix": "mybot",
            "socket_timeout": "2.5",
            "lock_lifetime": 30,
            "lock_wait_timeout": "15",
        }
    )
    assert settings.host == "redis.internal"
    assert settings.port == 6380 and settings.db == 2
    assert settings.use_ssl is True
    assert settings.socket_timeout == 2.5
    assert settings.lock_wait_timeout == 15.0
    assert settings.namespace == "mybot:lock:"


def test_redis_url_key_may_be_a_dsn_and_keys_override_it() -> None:
    settings = RedisLockSettings.from_config(
        {"url": "rediss://bot:p%40ss@cache:7000/3?lock_lifetime=5", "db": 4}
    )
    assert (settings.host, settings.port, settings.db) == ("cache", 7000, 4)
    assert settings.use_ssl and settings.username == "bot" and settings.password == "p@ss"
    assert settings.lock_lifetime == 5


def test_redis_from_dsn() -> None:
    settings = RedisLockSettings.from_dsn(
        "redis://127.0.0.1:6379/9?key_prefix=t&lock_poll_interval=0.1"
    )
    assert settings.db == 9 and settings.key_prefix == "t" and settings.lock_poll_interval == 0.1
    assert not settings.use_ssl


def test_secrets_are_masked_in_repr() -> None:
    settings = RedisLockSettings.from_dsn("redis://bot:hunter2@cache:6379/0")
    assert "hunter2" not in repr(settings)
    assert "password='***'" in repr(settings)
    from palaver.locks.redis import RedisLockStore

    assert "hunter2" not in repr(RedisLockStore(settings))
    assert "password=None" in repr(RedisLockSettings())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"port": "abc"}, "Config 'port' has value 'abc'. Not a valid int."),
        ({"port": 70000}, "Config 'port' has value '70000'. Not a valid TCP port."),
        ({"db": 1.5}, "Config 'db' has value '1.5'. Not a valid int."),
        ({"use_ssl": "maybe"}, "Config 'use_ssl' has value 'maybe'. Not a valid bool."),
        ({"lock_lifetime": 0}, "Config 'lock_lifetime' has value '0.0'. It must be > 0"),
        ({"lock_wait_timeout": -1}, "Config 'lock_wait_timeout' has value '-1.0'"),
        ({"lock_lifetime": 1, "lock_poll_interval": 0.5}, "at most a third of lock_lifetime"),
        ({"colour": "blue"}, "Unknown redis lock store option(s) ['colour']"),
        ({"url": "a", "host": "b"}, "either 'url' or 'host'"),
    ],
)
def test_redis_invalid_config_names_key_and_value(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        RedisLockSettings.from_config(config)
    assert message in str(info.value)


def test_redis_bad_dsn_is_masked_in_the_error() -> None:
    with pytest.raises(ConfigError) as info:
        RedisLockSettings.from_dsn("http://bot:hunter2@cache")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError, match="Unknown"):
        RedisLockSettings.from_dsn("redis://cache/0?nope=1")


def test_settings_are_frozen() -> None:
    settings = RedisLockSettings()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        InMemoryLockSettings().lock_wait_timeout = 1  # type: ignore[misc]


def test_waiter_ttl_is_bounded_by_lifetime_and_polls() -> None:
    assert RedisLockSettings().waiter_ttl == 5.0
    assert RedisLockSettings(lock_lifetime=1, lock_poll_interval=0.05).waiter_ttl == 1.0
    assert RedisLockSettings(lock_lifetime=3, lock_poll_interval=1).waiter_ttl == 3.0


def test_in_memory_settings() -> None:
    assert InMemoryLockSettings.from_config({}).lock_wait_timeout == 60
    assert InMemoryLockSettings.from_config({"lock_wait_timeout": "2"}).lock_wait_timeout == 2
    assert InMemoryLockSettings.from_dsn("memory://?lock_wait_timeout=3").lock_wait_timeout == 3
    with pytest.raises(ConfigError, match="Config 'lock_wait_timeout' has value 'soon'"):
        InMemoryLockSettings.from_config({"lock_wait_timeout": "soon"})
    with pytest.raises(ConfigError, match=">= 0"):
        InMemoryLockSettings(lock_wait_timeout=-1)
    with pytest.raises(ConfigError, match=r"Unknown in_memory lock store option\(s\) \['url'\]"):
        InMemoryLockSettings.from_config({"url": "localhost"})
    with pytest.raises(ConfigError, match="not an in-memory"):
        InMemoryLockSettings.from_dsn("redis://x")
