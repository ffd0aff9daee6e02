"""Fixtures for action tests: a real HTTP action server and a client for it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from palaver.actions.client import ActionServerClient
from palaver.actions.endpoint import EndpointSettings, HttpClient
from tests.unit.actions.helpers import FakeActionServer


@pytest.fixture
async def action_server() -> AsyncIterator[FakeActionServer]:
    server = FakeActionServer()

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        server.bodies.append(body)
        server.headers.append(dict(request.headers))
        server.query.append(dict(request.query))
        transport = request.transport
        server.peers.append(transport.get_extra_info("sockname") if transport else None)
        # aiohttp has already inflated a ``Content-Encoding: deflate`` body.

        payload = json.loads(body)
        server.requests.append(payload)
        handler = server.handlers.get(payload["next_action"])
        if handler is None:
            return web.json_response(
                {
                    "error": f"No registered action found for name '{payload['next_action']}'.",
                    "action_name": payload["next_action"],
                },
                status=404,
            )
        result = handler(payload)
        if not isinstance(result, tuple):
            result = await result
        status, data = result
        if isinstance(data, (bytes, str)):
            return web.Response(status=status, body=data)
        return web.json_response(data, status=status)

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}/webhook"
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.fixture
async def client(action_server: FakeActionServer) -> AsyncIterator[ActionServerClient]:
    settings = EndpointSettings.from_config({"url": action_server.url, "retries": 0})
    async with HttpClient() as http:
        yield ActionServerClient(settings, http)
