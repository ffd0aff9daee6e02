"""Routes every server has: ``/``, ``/version``, ``/status``, ``/ready``, ``/metrics``."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import json as json_response
from sanic.response import text as text_response

from palaver import RASA_COMPAT_VERSION, __version__
from palaver.server.runtime import Runtime

blueprint = Blueprint("basic")

# The oldest Rasa version whose clients and action servers we stay compatible with.
MINIMUM_COMPATIBLE_VERSION = "3.5.0"


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.ctx.runtime
    return runtime


@blueprint.get("/")
async def hello(request: Request) -> HTTPResponse:
    return text_response(f"Hello from Palaver: {__version__}")


@blueprint.get("/version")
async def version(request: Request) -> HTTPResponse:
    return json_response(
        {
            "version": RASA_COMPAT_VERSION,
            "minimum_compatible_version": MINIMUM_COMPATIBLE_VERSION,
            "palaver_version": __version__,
        }
    )


@blueprint.get("/status")
async def status(request: Request) -> HTTPResponse:
    runtime = runtime_of(request)
    if runtime.settings.enable_api:
        from palaver.server.auth import authorize

        authorize(request, runtime, conversation_id=None)
    return json_response(runtime.status())


@blueprint.get("/ready")
async def ready(request: Request) -> HTTPResponse:
    runtime = runtime_of(request)
    if runtime.is_ready:
        return json_response({"status": "ready", "model_id": runtime.model_id})
    return json_response({"status": "not ready", "reason": runtime.not_ready_reason}, status=503)


@blueprint.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    """Prometheus text format of the runtime counters."""
    return text_response(runtime_of(request).metrics_text())
