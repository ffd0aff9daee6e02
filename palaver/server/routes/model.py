"""Model routes of the HTTP API: parse, predict, train, test, load and unload.

Training, cross-validation and evaluations run in a child process
(``palaver.server.offload``): they are CPU-bound, and the event loop keeps
serving conversations meanwhile. With ``callback_url`` the route answers 204
at once and POSTs the result (or the error envelope) to that URL later.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from sanic import HTTPResponse, Request
from sanic.response import json as json_response
from sanic.response import raw

from palaver.channels.base import UserMessage
from palaver.channels.rest import DEFAULT_MAX_MESSAGE_CHARS
from palaver.core.events import events_from_dicts
from palaver.core.processor import MessageProcessor
from palaver.core.tracker import DialogueStateTracker
from palaver.errors import ConfigError, InvalidEventError, ModelError, ModelStorageUnavailableError
from palaver.nlu.training_data import NLUTrainingData
from palaver.quality.evaluation import predict_next_action
from palaver.server import emulators
from palaver.server.api import api_blueprint, authorized, current_model
from palaver.server.errors import ErrorResponse, error
from palaver.server.offload import JobFailed, run_job
from palaver.server.params import (
    bad_parameter,
    bool_arg,
    content_type,
    int_arg,
    json_body,
    json_object,
    optional_str,
    str_arg,
    text_body,
    verbosity_arg,
)
from palaver.server.runtime import Runtime
from palaver.server.training_payload import (
    CONFIG_KEYS,
    JSON_TYPES,
    nlu_from_document,
    parse_document,
    stories_from_text,
    write_project,
)

logger = logging.getLogger(__name__)

blueprint = api_blueprint("model")

DEFAULT_SENDER_ID = "default"
DEFAULT_MODELS_DIR = Path("models")
MAX_CROSS_VALIDATION_FOLDS = 20

Work = Callable[[], Awaitable[HTTPResponse]]


# --- helpers ---------------------------------------------------------------------------------


def models_directory(runtime: Runtime) -> Path:
    """Where trained models go by default: the directory the server loads its model from."""
    configured = runtime.settings.model_path
    if configured is None:
        return DEFAULT_MODELS_DIR
    return configured if configured.is_dir() or not configured.suffix else configured.parent


def job_error(exc: JobFailed, reason: str, workdir: Path | None = None) -> ErrorResponse:
    """The envelope for a failed child job: 400 for bad data, 500 otherwise."""
    message = str(exc)
    if workdir is not None:
        # File names in messages point into the temporary project, not at the client.
        message = message.replace(f"{workdir}/project/", "").replace(f"{workdir}/", "")
    if exc.client_error:
        return ErrorResponse(400, reason, message, {"in": "body"})
    return ErrorResponse(500, reason, message)


async def _post_callback(runtime: Runtime, url: str, response: HTTPResponse) -> None:
    headers = {"Content-Type": response.content_type or "application/json"}
    if "filename" in response.headers:
        headers["filename"] = response.headers["filename"]
    session = runtime.http
    try:
        async with session.post(url, data=response.body or b"", headers=headers) as reply:
            if reply.status >= 400:
                logger.error("callback url answered HTTP %s to a result", reply.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.error("callback url %s unreachable: %s", url.split("?", 1)[0], exc)


async def _run_for_callback(runtime: Runtime, url: str, work: Work) -> None:
    try:
        response = await work()
    except ErrorResponse as exc:
        response = exc.response()
    except Exception:
        logger.exception("a request processed for callback_url failed")
        response = error(500, "UnexpectedError", "An unexpected error occurred; see the log.")
    await _post_callback(runtime, url, response)


def respond(request: Request, runtime: Runtime, work: Work) -> Awaitable[HTTPResponse]:
    """Run ``work`` now, or later with its result POSTed to ``callback_url`` (204 now)."""
    callback_url = str_arg(request, "callback_url")
    if callback_url is None:
        return work()
    request.app.add_task(_run_for_callback(runtime, callback_url, work))

    async def accepted() -> HTTPResponse:
        return HTTPResponse(status=204)

    return accepted()


def _job_timeout(runtime: Runtime) -> float:
    return float(runtime.settings.response_timeout)


# --- parse -----------------------------------------------------------------------------------


@blueprint.post("/model/parse")
async def parse(request: Request) -> HTTPResponse:
    """Intent and entities of a text, optionally in wit/luis/dialogflow format."""
    runtime = authorized(request)
    mode = str_arg(request, "emulation_mode")
    try:
        emulate = emulators.emulator_for(mode)
    except KeyError as exc:
        raise bad_parameter(
            "emulation_mode",
            "query",
            f"Invalid parameter value for 'emulation_mode': {mode!r}. "
            "Should be one of 'WIT', 'LUIS', 'DIALOGFLOW'.",
        ) from exc
    body = json_object(request, "{text, message_id}")
    text = emulators.request_text(body)
    if not isinstance(text, str):
        raise bad_parameter("text", "body", "Field 'text' must be a string.")
    if len(text) > DEFAULT_MAX_MESSAGE_CHARS:
        raise ErrorResponse(
            413,
            "PayloadTooLarge",
            f"Field 'text' has {len(text)} characters; at most "
            f"{DEFAULT_MAX_MESSAGE_CHARS} are accepted.",
        )
    message_id = optional_str(body, "message_id")
    model = current_model(runtime)
    parsed = await MessageProcessor.parse_off_loop(
        model, UserMessage(text, DEFAULT_SENDER_ID, message_id=message_id)
    )
    parsed.pop("metadata", None)
    if message_id is None:
        parsed.pop("message_id", None)
    return json_response(emulate(parsed))


# --- predict ---------------------------------------------------------------------------------


@blueprint.post("/model/predict")
async def predict(request: Request) -> HTTPResponse:
    """Scores of every action for a conversation given as events; nothing is stored or run."""
    runtime = authorized(request)
    verbosity = verbosity_arg(request)
    model = current_model(runtime)
    body = json_body(request, "a list of events")
    if not isinstance(body, list):
        raise ErrorResponse(
            400, "BadRequest", "The request body must be a list of events.", {"in": "body"}
        )
    try:
        events = events_from_dicts(body)
    except InvalidEventError as exc:
        raise ErrorResponse(
            400, "BadRequest", f"Supplied events are not valid: {exc}", {"in": "body"}
        ) from exc
    tracker = DialogueStateTracker.from_events(
        DEFAULT_SENDER_ID, events, model.domain.create_slots()
    )
    prediction = predict_next_action(tracker, model)
    return json_response(
        {
            "scores": prediction.score_list(),
            "policy": prediction.policy,
            "confidence": prediction.confidence,
            "tracker": tracker.current_state(verbosity),
        }
    )


# --- train -----------------------------------------------------------------------------------


async def _train(runtime: Runtime, workdir: Path, out_dir: Path, force: bool) -> HTTPResponse:
    runtime.counters.active_training_jobs += 1
    try:
        result = await run_job(
            "train",
            {"project": str(workdir / "project"), "out_dir": str(out_dir), "force": force},
            time_limit=_job_timeout(runtime),
        )
        archive = Path(result["archive"])
        body = await asyncio.to_thread(archive.read_bytes)
    except JobFailed as exc:
        raise job_error(exc, "TrainingError", workdir) from exc
    finally:
        runtime.counters.active_training_jobs -= 1
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    return raw(
        body,
        content_type="application/octet-stream",
        headers={
            "filename": archive.name,
            "Content-Disposition": f'attachment; filename="{archive.name}"',
        },
    )


@blueprint.post("/model/train")
async def train(request: Request) -> HTTPResponse:
    """Train a model from a YAML (or JSON) project document; answers the archive.

    The model is saved in the server's model directory unless
    ``save_to_default_model_directory=false``; it is not loaded.
    """
    runtime = authorized(request)
    save_to_default = bool_arg(request, "save_to_default_model_directory", True)
    force = bool_arg(request, "force_training", False)
    # Accepted for compatibility; Palaver's trainer takes neither.
    int_arg(request, "augmentation", 50, minimum=0, maximum=1000)
    int_arg(request, "num_threads", 1, minimum=1, maximum=1024)
    document = parse_document(text_body(request, "training data"), content_type(request))
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="palaver-train-"))
    try:
        await asyncio.to_thread(write_project, document, workdir / "project")
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
        raise
    out_dir = models_directory(runtime) if save_to_default else workdir / "models"
    return await respond(request, runtime, partial(_train, runtime, workdir, out_dir, force))


# --- test ------------------------------------------------------------------------------------


def _examples_json(data: NLUTrainingData) -> list[dict[str, Any]]:
    return [
        {"text": e.text, "intent": e.intent, "entities": [s.as_dict() for s in e.entities]}
        for e in data.examples
    ]


def _archive_for_evaluation(runtime: Runtime, model_param: str | None) -> str:
    if model_param is not None:
        return model_param
    archive = current_model(runtime).archive
    if archive is None or not archive.exists():
        raise ErrorResponse(409, "Conflict", "The loaded model's archive is no longer on disk.")
    return str(archive)


async def _evaluate(runtime: Runtime, job: str, arguments: dict[str, Any]) -> HTTPResponse:
    try:
        result = await run_job(job, arguments, time_limit=_job_timeout(runtime))
    except JobFailed as exc:
        if exc.kind == "ModelError":
            raise bad_parameter("model", "query", f"The model could not be loaded: {exc}") from exc
        raise job_error(exc, "TestingError") from exc
    return json_response(result)


@blueprint.post("/model/test/intents")
async def test_intents(request: Request) -> HTTPResponse:
    """Evaluate NLU on labelled examples (or cross-validate a pipeline on them)."""
    runtime = authorized(request)
    folds = int_arg(
        request, "cross_validation_folds", None, minimum=2, maximum=MAX_CROSS_VALIDATION_FOLDS
    )
    model_param = str_arg(request, "model")
    text = text_body(request, "NLU test data")
    media_type = content_type(request)
    document = parse_document(text, media_type)
    data = nlu_from_document(document)
    if folds is not None:
        if media_type in JSON_TYPES:
            raise bad_parameter(
                "cross_validation_folds",
                "query",
                "Cross-validation is only supported for YAML data.",
            )
        config = {key: document[key] for key in CONFIG_KEYS if key in document}
        arguments = {"nlu_yaml": text, "config": config, "folds": folds}
        work = partial(_evaluate, runtime, "cross_validate", arguments)
    else:
        archive = _archive_for_evaluation(runtime, model_param)
        arguments = {"archive": archive, "examples": _examples_json(data)}
        work = partial(_evaluate, runtime, "test_intents", arguments)
    return await respond(request, runtime, work)


@blueprint.post("/model/test/stories")
async def test_stories(request: Request) -> HTTPResponse:
    """Evaluate the loaded model's policies on YAML test stories."""
    runtime = authorized(request)
    e2e = bool_arg(request, "e2e", False)
    model = current_model(runtime)
    text = text_body(request, "test stories")
    slot_types = {slot.name: slot.type_name for slot in model.domain.slots}
    stories_from_text(text, slot_types)  # 400 for invalid stories, before starting the job
    archive = _archive_for_evaluation(runtime, None)
    return await _evaluate(
        runtime, "test_stories", {"archive": archive, "stories_yaml": text, "e2e": e2e}
    )


# --- load / unload ---------------------------------------------------------------------------


@blueprint.put("/model")
async def replace_model(request: Request) -> HTTPResponse:
    """Load a model from a file, a model server or remote storage, and serve it."""
    runtime = authorized(request)
    body = json_object(request, "{model_file, model_server, remote_storage}")
    model_file = optional_str(body, "model_file")
    remote_storage = optional_str(body, "remote_storage")
    model_server = body.get("model_server")
    if model_server is not None and not isinstance(model_server, dict):
        raise bad_parameter("model_server", "body", "Field 'model_server' must be an object.")
    try:
        await runtime.load_model_from(
            model_file=model_file, model_server=model_server, remote_storage=remote_storage
        )
    except ConfigError as exc:
        raise ErrorResponse(400, "BadRequest", str(exc), {"in": "body"}) from exc
    except ModelStorageUnavailableError as exc:
        raise ErrorResponse(502, "ModelStorageUnavailable", str(exc)) from exc
    except ModelError as exc:
        raise ErrorResponse(400, "BadRequest", f"The model could not be loaded: {exc}") from exc
    return HTTPResponse(status=204)


@blueprint.delete("/model")
async def unload_model(request: Request) -> HTTPResponse:
    """Stop serving the current model; API routes answer 409 and channels 503 until a new one."""
    runtime = authorized(request)
    runtime.unload_model()
    return HTTPResponse(status=204)
