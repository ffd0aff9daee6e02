"""A model server implementing Rasa's ETag contract, in its own thread and loop.

It runs in a thread so that it keeps answering while a test blocks (for
example while waiting for a server subprocess to start).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.services import free_port


@dataclass
class ModelServerRequest:
    if_none_match: str | None
    query: dict[str, str]
    status: int


@dataclass
class _Served:
    body: bytes | None = None
    etag: str | None = None
    status: int | None = None  # forced status (e.g. 500), overrides everything


@dataclass
class FakeModelServer:
    """``GET /model`` -> 200 + ETag, 304 when If-None-Match matches, 204 with no model."""

    port: int = field(default_factory=free_port)
    send_etag: bool = True
    ignore_if_none_match: bool = False
    token: str | None = None
    requests: list[ModelServerRequest] = field(default_factory=list)
    _served: _Served = field(default_factory=_Served)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/model"

    def serve(self, archive: Path | None, etag: str | None = None) -> None:
        """Serve ``archive`` (None: nothing, 204) under ``etag`` (default: its name)."""
        body = archive.read_bytes() if archive is not None else None
        tag = etag or (f'"{archive.name}"' if archive is not None else None)
        self._served = _Served(body=body, etag=tag)

    def fail_with(self, status: int) -> None:
        self._served = _Served(self._served.body, self._served.etag, status)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        served = self._served
        inm = request.headers.get("If-None-Match")
        status = self._status(served, inm, request)
        self.requests.append(ModelServerRequest(inm, dict(request.query), status))
        if status != 200:
            return web.Response(status=status)
        headers = {"ETag": served.etag} if self.send_etag and served.etag else {}
        return web.Response(body=served.body, headers=headers, content_type="application/gzip")

    def _status(self, served: _Served, inm: str | None, request: web.Request) -> int:
        if self.token is not None and request.query.get("token") != self.token:
            return 401
        if served.status is not None:
            return served.status
        if served.body is None:
            return 204
        if not self.ignore_if_none_match and inm is not None and inm == served.etag:
            return 304
        return 200

    # ------------------------------------------------------------ lifecycle
    def start(self) -> FakeModelServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake model server did not start")
        return self

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_get("/model", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        loop.run_until_complete(site.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
            self._thread = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
