"""Helpers for HTTP API tests: module-scoped servers and a small JSON client."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests import services
from tests.integration.conftest import ServerProcess


class ServerPool:
    """Servers that live as long as a test module (starting one takes seconds)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[ServerProcess] = []

    def start(
        self, args: list[str], ready_path: str = "/", env: dict[str, str] | None = None
    ) -> ServerProcess:
        port = services.free_port()
        full_env = {**os.environ, **(env or {})}
        server = ServerProcess(args, port, self.logs / f"server-{port}.log", full_env)
        self.started.append(server)
        server.wait_ready(timeout=60, path=ready_path)
        return server

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for server in self.started:
            server.stop()


def copy_model(model: Path, directory: Path) -> Path:
    """A private copy of a trained model (servers write trained models next to it)."""
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(model, directory / model.name))


class Api:
    """A JSON client for one server."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | str | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"params": params or {}, "headers": headers or {}}
        if data is not None:
            kwargs["data"] = data
        elif body is not None:
            kwargs["json"] = body
        async with self.session.request(method, self.url + path, **kwargs) as resp:
            raw = await resp.read()
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, raw

    async def raw(self, method: str, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        async with self.session.request(method, self.url + path, **kwargs) as resp:
            await resp.read()
            return resp


class Receiver:
    """A local HTTP server recording what is POSTed to it (callback URLs, channels)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._arrived = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        self._arrived.set()
        return web.Response(text="ok")

    async def start(self, path: str = "/callback") -> Receiver:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post(path, self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = services.free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}{path}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, seconds: float = 30.0) -> None:
        """Wait until ``count`` requests arrived (TimeoutError after ``seconds``)."""
        async with asyncio.timeout(seconds):
            while True:
                self._arrived.clear()
                if len(self.requests) >= count:
                    return
                await self._arrived.wait()


Reply = tuple[int, Any]
Handler = Callable[[str, bytes], Reply]


class StubServer:
    """A threaded HTTP server answering POSTs with ``handler(path, body)`` and recording them.

    It runs in its own thread, so it can live as long as a test module and
    serve servers started before the tests' event loops exist.
    """

    def __init__(self, handler: Handler | None = None) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self._handler = handler or (lambda path, body: (200, {"ok": True}))
        self._lock = threading.Lock()
        stub = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with stub._lock:
                    stub.requests.append((self.path, dict(self.headers), body))
                status, reply = stub._handler(self.path, body)
                payload = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies(self, path: str | None = None) -> list[Any]:
        with self._lock:
            return [json.loads(b) for p, _, b in self.requests if path is None or p == path]

    async def wait_for(self, count: int, path: str | None = None, seconds: float = 20.0) -> None:
        """Poll until ``count`` requests (to ``path``) arrived; the stub runs in another thread."""
        deadline = time.monotonic() + seconds
        while True:
            arrived = len(self.bodies(path))
            if arrived >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{arrived} of {count} requests arrived")
            await asyncio.sleep(0.05)
