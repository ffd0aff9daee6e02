"""The multiplexed Redis connection, against real Redis servers.

Ordinary behaviour runs on the machine's Redis (db 9, keys under a per-test
prefix); outages, pauses and passwords on a private ``redis-server``.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    NoPermissionError,
    NoScriptError,
    ResponseError,
    TimeoutError,
)

from palaver.redis_mux import RedisAddress, RedisMultiplexer, address_of, pack_command
from tests.services import PrivateRedis

pytestmark = pytest.mark.redis


def _address(url: str, **extra: Any) -> RedisAddress:
    host_port, _, db = url.removeprefix("redis://").partition("/")
    host, _, port = host_port.partition(":")
    return RedisAddress(**{"host": host, "port": int(port or 6379), "db": int(db or 0), **extra})


@pytest.fixture
async def mux(redis_url: str) -> AsyncIterator[RedisMultiplexer]:
    m = RedisMultiplexer(_address(redis_url), timeout=5)
    yield m
    await m.close()


@pytest.fixture
async def make_mux() -> AsyncIterator[Callable[..., RedisMultiplexer]]:
    """``make_mux(url, timeout=2, **address)``; every one made is closed afterwards."""
    made: list[RedisMultiplexer] = []

    def make(url: str, timeout: float = 2.0, **address: Any) -> RedisMultiplexer:
        made.append(RedisMultiplexer(_address(url, **address), timeout))
        return made[-1]

    yield make
    for mux in made:
        await mux.close()


@pytest.fixture
async def admin(private_redis: PrivateRedis) -> AsyncIterator[Redis]:
    """A redis-py client of the private server, to inspect it and disturb it."""
    client = Redis.from_url(private_redis.url)
    yield client
    await client.aclose()


async def _wait_until(condition: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# -- encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("PING",),
        ("SET", "key", "value", "PX", 30000),
        ("EVALSHA", "ab" * 20, 2, "k:1", "k:2", -5, ""),
        ("SET", "ключ", "värde 🙂"),
        ("SET", b"raw\r\nbytes", b"\x00\xff"),
        ("EXPIRE", "key", 1.5, 0.1, 1e20),
    ],
)
def test_commands_are_encoded_as_redis_py_encodes_them(args: tuple[Any, ...]) -> None:
    expected = b"".join(Connection().pack_command(*args))
    assert pack_command(args) == expected


@pytest.mark.parametrize("bad", [True, None, ["list"]])
def test_arguments_that_redis_py_would_coerce_are_refused(bad: object) -> None:
    with pytest.raises(TypeError, match="not a str, bytes, int or float"):
        pack_command(("SET", "key", bad))  # type: ignore[arg-type]


# -- one connection, many callers ---------------------------------------------------------


async def test_each_caller_gets_its_own_reply(mux: RedisMultiplexer, redis_prefix: str) -> None:
    replies = await asyncio.gather(*(mux.execute("ECHO", f"message {i}") for i in range(300)))
    assert replies == [f"message {i}".encode() for i in range(300)]
    assert await mux.execute("SET", f"{redis_prefix}k", "v") == b"OK"
    assert await mux.execute("GET", f"{redis_prefix}k") == b"v"
    assert await mux.execute("GET", f"{redis_prefix}missing") is None
    assert await mux.execute("RPUSH", f"{redis_prefix}l", "a", "b") == 2
    assert await mux.execute("LRANGE", f"{redis_prefix}l", 0, -1) == [b"a", b"b"]


async def test_commands_of_one_loop_round_go_out_in_one_write(
    mux: RedisMultiplexer, redis_prefix: str
) -> None:
    await mux.execute("PING")  # connected
    conn = mux._conn
    assert conn is not None
    writes: list[bytes] = []
    write = conn.writer.write

    def counting_write(data: bytes) -> None:
        writes.append(data)
        write(data)

    conn.writer.write = counting_write  # type: ignore[method-assign]
    counter = f"{redis_prefix}n"
    results = await asyncio.gather(*(mux.execute("INCR", counter) for _ in range(200)))
    assert sorted(results) == list(range(1, 201))
    assert results == list(range(1, 201))  # and in the order they were issued
    assert len(writes) == 1
    # A command issued after the round is written in a round of its own.
    assert await mux.execute("GET", counter) == b"200"
    assert len(writes) == 2


async def test_an_error_reply_fails_only_its_own_command(
    mux: RedisMultiplexer, redis_prefix: str
) -> None:
    key = f"{redis_prefix}s"
    results = await asyncio.gather(
        mux.execute("SET", key, "text"),
        mux.execute("INCR", key),  # not an integer
        mux.execute("GET", key),
        return_exceptions=True,
    )
    assert results[0] == b"OK"
    assert isinstance(results[1], ResponseError)
    assert "not an integer" in str(results[1])
    assert results[2] == b"text"


async def test_unknown_script_is_a_noscript_error(mux: RedisMultiplexer) -> None:
    with pytest.raises(NoScriptError):
        await mux.execute("EVALSHA", "0" * 40, 0)
    assert await mux.execute("PING") == b"PONG"


async def test_a_cancelled_caller_does_not_disturb_the_others(
    mux: RedisMultiplexer, redis_prefix: str
) -> None:
    key = f"{redis_prefix}c"
    assert await mux.execute("PING") == b"PONG"  # connected: commands queue at once
    first = asyncio.create_task(mux.execute("INCR", key))
    cancelled = asyncio.create_task(mux.execute("INCR", key))
    third = asyncio.create_task(mux.execute("INCR", key))
    await asyncio.sleep(0)  # all three queued
    cancelled.cancel()
    assert await first == 1
    assert await third == 3  # the cancelled command still ran: its reply was dropped
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await mux.execute("INCR", key) == 4


async def test_close_fails_what_has_no_reply_and_refuses_more(redis_url: str) -> None:
    mux = RedisMultiplexer(_address(redis_url), timeout=5)
    assert await mux.execute("PING") == b"PONG"
    waiting = asyncio.create_task(mux.execute("BLPOP", "palaver-test-never-pushed", 5))
    await _wait_until(lambda: mux.in_flight == 1)
    await mux.close()
    with pytest.raises(ConnectionError, match="closed"):
        await waiting
    with pytest.raises(ConnectionError, match="closed"):
        await mux.execute("PING")
    await mux.close()


# -- failures -----------------------------------------------------------------------------


async def test_unreachable_server_is_a_connection_error() -> None:
    server = PrivateRedis()  # never started
    mux = RedisMultiplexer(_address(server.url), timeout=1)
    with pytest.raises(ConnectionError, match="Cannot connect"):
        await mux.execute("PING")
    await mux.close()


async def test_outage_fails_commands_and_the_next_connection_recovers(
    private_redis: PrivateRedis,
) -> None:
    mux = RedisMultiplexer(_address(private_redis.url), timeout=2)
    try:
        assert await mux.execute("SET", "k", "1") == b"OK"
        blocked = asyncio.create_task(mux.execute("BLPOP", "never", 10))
        await _wait_until(lambda: mux.in_flight == 1)
        await asyncio.to_thread(private_redis.stop)
        with pytest.raises(ConnectionError):
            await blocked  # in flight when the server went away
        with pytest.raises(ConnectionError):
            await mux.execute("PING")  # nothing listens
        await asyncio.to_thread(private_redis.start)
        assert await mux.execute("PING") == b"PONG"
    finally:
        await mux.close()


async def test_connection_killed_by_the_server_is_replaced(
    private_redis: PrivateRedis, admin: Redis, make_mux: Callable[..., RedisMultiplexer]
) -> None:
    mux = make_mux(private_redis.url)
    client_id = await mux.execute("CLIENT", "ID")
    await admin.client_kill_filter(_id=client_id)
    await _wait_until(lambda: mux._conn is None)
    assert await mux.execute("CLIENT", "ID") != client_id


async def test_overdue_reply_times_out_every_waiting_command(
    private_redis: PrivateRedis, admin: Redis, make_mux: Callable[..., RedisMultiplexer]
) -> None:
    mux = make_mux(private_redis.url, timeout=0.3)
    assert await mux.execute("PING") == b"PONG"
    await admin.execute_command("CLIENT", "PAUSE", 1500, "ALL")
    started = time.monotonic()
    results = await asyncio.gather(mux.execute("PING"), mux.execute("PING"), return_exceptions=True)
    waited = time.monotonic() - started
    assert all(isinstance(r, TimeoutError) for r in results), results
    assert 0.25 < waited < 1.2
    await asyncio.sleep(1.5)  # the pause is over
    assert await mux.execute("PING") == b"PONG"  # on a new connection


async def test_password_and_database_are_sent_before_any_command() -> None:
    server = PrivateRedis(extra_args=("--requirepass", "s3cret"))
    await asyncio.to_thread(server.start)
    try:
        mux = RedisMultiplexer(_address(server.url, db=3, password="s3cret"), timeout=2)
        assert await mux.execute("SET", "where", "db3") == b"OK"
        await mux.close()
        check = Redis(port=server.port, db=3, password="s3cret")
        assert await check.get("where") == b"db3"
        await check.aclose()

        wrong = RedisMultiplexer(_address(server.url, password="wrong"), timeout=2)
        with pytest.raises(AuthenticationError, match="AUTH"):
            await wrong.execute("PING")
        await wrong.close()
        assert "s3cret" not in repr(_address(server.url, password="s3cret"))
    finally:
        await asyncio.to_thread(server.stop)


async def test_acl_user_and_error_classes_as_redis_py_raises_them(
    private_redis: PrivateRedis, admin: Redis, make_mux: Callable[..., RedisMultiplexer]
) -> None:
    await admin.execute_command("ACL", "SETUSER", "reader", "on", ">pw", "~*", "+get")
    mux = make_mux(private_redis.url, username="reader", password="pw")
    assert await mux.execute("GET", "anything") is None
    with pytest.raises(NoPermissionError):
        await mux.execute("SET", "anything", "1")
    assert await mux.execute("GET", "anything") is None  # the connection is fine


async def test_a_lost_script_is_loaded_once_for_all_callers(
    private_redis: PrivateRedis, admin: Redis, make_mux: Callable[..., RedisMultiplexer]
) -> None:
    script = "return redis.call('INCR', KEYS[1])"
    sha = hashlib.sha1(script.encode()).hexdigest()
    mux = make_mux(private_redis.url)
    replies = await asyncio.gather(*(mux.run_script(sha, script, ["n"], []) for _ in range(50)))
    assert sorted(replies) == list(range(1, 51))
    stats = await admin.info("commandstats")
    assert stats["cmdstat_script|load"]["calls"] == 1
    await admin.script_flush()
    assert await mux.run_script(sha, script, ["n"], []) == 51


async def test_a_caller_cancelled_while_connecting_sends_nothing(
    mux: RedisMultiplexer, redis_prefix: str
) -> None:
    key = f"{redis_prefix}early"
    early = asyncio.create_task(mux.execute("INCR", key))
    await asyncio.sleep(0)  # it is opening the connection
    assert mux._conn is None
    early.cancel()
    with pytest.raises(asyncio.CancelledError):
        await early
    assert await mux.execute("INCR", key) == 1  # the cancelled INCR never went out


def _write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``localhost`` (no IP address in it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("palaver test CA"))
        .issuer_name(name("palaver test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


async def test_tls_checks_the_certificate_and_the_host_name(tmp_path: Path) -> None:
    from palaver.locks.redis import RedisLockSettings, RedisLockStore

    ca, cert, key = _write_certificates(tmp_path)
    server = PrivateRedis()
    server.args[server.args.index("--port") + 1] = "0"  # TLS only
    server.args += ["--tls-port", str(server.port), "--tls-cert-file", str(cert)]
    server.args += ["--tls-key-file", str(key), "--tls-ca-cert-file", str(ca)]
    server.args += ["--tls-auth-clients", "no"]
    await asyncio.to_thread(server.start)
    try:
        settings = RedisLockSettings.from_config(
            {"url": f"rediss://localhost:{server.port}/2", "ssl_ca_certs": str(ca)}
        )
        assert settings.use_ssl
        mux = RedisMultiplexer(address_of(settings), timeout=2)
        assert await mux.execute("SET", "over", "tls") == b"OK"
        assert await mux.execute("GET", "over") == b"tls"
        await mux.close()

        async with RedisLockStore(settings) as store:  # its scripts go over the mux
            assert store._mux is not None
            async with store.lock("tls-conversation") as handle:
                assert handle.fence > 0

        # The certificate names localhost, not 127.0.0.1; and an unknown CA is refused.
        by_ip = replace(settings, host="127.0.0.1")
        with pytest.raises(ConnectionError, match=r"Cannot connect.*mismatch"):
            await RedisMultiplexer(address_of(by_ip), timeout=2).execute("PING")
        no_ca = replace(settings, ssl_ca_certs=str(cert))
        with pytest.raises(ConnectionError, match=r"certificate verify failed"):
            await RedisMultiplexer(address_of(no_ca), timeout=2).execute("PING")
    finally:
        await asyncio.to_thread(server.stop)
