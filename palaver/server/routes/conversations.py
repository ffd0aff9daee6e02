"""Conversation routes of the HTTP API (``/conversations/{conversation_id}/...``).

Every route that changes a conversation holds its lock for the whole
operation, so it never interleaves with a message being handled, and stores
its new events in one fenced append that is published to the event broker.
Bot messages are sent (or returned) only after that append succeeded.

Semantics follow Rasa 3.6's server: a new conversation starts with a session
(``action_session_start``) when it is first read or written; ``execute``,
``trigger_intent`` and ``messages`` also start a new session when the current
one expired; ``story``, ``execute`` and ``predict`` answer 404 for unknown
conversations; ``predict`` changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sanic import HTTPResponse, Request
from sanic.response import json as json_response
from sanic.response import text as text_response

from palaver.channels.base import UserMessage
from palaver.core.events import Event, UserUttered, do_events_begin_with_session_start
from palaver.core.events import events_from_dicts as parse_events
from palaver.core.processor import SessionMode
from palaver.core.story_writer import conversation_stories_yaml, split_sessions
from palaver.core.tracker import DialogueStateTracker, EventVerbosity
from palaver.errors import InvalidEventError
from palaver.quality.evaluation import predict_next_action
from palaver.server.api import api_blueprint, authorized, current_model, processor_of
from palaver.server.errors import ErrorResponse
from palaver.server.output_channels import collected_messages, output_channel_for
from palaver.server.params import (
    bad_parameter,
    bool_arg,
    float_arg,
    json_body,
    json_object,
    optional_number,
    optional_str,
    required_str,
    str_arg,
    verbosity_arg,
)
from palaver.server.runtime import Runtime

blueprint = api_blueprint("conversations")

CONVERSATION = "/conversations/<conversation_id:path>"
YAML_CONTENT_TYPE = "application/x-yaml"


def events_from_body(body: Any) -> list[Event]:
    """One event object or a list of them, validated (400 naming the problem)."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise ErrorResponse(
            400, "BadRequest", "The request body holds no events.", {"parameter": "", "in": "body"}
        )
    try:
        return parse_events(items)
    except InvalidEventError as exc:
        raise ErrorResponse(
            400, "BadRequest", f"Invalid event in the request body: {exc}", {"in": "body"}
        ) from exc


def _needs_all_sessions(verbosity: EventVerbosity, until: float | None) -> bool:
    """Whether the response needs earlier sessions' events too.

    ``AFTER_RESTART`` (the default) shows everything since the latest restart,
    across sessions, as Rasa's server does; the store's latest-session view
    would start at ``session_started`` and hide ``action_session_start``.
    """
    return until is not None or verbosity in (EventVerbosity.ALL, EventVerbosity.AFTER_RESTART)


async def _load(
    runtime: Runtime, conversation_id: str, *, full: bool
) -> tuple[DialogueStateTracker, bool]:
    """The stored tracker (no lock: a read) and whether the conversation exists."""
    tracker, stored = await processor_of(runtime).load_tracker(
        conversation_id, current_model(runtime), full=full
    )
    return tracker, stored > 0


async def _existing(runtime: Runtime, conversation_id: str, *, full: bool) -> DialogueStateTracker:
    tracker, exists = await _load(runtime, conversation_id, full=full)
    if not exists:
        raise ErrorResponse(
            404,
            "NotFound",
            f"Conversation '{conversation_id}' not found.",
            {"parameter": "conversation_id", "in": "path"},
        )
    return tracker


@blueprint.get(f"{CONVERSATION}/tracker")
async def get_tracker(request: Request, conversation_id: str) -> HTTPResponse:
    """The conversation's tracker; a new conversation is started with a session first."""
    runtime = authorized(request, conversation_id)
    verbosity = verbosity_arg(request)
    until = float_arg(request, "until")
    full = _needs_all_sessions(verbosity, until)
    tracker, exists = await _load(runtime, conversation_id, full=full)
    if not exists:
        async with processor_of(runtime).conversation(
            conversation_id, session="initial", full=full
        ) as turn:
            tracker = turn.tracker
    if until is not None:
        tracker = tracker.travel_back_in_time(until)
    return json_response(tracker.current_state(verbosity))


@blueprint.post(f"{CONVERSATION}/tracker/events")
async def append_events(request: Request, conversation_id: str) -> HTTPResponse:
    """Append one event or a list of events (optionally executing their side effects)."""
    runtime = authorized(request, conversation_id)
    verbosity = verbosity_arg(request)
    side_effects = bool_arg(request, "execute_side_effects", False)
    requested_output = str_arg(request, "output_channel")
    events = events_from_body(json_body(request, "an event or a list of events"))
    session: SessionMode = "keep" if do_events_begin_with_session_start(events) else "initial"
    full = _needs_all_sessions(verbosity, None)
    async with processor_of(runtime).conversation(
        conversation_id, session=session, full=full
    ) as turn:
        turn.tracker.update_with_events(events)
        output = output_channel_for(runtime, requested_output, turn.tracker)
        if side_effects:
            turn.schedule_reminders(events)
    if side_effects:
        for message in _bot_messages(events):
            await output.send_response(conversation_id, message)
    return json_response(turn.tracker.current_state(verbosity))


def _bot_messages(events: Sequence[Event]) -> list[dict[str, Any]]:
    from palaver.core.events import BotUttered
    from palaver.core.processor import bot_message

    return [bot_message(e) for e in events if isinstance(e, BotUttered)]


@blueprint.put(f"{CONVERSATION}/tracker/events")
async def replace_events(request: Request, conversation_id: str) -> HTTPResponse:
    """Replace all events of the conversation (meant for creating training data)."""
    runtime = authorized(request, conversation_id)
    verbosity = verbosity_arg(request)
    body = json_body(request, "a list of events")
    if not isinstance(body, list):
        raise ErrorResponse(
            400, "BadRequest", "The request body must be a list of events.", {"in": "body"}
        )
    try:
        events = parse_events(body)
    except InvalidEventError as exc:
        raise ErrorResponse(
            400, "BadRequest", f"Invalid event in the request body: {exc}", {"in": "body"}
        ) from exc
    tracker = await processor_of(runtime).replace_events(conversation_id, events)
    return json_response(tracker.current_state(verbosity))


@blueprint.get(f"{CONVERSATION}/story")
async def get_story(request: Request, conversation_id: str) -> HTTPResponse:
    """The conversation as a YAML test story (latest session, or all with ``all_sessions``)."""
    runtime = authorized(request, conversation_id)
    until = float_arg(request, "until")
    all_sessions = bool_arg(request, "all_sessions", False)
    tracker = await _existing(runtime, conversation_id, full=all_sessions)
    trackers = split_sessions(tracker) if all_sessions else [tracker]
    if until is not None:
        trackers = [t.travel_back_in_time(until) for t in trackers]
        trackers = [t for t in trackers if t.events]
    story = conversation_stories_yaml(trackers, conversation_id)
    return text_response(story, content_type=f"{YAML_CONTENT_TYPE}; charset=utf-8")


def _entity_list(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    entities = body.get("entities")
    if entities is None:
        return []
    if isinstance(entities, dict):
        return [{"entity": name, "value": value} for name, value in entities.items()]
    if isinstance(entities, list) and all(
        isinstance(e, dict) and isinstance(e.get("entity"), str) for e in entities
    ):
        return [dict(e) for e in entities]
    raise bad_parameter(
        "entities",
        "body",
        "Field 'entities' must be an object (entity -> value) or a list of entity objects.",
    )


def _turn_response(
    tracker: DialogueStateTracker, verbosity: EventVerbosity, messages: Any
) -> HTTPResponse:
    body: dict[str, Any] = {"tracker": tracker.current_state(verbosity)}
    if messages is not None:
        body["messages"] = messages
    return json_response(body)


@blueprint.post(f"{CONVERSATION}/trigger_intent")
async def trigger_intent(request: Request, conversation_id: str) -> HTTPResponse:
    """Run a turn as if the user had sent the intent (with entities)."""
    runtime = authorized(request, conversation_id)
    body = json_object(request, "{name, entities}")
    intent = required_str(body, "name", "the intent to trigger")
    entities = _entity_list(body)
    verbosity = verbosity_arg(request)
    requested_output = str_arg(request, "output_channel")
    full = _needs_all_sessions(verbosity, None)
    async with processor_of(runtime).conversation(conversation_id, full=full) as turn:
        if intent not in turn.model.domain.intents:
            raise ErrorResponse(
                404,
                "NotFound",
                f"The intent '{intent}' does not exist in the domain.",
                {"parameter": "name", "in": "body"},
            )
        tracker = turn.tracker
        output = output_channel_for(runtime, requested_output, tracker)
        turn.channel = output.name()
        latest_channel = tracker.get_latest_input_channel()
        tracker.update(UserUttered.create_external(intent, entities, latest_channel))
        await turn.extract_slots()
        await turn.run_prediction_loop()
    for message in turn.bot_messages:
        await output.send_response(conversation_id, message)
    return _turn_response(turn.tracker, verbosity, collected_messages(output))


@blueprint.post(f"{CONVERSATION}/execute")
async def execute_action(request: Request, conversation_id: str) -> HTTPResponse:
    """Run one action in the conversation (deprecated in Rasa; kept for old clients)."""
    runtime = authorized(request, conversation_id)
    body = json_object(request, "{name, policy, confidence}")
    name = required_str(body, "name", "the action to execute")
    policy = optional_str(body, "policy")
    confidence = optional_number(body, "confidence")
    verbosity = verbosity_arg(request)
    requested_output = str_arg(request, "output_channel")
    await _existing(runtime, conversation_id, full=False)
    full = _needs_all_sessions(verbosity, None)
    async with processor_of(runtime).conversation(conversation_id, full=full) as turn:
        if turn.model.domain.index_for_action(name) is None:
            raise bad_parameter(
                "name", "body", f"The action '{name}' does not exist in the domain."
            )
        output = output_channel_for(runtime, requested_output, turn.tracker)
        turn.channel = output.name()
        await turn.run_action(name, policy, confidence)
    for message in turn.bot_messages:
        await output.send_response(conversation_id, message)
    return _turn_response(turn.tracker, verbosity, collected_messages(output))


@blueprint.post(f"{CONVERSATION}/predict")
async def predict(request: Request, conversation_id: str) -> HTTPResponse:
    """Scores of every action for the next step; the conversation is not changed."""
    runtime = authorized(request, conversation_id)
    tracker = await _existing(runtime, conversation_id, full=True)
    prediction = predict_next_action(tracker, current_model(runtime))
    return json_response(
        {
            "scores": prediction.score_list(ranked=True),
            "policy": prediction.policy,
            "confidence": prediction.confidence,
            "tracker": tracker.current_state(EventVerbosity.AFTER_RESTART),
        }
    )


@blueprint.post(f"{CONVERSATION}/messages")
async def add_message(request: Request, conversation_id: str) -> HTTPResponse:
    """Log a user message (and extract slots from it) without predicting a reply."""
    runtime = authorized(request, conversation_id)
    body = json_object(request, "{text, sender, parse_data}")
    sender = body.get("sender")
    if sender != "user":
        raise bad_parameter(
            "sender",
            "body",
            f"Only user messages can be added (sender 'user'); got sender {sender!r}.",
        )
    text = body.get("text")
    if not isinstance(text, str):
        raise bad_parameter("text", "body", "Field 'text' must be a string.")
    parse_data = _parse_data(body)
    message_id = optional_str(body, "message_id")
    verbosity = verbosity_arg(request)
    full = _needs_all_sessions(verbosity, None)
    async with processor_of(runtime).conversation(conversation_id, full=full) as turn:
        channel = turn.tracker.get_latest_input_channel()
        message = UserMessage(text, conversation_id, message_id=message_id, parse_data=parse_data)
        if channel:
            message.input_channel = channel
        await turn.log_message(message)
        await turn.extract_slots()
    return json_response(turn.tracker.current_state(verbosity))


def _parse_data(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """``parse_data`` given with a message, checked as a user event's would be."""
    parse_data = body.get("parse_data")
    if parse_data is None:
        return None
    try:
        event = UserUttered.from_dict({"event": "user", "parse_data": parse_data})
    except InvalidEventError as exc:
        raise bad_parameter("parse_data", "body", f"Invalid 'parse_data': {exc}") from exc
    assert isinstance(event, UserUttered)
    data = dict(event.parse_data)
    data.setdefault("intent", {})
    data.setdefault("entities", [])
    return data
