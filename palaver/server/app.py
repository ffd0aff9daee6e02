"""Build the Sanic application: channels, routes, listeners and error handling.

Routes live in ``palaver/server/routes`` (one Blueprint per module); this module
only assembles them. The ``Runtime`` (model, stores, locks, broker, clients) is
created before the app and started and stopped by the app's listeners.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sanic import HTTPResponse, Request, Sanic
from sanic.exceptions import SanicException

from palaver.errors import (
    LockError,
    LockLostError,
    LockTimeoutError,
    ModelError,
    PalaverError,
    StaleWriteError,
    StoreUnavailableError,
)
from palaver.server.errors import ErrorResponse, error
from palaver.server.runtime import ModelNotReadyError, Runtime

logger = logging.getLogger(__name__)

APP_NAME = "palaver"


def _error_for(exc: Exception) -> HTTPResponse:
    if isinstance(exc, ErrorResponse):
        return exc.response()
    if isinstance(exc, LockTimeoutError):
        return error(
            503,
            "LockTimeout",
            str(exc),
            {"conversation_id": exc.conversation_id, "waited_seconds": round(exc.waited, 3)},
        )
    if isinstance(exc, LockLostError):  # expired under a slow turn; nothing was stored
        return error(503, "LockLost", str(exc))
    if isinstance(exc, LockError):  # the lock store is unreachable or stopped
        return error(503, "LockStoreUnavailable", str(exc))
    if isinstance(exc, ModelNotReadyError):
        return error(503, "ModelNotReady", str(exc))
    if isinstance(exc, StaleWriteError):
        return error(409, "ConversationConflict", str(exc))
    if isinstance(exc, StoreUnavailableError):
        return error(503, "TrackerStoreUnavailable", str(exc))
    if isinstance(exc, ModelError):
        return error(409, "ModelError", str(exc))
    if isinstance(exc, SanicException):
        status = int(getattr(exc, "status_code", 500) or 500)
        reason = type(exc).__name__
        if status == 413:
            return error(413, "PayloadTooLarge", "The request body is too large.")
        return error(status, reason, str(exc) or reason)
    if isinstance(exc, PalaverError):
        logger.error("request failed: %s", exc)
        return error(500, type(exc).__name__, str(exc))
    logger.exception("unhandled error while serving a request")
    return error(500, "InternalServerError", "An unexpected error occurred; see the server log.")


def event_loop_name() -> str:
    """``uvloop`` or ``asyncio``: the implementation of the running loop."""
    module = type(asyncio.get_running_loop()).__module__
    return module.split(".")[0]


def create_app(runtime: Runtime, name: str = APP_NAME) -> Sanic[Any, Any]:
    """Create the Sanic app serving ``runtime``."""
    from palaver.server.cors import install_cors
    from palaver.server.routes import basic

    app: Sanic[Any, Any] = Sanic(name, configure_logging=False)
    app.config.REQUEST_MAX_SIZE = runtime.settings_max_body
    app.config.RESPONSE_TIMEOUT = runtime.settings.response_timeout
    app.config.REQUEST_TIMEOUT = 60
    app.config.KEEP_ALIVE_TIMEOUT = 75
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.NOISY_EXCEPTIONS = False
    # Set here, so that SANIC_USE_UVLOOP in the environment does not override it.
    app.config.USE_UVLOOP = runtime.settings.event_loop == "uvloop"
    app.ctx.runtime = runtime

    async def handle_error(request: Request, exc: Exception) -> HTTPResponse:
        return _error_for(exc)

    app.error_handler.add(Exception, handle_error)

    app.blueprint(basic.blueprint)
    for channel_bp in runtime.channel_blueprints():
        app.blueprint(channel_bp)
    if runtime.settings.enable_api:
        from palaver.server.routes import api_blueprints

        for bp in api_blueprints():
            app.blueprint(bp)
    if runtime.settings.cors:
        install_cors(app, runtime.settings.cors)

    async def start_runtime(app: Sanic[Any, Any]) -> None:
        logger.info("serving on the %s event loop", event_loop_name())
        await runtime.start()

    async def stop_runtime(app: Sanic[Any, Any]) -> None:
        await runtime.stop()

    app.register_listener(start_runtime, "before_server_start")
    app.register_listener(stop_runtime, "after_server_stop")

    return app
