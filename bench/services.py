"""Backing services for the stack scenarios, started on demand and stopped at the end.

By default every service is private to the benchmark (tests/services.py):
a throw-away Redis, a throw-away PostgreSQL cluster and Tansu (a Kafka-wire
broker, in memory), so other work on the machine's shared servers neither
disturbs nor is disturbed by a run. ``shared=True`` uses the machine's Redis
(db 9, a fresh key prefix per scenario) and PostgreSQL (a fresh database per
scenario, dropped afterwards) instead; Kafka is always Tansu.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from tests import services as test_services


def _wait_accepting(dsn: str, timeout: float = 60.0) -> None:
    """Wait until PostgreSQL accepts connections (its port opens before it is ready)."""
    import asyncpg

    async def probe() -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = await asyncpg.connect(dsn, timeout=5)
            except (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
                continue
            await conn.close()
            return

    asyncio.run(probe())


class Services:
    def __init__(self, shared: bool = False) -> None:
        self.shared = shared
        self._stack = contextlib.ExitStack()
        self._redis_url: str | None = None
        self._pg_dsn: str | None = None
        self._kafka: str | None = None
        self._databases: list[str] = []

    # -- lazily started servers -------------------------------------------------------

    def redis_url(self) -> str:
        if self._redis_url is None:
            if self.shared:
                if not test_services.port_open("127.0.0.1", 6379):
                    raise RuntimeError("no shared Redis on 127.0.0.1:6379")
                self._redis_url = f"{test_services.REDIS_URL}/9"
            else:
                redis = test_services.PrivateRedis()
                self._stack.enter_context(redis)
                self._redis_url = f"{redis.url}/0"
        return self._redis_url

    def postgres_server(self) -> str:
        """DSN of the server's ``postgres`` database (for creating databases)."""
        if self._pg_dsn is None:
            if self.shared:
                host, port = test_services.POSTGRES_HOST, test_services.POSTGRES_PORT
                if not test_services.port_open(host, port):
                    raise RuntimeError(f"no shared PostgreSQL on {host}:{port}")
                self._pg_dsn = f"postgresql://{test_services.POSTGRES_USER}@{host}:{port}/postgres"
            else:
                pg = self._stack.enter_context(test_services.private_postgres())
                self._pg_dsn = pg.dsn
            _wait_accepting(self._pg_dsn)
        return self._pg_dsn

    def kafka_bootstrap(self) -> str:
        if self._kafka is None:
            broker = test_services.TansuBroker()
            self._stack.enter_context(broker)
            self._kafka = broker.bootstrap
        return self._kafka

    def new_database(self, label: str) -> str:
        """A fresh database; returns its DSN. Dropped when the services stop."""
        import asyncpg

        server = self.postgres_server()
        name = f"palaver_bench_{label}_{uuid.uuid4().hex[:8]}"

        async def create() -> None:
            conn = await asyncpg.connect(server)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        self._databases.append(name)
        return server.rsplit("/", 1)[0] + f"/{name}"

    def new_prefix(self, label: str) -> str:
        return f"palaver-bench-{label}-{uuid.uuid4().hex[:8]}"

    # -- endpoints.yml ----------------------------------------------------------------

    def endpoints(
        self,
        path: Path,
        *,
        store: str,
        lock: str,
        broker: bool,
        label: str,
        outbox_dir: Path | None = None,
    ) -> dict[str, Any]:
        """Write an endpoints.yml for a stack; returns the config (with its DSNs)."""
        config: dict[str, Any] = {}
        prefix = self.new_prefix(label)
        if store == "memory":
            config["tracker_store"] = {"type": "in_memory"}
        elif store == "redis":
            config["tracker_store"] = {
                "type": "redis",
                "url": self.redis_url(),
                "key_prefix": prefix,
            }
        elif store == "postgres":
            dsn = self.new_database(label)
            config["tracker_store"] = {
                "type": "sql", "dialect": "postgresql", "url": dsn, "db": dsn.rsplit("/", 1)[1],
            }  # fmt: skip
        else:
            raise ValueError(f"unknown store {store!r}")
        if lock == "memory":
            config["lock_store"] = {"type": "in_memory"}
        else:
            config["lock_store"] = {"type": "redis", "url": self.redis_url(), "key_prefix": prefix}
        if broker:
            config["event_broker"] = {
                "type": "kafka",
                "url": self.kafka_bootstrap(),
                "topic": f"bench_{uuid.uuid4().hex[:8]}",
                "partition_by_sender": True,
                "outbox_dir": str(outbox_dir or path.parent / f"outbox-{prefix}"),
            }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return config

    # -- lifecycle --------------------------------------------------------------------

    def _drop_databases(self) -> None:
        if not self._databases or self._pg_dsn is None:
            return
        import asyncpg

        server = self._pg_dsn

        async def drop() -> None:
            conn = await asyncpg.connect(server)
            try:
                for name in self._databases:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        with contextlib.suppress(Exception):
            asyncio.run(drop())
        self._databases.clear()

    def close(self) -> None:
        self._drop_databases()
        self._stack.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
