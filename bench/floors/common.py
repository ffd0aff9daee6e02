"""What both floor apps share: the Sanic settings Palaver uses and the payload check."""

from __future__ import annotations

import argparse
import logging
from typing import Any

import orjson
from sanic import HTTPResponse, Request, Sanic

from palaver.server.settings import DEFAULT_EVENT_LOOP, EVENT_LOOPS

REPLY_TEXT = "Hey! How are you?"


def bad_request(reason: str) -> HTTPResponse:
    return HTTPResponse(
        orjson.dumps({"status": "failure", "reason": "BadRequest", "message": reason}),
        status=400,
        content_type="application/json",
    )


def read_message(request: Request) -> tuple[str, str] | HTTPResponse:
    """``(sender, text)`` of a REST-channel payload, or a 400 (Palaver's checks, in short)."""
    try:
        payload = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return bad_request("The request body is not valid JSON.")
    if not isinstance(payload, dict):
        return bad_request("The request body must be a JSON object.")
    sender, text = payload.get("sender"), payload.get("message")
    if not isinstance(sender, str) or not sender.strip() or not isinstance(text, str):
        return bad_request("Fields 'sender' and 'message' must be strings.")
    return sender, text


def reply(sender: str) -> HTTPResponse:
    return HTTPResponse(
        orjson.dumps([{"recipient_id": sender, "text": REPLY_TEXT}]),
        content_type="application/json",
    )


def new_app(name: str) -> Sanic[Any, Any]:
    app: Sanic[Any, Any] = Sanic(name, configure_logging=False)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.NOISY_EXCEPTIONS = False
    app.config.KEEP_ALIVE_TIMEOUT = 75
    return app


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--event-loop", choices=EVENT_LOOPS, default=DEFAULT_EVENT_LOOP)
    return p


def serve(app: Sanic[Any, Any], host: str, port: int, event_loop: str = DEFAULT_EVENT_LOOP) -> None:
    """As ``palaver run`` serves: one process, access log off, the same event loop."""
    logging.basicConfig(level=logging.WARNING)
    app.config.USE_UVLOOP = event_loop == "uvloop"
    app.run(host=host, port=port, single_process=True, access_log=False, motd=False)
