"""What every HTTP API route module shares: the runtime, auth and the no-model answer.

API routes answer ``409 Conflict`` while no model is loaded, as Rasa's
server does (channels answer 503 instead: for them it is an outage). The
handler is registered on each API blueprint, so it applies to API routes only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sanic import Blueprint, HTTPResponse, Request

from palaver.server.auth import authorize
from palaver.server.errors import error
from palaver.server.runtime import ModelNotReadyError, Runtime

if TYPE_CHECKING:
    from palaver.core.model import LoadedModel
    from palaver.core.processor import MessageProcessor

NO_MODEL_MESSAGE = (
    "No model is loaded. To continue processing, a trained model needs to be loaded (PUT /model)."
)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.ctx.runtime
    return runtime


def authorized(request: Request, conversation_id: str | None = None) -> Runtime:
    """The runtime, after checking the request's token or JWT (401/403)."""
    runtime = runtime_of(request)
    authorize(request, runtime, conversation_id)
    return runtime


def processor_of(runtime: Runtime) -> MessageProcessor:
    processor = runtime.processor
    if processor is None:
        raise ModelNotReadyError(runtime.not_ready_reason)
    return processor


def current_model(runtime: Runtime) -> LoadedModel:
    """The loaded model (``ModelNotReadyError``, answered with 409, if there is none)."""
    return runtime.model


async def model_not_ready(request: Request, exc: Exception) -> HTTPResponse:
    return error(409, "Conflict", NO_MODEL_MESSAGE, {"reason": str(exc)})


def api_blueprint(name: str) -> Blueprint:
    """A blueprint for API routes, answering 409 while no model is loaded."""
    blueprint = Blueprint(name)
    blueprint.exception(ModelNotReadyError)(model_not_ready)
    return blueprint
