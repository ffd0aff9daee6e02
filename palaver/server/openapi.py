"""Palaver's own OpenAPI 3 document, served at ``GET /openapi.json``.

It describes the routes Palaver serves (Rasa's HTTP API plus Palaver's
additions such as ``/ready``) with the status codes and response shapes
Palaver actually returns, so clients can be generated from it and the API
can be fuzzed against it (``tests/integration/test_api_fuzz.py``). Keep it in
step with ``palaver/server/routes``: ``tests/unit/server/test_openapi.py``
checks that every API route is documented and the document is valid.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from palaver import __version__

Schema = dict[str, Any]

EVENT_TYPES = (
    "user",
    "bot",
    "action",
    "slot",
    "reset_slots",
    "restart",
    "rewind",
    "undo",
    "pause",
    "resume",
    "followup",
    "reminder",
    "cancel_reminder",
    "active_loop",
    "loop_interrupted",
    "action_execution_rejected",
    "session_started",
    "entities",
    "user_featurization",
    "agent",
    "export",
    "form",
    "form_validation",
)
OUTPUT_CHANNELS = (
    "latest",
    "slack",
    "callback",
    "facebook",
    "rocketchat",
    "telegram",
    "twilio",
    "webexteams",
    "socketio",
)
YAML = "application/x-yaml"
JSON = "application/json"


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> Schema:
    return _ref("schemas", name)


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def _json_content(schema: Schema) -> Schema:
    return {JSON: {"schema": schema}}


def _error_response(description: str) -> Schema:
    return {"description": description, "content": _json_content(_schema("Error"))}


ERROR_RESPONSES: dict[str, str] = {
    "400": "The request is invalid; the message names the parameter or field.",
    "401": "User is not authenticated (no or wrong token, invalid JWT).",
    "403": "The JWT's role does not allow this route (a 'user' may only access its own "
    "conversation).",
    "404": "Not found.",
    "406": "The Accept header asks for a format that is not available.",
    "409": "No model is loaded.",
    "413": "The request body is too large.",
    "500": "An unexpected error occurred.",
    "502": "The model server or remote storage could not be reached.",
    "503": "The conversation's lock or the tracker store is not available right now.",
}


def _responses(success: dict[str, Schema], *codes: str) -> dict[str, Schema]:
    responses = dict(success)
    for code in ("400", "401", "403", "409", "413", "500", "503", *codes):
        responses.setdefault(code, _ref("responses", code))
    return responses


def _operation(
    operation_id: str,
    tag: str,
    summary: str,
    success: dict[str, Schema],
    *,
    parameters: tuple[str, ...] = (),
    body: Schema | None = None,
    extra_codes: tuple[str, ...] = (),
    description: str | None = None,
) -> Schema:
    operation: Schema = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "security": [{"TokenAuth": []}, {"JWT": []}],
        "parameters": [_ref("parameters", p) for p in parameters],
        "responses": _responses(success, *extra_codes),
    }
    if description:
        operation["description"] = description
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    return operation


def _ok(schema: Schema, description: str = "Success") -> dict[str, Schema]:
    return {"200": {"description": description, "content": _json_content(schema)}}


NO_CONTENT = {"204": {"description": "Done; no content."}}
CALLBACK_ACCEPTED = {
    "204": {"description": "'callback_url' was given: the result (or error) will be POSTed there."}
}


def _conversation_paths() -> dict[str, Schema]:
    base = "/conversations/{conversation_id}"
    tracker_ok = _ok(_schema("Tracker"))
    turn_ok = _ok(_schema("TurnResult"))
    return {
        f"{base}/tracker": {
            "get": _operation(
                "getConversationTracker",
                "Tracker",
                "The conversation's tracker (a new conversation starts with a session)",
                tracker_ok,
                parameters=("conversation_id", "include_events", "until"),
            )
        },
        f"{base}/tracker/events": {
            "post": _operation(
                "addConversationTrackerEvents",
                "Tracker",
                "Append one event or a list of events",
                tracker_ok,
                parameters=(
                    "conversation_id",
                    "include_events",
                    "output_channel",
                    "execute_side_effects",
                ),
                body=_json_content(
                    {"oneOf": [_schema("Event"), {"type": "array", "items": _schema("Event")}]}
                ),
            ),
            "put": _operation(
                "replaceConversationTrackerEvents",
                "Tracker",
                "Replace all events of the conversation",
                tracker_ok,
                parameters=("conversation_id", "include_events"),
                body=_json_content(_schema("EventList")),
            ),
        },
        f"{base}/story": {
            "get": _operation(
                "getConversationStory",
                "Tracker",
                "The conversation as a YAML test story",
                {
                    "200": {
                        "description": "Test stories",
                        "content": {YAML: {"schema": {"type": "object"}}},
                    }
                },
                parameters=("conversation_id", "until", "all_sessions"),
                extra_codes=("404",),
            )
        },
        f"{base}/execute": {
            "post": _operation(
                "executeConversationAction",
                "Tracker",
                "Run one action in the conversation (deprecated)",
                turn_ok,
                parameters=("conversation_id", "include_events", "output_channel"),
                body=_json_content(_schema("ActionRequest")),
                extra_codes=("404",),
            )
        },
        f"{base}/trigger_intent": {
            "post": _operation(
                "triggerConversationIntent",
                "Tracker",
                "Run a turn as if the user had sent an intent",
                turn_ok,
                parameters=("conversation_id", "include_events", "output_channel"),
                body=_json_content(_schema("IntentTriggerRequest")),
                extra_codes=("404",),
            )
        },
        f"{base}/predict": {
            "post": _operation(
                "predictConversationAction",
                "Tracker",
                "Scores of all actions for the next step (nothing is changed)",
                _ok(_schema("PredictResult")),
                parameters=("conversation_id",),
                extra_codes=("404",),
            )
        },
        f"{base}/messages": {
            "post": _operation(
                "addConversationMessage",
                "Tracker",
                "Add a user message without predicting a reply",
                tracker_ok,
                parameters=("conversation_id", "include_events"),
                body=_json_content(_schema("Message")),
            )
        },
    }


def _model_paths() -> dict[str, Schema]:
    archive: dict[str, Schema] = {
        "200": {
            "description": "The trained model archive.",
            "headers": {
                "filename": {
                    "description": "File name of the archive.",
                    "schema": {"type": "string"},
                }
            },
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        **CALLBACK_ACCEPTED,
    }
    return {
        "/model/train": {
            "post": _operation(
                "trainModel",
                "Model",
                "Train a model from a project document (not loaded)",
                archive,
                parameters=(
                    "save_to_default_model_directory",
                    "force_training",
                    "augmentation",
                    "num_threads",
                    "callback_url",
                ),
                body={
                    YAML: {"schema": _schema("TrainingRequest")},
                    JSON: {"schema": _schema("TrainingRequest")},
                },
            )
        },
        "/model/test/stories": {
            "post": _operation(
                "testModelStories",
                "Model",
                "Evaluate the loaded model on YAML test stories",
                _ok(_schema("EvaluationStoriesResult")),
                parameters=("e2e",),
                body={YAML: {"schema": {"type": "string"}}},
            )
        },
        "/model/test/intents": {
            "post": _operation(
                "testModelIntent",
                "Model",
                "Evaluate NLU on labelled examples, or cross-validate",
                {**_ok(_schema("NLUEvaluationResult")), **CALLBACK_ACCEPTED},
                parameters=("model", "callback_url", "cross_validation_folds"),
                body={
                    YAML: {"schema": {"type": "string"}},
                    JSON: {"schema": _schema("JSONNLUData")},
                },
            )
        },
        "/model/predict": {
            "post": _operation(
                "predictModelAction",
                "Model",
                "Predict the next action for a conversation given as events",
                _ok(_schema("PredictResult")),
                parameters=("include_events",),
                body=_json_content(_schema("EventList")),
            )
        },
        "/model/parse": {
            "post": _operation(
                "parseModelMessage",
                "Model",
                "Intent and entities of a text",
                _ok({"type": "object"}),
                parameters=("emulation_mode",),
                body=_json_content(_schema("ParseRequest")),
            )
        },
        "/model": {
            "put": _operation(
                "replaceModel",
                "Model",
                "Load a model from a file, a model server or remote storage",
                NO_CONTENT,
                body=_json_content(_schema("ModelRequest")),
                extra_codes=("502",),
            ),
            "delete": _operation("unloadModel", "Model", "Unload the model", NO_CONTENT),
        },
    }


def _server_paths() -> dict[str, Schema]:
    domain_ok = {
        "200": {
            "description": "The domain.",
            "content": {JSON: {"schema": _schema("Domain")}, YAML: {"schema": {"type": "object"}}},
        }
    }
    return {
        "/": {
            "get": {
                "operationId": "getHealth",
                "tags": ["Server Information"],
                "summary": "Health check",
                "responses": {
                    "200": {
                        "description": "Up and running",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/version": {
            "get": {
                "operationId": "getVersion",
                "tags": ["Server Information"],
                "summary": "Rasa compatibility version and Palaver version",
                "responses": _ok(_schema("Version")),
            }
        },
        "/status": {
            "get": {
                "operationId": "getStatus",
                "tags": ["Server Information"],
                "summary": "Model, stores and counters",
                "security": [{"TokenAuth": []}, {"JWT": []}],
                "responses": {
                    **_ok({"type": "object"}),
                    "401": _ref("responses", "401"),
                    "403": _ref("responses", "403"),
                },
            }
        },
        "/ready": {
            "get": {
                "operationId": "getReady",
                "tags": ["Server Information"],
                "summary": "Whether a model is loaded (503 otherwise)",
                "responses": {
                    **_ok({"type": "object"}),
                    "503": {
                        "description": "No model yet",
                        "content": _json_content({"type": "object"}),
                    },
                },
            }
        },
        "/domain": {
            "get": _operation(
                "getDomain",
                "Domain",
                "The loaded model's domain (JSON or YAML by Accept header)",
                domain_ok,
                extra_codes=("406",),
            )
        },
    }


def _parameters() -> dict[str, Schema]:
    def query(name: str, schema: Schema, description: str) -> Schema:
        return {
            "in": "query",
            "name": name,
            "required": False,
            "schema": schema,
            "description": description,
        }

    boolean = {"type": "boolean"}
    return {
        "conversation_id": {
            "in": "path",
            "name": "conversation_id",
            "required": True,
            "description": "Id of the conversation",
            "schema": {"type": "string", "minLength": 1},
        },
        "include_events": query(
            "include_events",
            {
                "type": "string",
                "enum": ["AFTER_RESTART", "ALL", "APPLIED", "NONE"],
                "default": "AFTER_RESTART",
            },
            "Which events the tracker includes (case-insensitive).",
        ),
        "until": query("until", {"type": "number"}, "Replay only events up to this timestamp."),
        "all_sessions": query("all_sessions", boolean, "Stories for all sessions."),
        "output_channel": query(
            "output_channel",
            {"type": "string", "example": "callback"},
            "Send bot messages to this channel if credentials.yml configures it and it can "
            f"send on its own ({', '.join(OUTPUT_CHANNELS)}; 'latest': the channel of the "
            "latest user message); otherwise they are returned in the response.",
        ),
        "execute_side_effects": query(
            "execute_side_effects", boolean, "Send BotUttered events and schedule reminders."
        ),
        "emulation_mode": query(
            "emulation_mode",
            {"type": "string", "enum": ["WIT", "LUIS", "DIALOGFLOW"]},
            "Response format of another NLU service (case-insensitive).",
        ),
        "callback_url": query(
            "callback_url",
            {"type": "string", "format": "uri"},
            "Answer 204 at once and POST the result to this URL.",
        ),
        "e2e": query("e2e", boolean, "End-to-end evaluation (user texts are parsed)."),
        "model": query(
            "model", {"type": "string"}, "Evaluate this model file instead of the loaded one."
        ),
        "cross_validation_folds": query(
            "cross_validation_folds",
            {"type": "integer", "minimum": 2, "maximum": 20},
            "Cross-validate the pipeline in the body with this many folds (YAML only).",
        ),
        "save_to_default_model_directory": query(
            "save_to_default_model_directory", boolean, "Keep the archive in the model directory."
        ),
        "force_training": query("force_training", boolean, "Train even if nothing changed."),
        "augmentation": query(
            "augmentation", {"type": "integer", "minimum": 0, "maximum": 1000}, "Accepted, ignored."
        ),
        "num_threads": query(
            "num_threads", {"type": "integer", "minimum": 1, "maximum": 1024}, "Accepted, ignored."
        ),
    }


def _tracker_schema() -> Schema:
    return {
        "type": "object",
        "properties": {
            "sender_id": {"type": "string"},
            "slots": {"type": "object"},
            "latest_message": _nullable({"type": "object"}),
            "latest_event_time": _nullable({"type": "number"}),
            "followup_action": _nullable({"type": "string"}),
            "paused": {"type": "boolean"},
            "events": _nullable({"type": "array", "items": _schema("Event")}),
            "latest_input_channel": _nullable({"type": "string"}),
            "active_loop": {"type": "object"},
            "latest_action": _nullable({"type": "object"}),
            "latest_action_name": _nullable({"type": "string"}),
        },
        "required": ["sender_id", "slots", "paused", "events", "latest_message"],
    }


def _evaluation_schema() -> Schema:
    return _nullable(
        {
            "type": "object",
            "properties": {
                "report": {"type": "object"},
                "accuracy": {"type": "number"},
                "f1_score": {"type": "number"},
                "precision": {"type": "number"},
                "predictions": {"type": "array", "items": {"type": "object"}},
                "errors": {"type": "array", "items": {"type": "object"}},
            },
        }
    )


def _schemas() -> dict[str, Schema]:
    string = {"type": "string"}
    number = {"type": "number"}
    return {
        "Error": {
            "type": "object",
            "properties": {
                "version": string,
                "status": {"type": "string", "enum": ["failure"]},
                "message": string,
                "reason": string,
                "details": {},
                "help": _nullable(string),
                "code": number,
            },
            "required": ["version", "status", "message", "reason", "code"],
        },
        "Version": {
            "type": "object",
            "properties": {
                "version": string,
                "minimum_compatible_version": string,
                "palaver_version": string,
            },
            "required": ["version", "minimum_compatible_version"],
        },
        "Event": {
            "type": "object",
            "properties": {
                "event": {"type": "string", "enum": list(EVENT_TYPES)},
                "timestamp": _nullable(number),
                "metadata": _nullable({"type": "object"}),
            },
            "required": ["event"],
        },
        "EventList": {"type": "array", "items": _schema("Event")},
        "Tracker": _tracker_schema(),
        "BotMessage": {
            "type": "object",
            "properties": {
                "recipient_id": string,
                "text": string,
                "image": string,
                "buttons": {"type": "array", "items": {"type": "object"}},
                "attachment": {},
                "custom": {},
            },
        },
        "TurnResult": {
            "type": "object",
            "properties": {
                "tracker": _schema("Tracker"),
                "messages": {"type": "array", "items": _schema("BotMessage")},
            },
            "required": ["tracker"],
        },
        "PredictResult": {
            "type": "object",
            "properties": {
                "scores": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"action": string, "score": number},
                        "required": ["action", "score"],
                    },
                },
                "policy": _nullable(string),
                "confidence": number,
                "tracker": _schema("Tracker"),
            },
            "required": ["scores", "policy", "confidence", "tracker"],
        },
        "ActionRequest": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "policy": _nullable(string),
                "confidence": _nullable(number),
            },
            "required": ["name"],
        },
        "IntentTriggerRequest": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "entities": _nullable({"type": "object"}),
            },
            "required": ["name"],
        },
        "Message": {
            "type": "object",
            "properties": {
                "text": string,
                "sender": {"type": "string", "enum": ["user"]},
                "message_id": _nullable(string),
                "parse_data": _nullable({"type": "object"}),
            },
            "required": ["text", "sender"],
        },
        "ParseRequest": {
            "type": "object",
            "properties": {"text": string, "message_id": _nullable(string)},
            "required": ["text"],
        },
        "ModelRequest": {
            "type": "object",
            "properties": {
                "model_file": string,
                "model_server": {
                    "type": "object",
                    "properties": {
                        "url": string,
                        "params": {"type": "object"},
                        "headers": {"type": "object"},
                        "basic_auth": {"type": "object"},
                        "token": string,
                        "token_name": string,
                        "wait_time_between_pulls": _nullable(number),
                    },
                },
                "remote_storage": string,
            },
        },
        "TrainingRequest": {
            "type": "object",
            "description": "A whole project: config, domain and training data keys.",
            "properties": {
                "version": string,
                "recipe": string,
                "language": string,
                "pipeline": {"type": "array", "items": {"type": "object"}},
                "policies": {"type": "array", "items": {"type": "object"}},
                "intents": {"type": "array"},
                "entities": {"type": "array"},
                "slots": {"type": "object"},
                "actions": {"type": "array"},
                "forms": {"type": "object"},
                "e2e_actions": {"type": "array"},
                "responses": {"type": "object"},
                "session_config": {"type": "object"},
                "nlu": {"type": "array"},
                "rules": {"type": "array"},
                "stories": {"type": "array"},
            },
        },
        "JSONNLUData": {
            "type": "object",
            "properties": {
                "rasa_nlu_data": {
                    "type": "object",
                    "properties": {
                        "common_examples": {"type": "array", "items": {"type": "object"}}
                    },
                }
            },
            "required": ["rasa_nlu_data"],
        },
        "NLUEvaluationResult": {
            "type": "object",
            "properties": {
                "intent_evaluation": _evaluation_schema(),
                "entity_evaluation": _nullable({"type": "object"}),
                "response_selection_evaluation": _evaluation_schema(),
            },
            "required": ["intent_evaluation", "entity_evaluation", "response_selection_evaluation"],
        },
        "EvaluationStoriesResult": {
            "type": "object",
            "properties": {
                "actions": {"type": "array", "items": {"type": "object"}},
                "is_end_to_end_evaluation": {"type": "boolean"},
                "precision": number,
                "f1": number,
                "accuracy": number,
                "in_training_data_fraction": number,
                "report": {"type": "object"},
            },
            "required": ["actions", "precision", "f1", "accuracy", "report"],
        },
        "Domain": {
            "type": "object",
            "properties": {
                "version": string,
                "intents": {"type": "array"},
                "entities": {"type": "array"},
                "slots": {"type": "object"},
                "responses": {"type": "object"},
                "actions": {"type": "array"},
                "forms": {"type": "object"},
                "e2e_actions": {"type": "array"},
                "session_config": {"type": "object"},
                "config": {"type": "object"},
            },
        },
    }


@lru_cache(maxsize=1)
def _document() -> Schema:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Palaver HTTP API",
            "version": __version__,
            "description": (
                "Rasa's HTTP API as served by Palaver. Errors use one envelope "
                "(version, status, message, reason, details, help, code)."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "paths": {**_server_paths(), **_conversation_paths(), **_model_paths()},
        "components": {
            "securitySchemes": {
                "TokenAuth": {"type": "apiKey", "in": "query", "name": "token"},
                "JWT": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "parameters": _parameters(),
            "responses": {code: _error_response(text) for code, text in ERROR_RESPONSES.items()},
            "schemas": _schemas(),
        },
    }


def openapi_document() -> Schema:
    """The OpenAPI document (a fresh copy)."""
    return copy.deepcopy(_document())
