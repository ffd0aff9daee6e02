"""Every route of Rasa's HTTP API, against a real ``palaver run --enable-api`` process."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.integration.api_helpers import Api, Receiver, ServerPool, copy_model
from tests.integration.conftest import EXAMPLES, ServerProcess

pytestmark = pytest.mark.slow

SESSION_START = ["action_session_start", "session_started", "action_listen"]

TRAINING_YAML = textwrap.dedent(
    """
    version: "3.1"
    pipeline:
    - name: WhitespaceTokenizer
    - name: CountVectorsFeaturizer
    - name: LogisticRegressionClassifier
    policies:
    - name: RulePolicy
    intents: [greet, goodbye]
    responses:
      utter_greet: [{text: "Hey from the trained model!"}]
      utter_goodbye: [{text: "Bye"}]
    nlu:
    - intent: greet
      examples: |
        - hey
        - hello
        - hi there
    - intent: goodbye
      examples: |
        - bye
        - goodbye
        - see you
    rules:
    - rule: greet
      steps:
      - intent: greet
      - action: utter_greet
    """
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    with ServerPool(tmp_path_factory.mktemp("logs")) as pool:
        yield pool


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, moodbot_model: Path) -> Path:
    directory = tmp_path_factory.mktemp("api-models")
    copy_model(moodbot_model, directory)
    return directory


@pytest.fixture(scope="module")
def broker_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("broker") / "events.log"


@pytest.fixture(scope="module")
def api_server(servers: ServerPool, model_dir: Path, broker_log: Path) -> ServerProcess:
    endpoints = model_dir.parent / "api-endpoints.yml"
    endpoints.write_text(
        "tracker_store:\n  type: in_memory\n"
        "lock_store:\n  type: in_memory\n"
        f"event_broker:\n  type: file\n  path: {broker_log}\n"
    )
    model = next(model_dir.glob("*.tar.gz"))
    return servers.start(
        ["-m", str(model), "--enable-api", "--endpoints", str(endpoints)], ready_path="/ready"
    )


@pytest.fixture
async def api(api_server: ServerProcess) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, api_server.url)


def unique(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


def event_names(tracker: dict[str, Any]) -> list[str]:
    """Event types, with actions by name."""
    return [e["name"] if e["event"] == "action" else e["event"] for e in tracker["events"]]


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def listing(directory: Path) -> set[Path]:
    return set(directory.iterdir())


async def say(api: Api, sender: str, text: str) -> list[dict[str, Any]]:
    status, body = await api.call(
        "POST", "/webhooks/rest/webhook", {"sender": sender, "message": text}
    )
    assert status == 200, body
    return list(body)


def assert_envelope(body: Any, code: int, needle: str = "") -> None:
    assert isinstance(body, dict), body
    assert body["status"] == "failure" and body["code"] == code, body
    assert set(body) == {"version", "status", "message", "reason", "details", "help", "code"}
    assert needle in body["message"], body["message"]


# --- tracker -------------------------------------------------------------------------------


async def test_a_new_conversation_starts_with_a_session(api: Api) -> None:
    cid = unique("new")
    status, tracker = await api.call("GET", f"/conversations/{cid}/tracker")
    assert status == 200
    assert tracker["sender_id"] == cid
    assert event_names(tracker) == SESSION_START
    assert tracker["latest_action_name"] == "action_listen"
    # stored, not invented per request: the same events come back
    _, again = await api.call("GET", f"/conversations/{cid}/tracker")
    assert again["events"] == tracker["events"]


async def test_tracker_after_a_conversation(api: Api) -> None:
    cid = unique("talk")
    await say(api, cid, "hello")
    status, tracker = await api.call("GET", f"/conversations/{cid}/tracker")
    assert status == 200
    assert tracker["latest_message"]["intent"]["name"] == "greet"
    assert tracker["latest_input_channel"] == "rest"
    names = event_names(tracker)
    assert names[:3] == SESSION_START
    assert names.index("user") < names.index("utter_greet") < names.index("bot")
    assert names[-1] == "action_listen"


@pytest.mark.parametrize("verbosity", ["NONE", "none", "APPLIED", "AFTER_RESTART", "ALL"])
async def test_include_events(api: Api, verbosity: str) -> None:
    cid = unique("verbosity")
    await say(api, cid, "hello")
    await api.call("POST", f"/conversations/{cid}/tracker/events", {"event": "restart"})
    status, tracker = await api.call(
        "GET", f"/conversations/{cid}/tracker", params={"include_events": verbosity}
    )
    assert status == 200
    names = None if tracker["events"] is None else event_names(tracker)
    if verbosity.upper() == "NONE":
        assert names is None
    elif verbosity == "ALL":
        assert names is not None and names[0] == "action_session_start" and "restart" in names
    else:
        assert names is not None and "user" not in names


async def test_until_travels_back_in_time(api: Api) -> None:
    cid = unique("until")
    await say(api, cid, "hello")
    _, full = await api.call("GET", f"/conversations/{cid}/tracker")
    first_user = next(e for e in full["events"] if e["event"] == "user")
    status, before = await api.call(
        "GET",
        f"/conversations/{cid}/tracker",
        params={"until": str(first_user["timestamp"] - 1e-3)},
    )
    assert status == 200
    assert "user" not in event_names(before)
    assert before["latest_message"]["intent"] == {}


@pytest.mark.parametrize(
    ("params", "needle"),
    [({"include_events": "SOME"}, "include_events"), ({"until": "yesterday"}, "until")],
)
async def test_tracker_parameter_errors(api: Api, params: dict[str, str], needle: str) -> None:
    status, body = await api.call("GET", "/conversations/x/tracker", params=params)
    assert status == 400
    assert_envelope(body, 400, needle)


# --- events ----------------------------------------------------------------------------------


async def test_append_one_event_and_a_list(api: Api, broker_log: Path) -> None:
    cid = unique("append")
    status, tracker = await api.call(
        "POST", f"/conversations/{cid}/tracker/events", {"event": "slot", "name": "x", "value": 1}
    )
    assert status == 200
    # a new conversation gets its session first, then the events
    assert event_names(tracker) == [*SESSION_START, "slot"]
    events = [
        {
            "event": "user",
            "text": "hi",
            "parse_data": {"intent": {"name": "greet"}, "entities": []},
        },
        {"event": "action", "name": "utter_greet"},
        {"event": "bot", "text": "Hey! How are you?"},
    ]
    status, tracker = await api.call("POST", f"/conversations/{cid}/tracker/events", events)
    assert status == 200
    assert event_names(tracker)[-3:] == ["user", "utter_greet", "bot"]
    assert tracker["latest_message"]["intent"]["name"] == "greet"
    # published to the event broker, with the sender id
    deadline = time.monotonic() + 10
    published: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        published = read_json_lines(broker_log)
        if sum(p["sender_id"] == cid for p in published) >= 7:
            break
        await asyncio.sleep(0.1)
    assert [p["event"] for p in published if p["sender_id"] == cid] == [
        "action",
        "session_started",
        "action",
        "slot",
        "user",
        "action",
        "bot",
    ]


async def test_events_starting_a_session_get_no_extra_session(api: Api) -> None:
    cid = unique("own-session")
    events = [
        {"event": "action", "name": "action_session_start"},
        {"event": "session_started"},
        {"event": "action", "name": "action_listen"},
    ]
    status, tracker = await api.call("POST", f"/conversations/{cid}/tracker/events", events)
    assert status == 200
    assert event_names(tracker) == SESSION_START


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([], "no events"),
        ({"event": "bogus"}, "unknown event type 'bogus'"),
        ([{"event": "slot", "name": "x"}, {"name": "y"}], "events[1]"),
        ({"event": "user", "text": 42}, "'text'"),
        ("a string", "must be a JSON object"),
    ],
)
async def test_invalid_events_are_400(api: Api, body: Any, needle: str) -> None:
    cid = unique("bad-events")
    status, reply = await api.call("POST", f"/conversations/{cid}/tracker/events", body)
    assert status == 400
    assert_envelope(reply, 400, needle)
    # nothing was stored
    _, tracker = await api.call("GET", f"/conversations/{cid}/tracker")
    assert event_names(tracker) == SESSION_START


async def test_invalid_json_is_400(api: Api) -> None:
    status, body = await api.call("POST", "/conversations/x/tracker/events", data=b"{nope")
    assert status == 400
    assert_envelope(body, 400, "not valid JSON")


async def test_concurrent_appends_are_serialised(api: Api) -> None:
    cid = unique("concurrent")
    results = await asyncio.gather(
        *(
            api.call(
                "POST",
                f"/conversations/{cid}/tracker/events",
                {"event": "slot", "name": f"s{i}", "value": i},
            )
            for i in range(20)
        )
    )
    assert all(status == 200 for status, _ in results)
    _, tracker = await api.call("GET", f"/conversations/{cid}/tracker")
    names = event_names(tracker)
    assert names[:3] == SESSION_START and names.count("action_session_start") == 1
    assert names.count("slot") == 20


async def test_replace_events(api: Api) -> None:
    cid = unique("replace")
    await say(api, cid, "hello")
    events = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "bye", "parse_data": {"intent": {"name": "goodbye"}}},
    ]
    status, tracker = await api.call("PUT", f"/conversations/{cid}/tracker/events", events)
    assert status == 200
    assert event_names(tracker) == ["action_listen", "user"]
    _, stored = await api.call(
        "GET", f"/conversations/{cid}/tracker", params={"include_events": "ALL"}
    )
    assert event_names(stored) == ["action_listen", "user"]
    assert stored["latest_message"]["intent"]["name"] == "goodbye"


@pytest.mark.parametrize(
    ("body", "needle"),
    [({"event": "restart"}, "list of events"), ([{"event": "nope"}], "unknown event type")],
)
async def test_replace_events_validation(api: Api, body: Any, needle: str) -> None:
    status, reply = await api.call("PUT", "/conversations/x/tracker/events", body)
    assert status == 400
    assert_envelope(reply, 400, needle)


# --- story -----------------------------------------------------------------------------------


async def test_story_of_a_conversation(api: Api) -> None:
    cid = unique("story")
    await say(api, cid, "hello")
    await say(api, cid, "I am sad")
    resp = await api.raw("GET", f"/conversations/{cid}/story")
    assert resp.status == 200
    assert resp.content_type == "application/x-yaml"
    _, raw = await api.call("GET", f"/conversations/{cid}/story")
    story = yaml.safe_load(raw)
    assert story["version"] == "3.1"
    (only,) = story["stories"]
    assert only["story"] == cid
    assert only["steps"][:2] == [{"intent": "greet", "user": "hello"}, {"action": "utter_greet"}]
    assert {"intent": "mood_unhappy", "user": "I am sad"} in only["steps"]
    assert {"action": "utter_cheer_up"} in only["steps"]


async def test_story_of_all_sessions_and_until(api: Api) -> None:
    cid = unique("sessions")
    await say(api, cid, "hello")
    await api.call(
        "POST",
        f"/conversations/{cid}/tracker/events",
        [
            {"event": "action", "name": "action_session_start"},
            {"event": "session_started"},
            {"event": "action", "name": "action_listen"},
        ],
    )
    await say(api, cid, "bye")
    _, latest = await api.call("GET", f"/conversations/{cid}/story")
    assert [s["story"] for s in yaml.safe_load(latest)["stories"]] == [cid]
    _, everything = await api.call(
        "GET", f"/conversations/{cid}/story", params={"all_sessions": "true"}
    )
    stories = yaml.safe_load(everything)["stories"]
    assert [s["story"] for s in stories] == [f"{cid}, story 1", f"{cid}, story 2"]
    assert stories[0]["steps"][0]["intent"] == "greet"
    assert stories[1]["steps"][0]["intent"] == "goodbye"
    _, early = await api.call(
        "GET", f"/conversations/{cid}/story", params={"all_sessions": "true", "until": "1"}
    )
    assert yaml.safe_load(early) == {"version": "3.1"}


async def test_story_of_an_unknown_conversation_is_404(api: Api) -> None:
    status, body = await api.call("GET", f"/conversations/{unique('nobody')}/story")
    assert status == 404
    assert_envelope(body, 404, "not found")


# --- trigger_intent / execute / predict / messages -----------------------------------------------


async def test_trigger_intent(api: Api) -> None:
    cid = unique("trigger")
    status, body = await api.call(
        "POST", f"/conversations/{cid}/trigger_intent", {"name": "greet", "entities": {"x": 1}}
    )
    assert status == 200
    assert body["messages"] == [{"recipient_id": cid, "text": "Hey! How are you?"}]
    tracker = body["tracker"]
    assert tracker["latest_message"]["intent"]["name"] == "greet"
    assert tracker["latest_message"]["entities"] == [{"entity": "x", "value": 1}]
    assert tracker["latest_action_name"] == "action_listen"
    assert event_names(tracker)[:3] == SESSION_START
    # and it was stored
    _, stored = await api.call("GET", f"/conversations/{cid}/tracker")
    assert stored["events"] == tracker["events"]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"name": "no_such_intent"}, 404, "does not exist in the domain"),
        ({}, 400, "'name'"),
        ({"name": "greet", "entities": "x"}, 400, "'entities'"),
        ([], 400, "JSON object"),
    ],
)
async def test_trigger_intent_errors(api: Api, body: Any, status: int, needle: str) -> None:
    code, reply = await api.call("POST", f"/conversations/{unique('t')}/trigger_intent", body)
    assert code == status
    assert_envelope(reply, status, needle)


async def test_execute_action(api: Api) -> None:
    cid = unique("execute")
    await say(api, cid, "hello")
    status, body = await api.call(
        "POST",
        f"/conversations/{cid}/execute",
        {"name": "utter_cheer_up", "policy": "manual", "confidence": 0.5},
    )
    assert status == 200
    assert body["messages"] == [
        {"recipient_id": cid, "text": "Here is something to cheer you up:"},
        {"recipient_id": cid, "image": "https://i.imgur.com/nGF1K8f.jpg"},
    ]
    action = next(e for e in reversed(body["tracker"]["events"]) if e["event"] == "action")
    assert (action["name"], action["policy"], action["confidence"]) == (
        "utter_cheer_up",
        "manual",
        0.5,
    )
    # only the action ran: nothing was predicted after it
    assert body["tracker"]["events"][-1]["event"] == "bot"


async def test_execute_errors(api: Api) -> None:
    status, body = await api.call(
        "POST", f"/conversations/{unique('nobody')}/execute", {"name": "utter_greet"}
    )
    assert status == 404
    assert_envelope(body, 404, "not found")
    cid = unique("execute-bad")
    await say(api, cid, "hello")
    status, body = await api.call("POST", f"/conversations/{cid}/execute", {"name": "nope"})
    assert status == 400
    assert_envelope(body, 400, "'nope' does not exist")
    status, body = await api.call("POST", f"/conversations/{cid}/execute", {"policy": "x"})
    assert status == 400
    assert_envelope(body, 400, "'name'")


async def test_predict_changes_nothing(api: Api) -> None:
    cid = unique("predict")
    await api.call(
        "POST",
        f"/conversations/{cid}/messages",
        {"text": "hello", "sender": "user"},
    )
    _, before = await api.call("GET", f"/conversations/{cid}/tracker")
    status, body = await api.call("POST", f"/conversations/{cid}/predict")
    assert status == 200
    assert body["scores"][0] == {"action": "utter_greet", "score": body["confidence"]}
    scores = [s["score"] for s in body["scores"]]
    assert scores == sorted(scores, reverse=True)
    assert body["policy"]
    assert body["tracker"]["events"] == before["events"]
    _, after = await api.call("GET", f"/conversations/{cid}/tracker")
    assert after["events"] == before["events"]


async def test_predict_unknown_conversation_is_404(api: Api) -> None:
    status, body = await api.call("POST", f"/conversations/{unique('nobody')}/predict")
    assert status == 404
    assert_envelope(body, 404)


async def test_add_message_without_prediction(api: Api) -> None:
    cid = unique("message")
    status, tracker = await api.call(
        "POST", f"/conversations/{cid}/messages", {"text": "I am sad", "sender": "user"}
    )
    assert status == 200
    assert tracker["latest_message"]["intent"]["name"] == "mood_unhappy"
    assert event_names(tracker)[-1] == "user"
    assert "bot" not in event_names(tracker)


async def test_add_message_with_parse_data(api: Api) -> None:
    cid = unique("parsed")
    parse_data = {"intent": {"name": "affirm", "confidence": 1.0}, "entities": []}
    status, tracker = await api.call(
        "POST",
        f"/conversations/{cid}/messages",
        {"text": "whatever", "sender": "user", "parse_data": parse_data},
    )
    assert status == 200
    assert tracker["latest_message"]["intent"] == {"name": "affirm", "confidence": 1.0}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"text": "hi", "sender": "bot"}, "sender 'user'"),
        ({"sender": "user"}, "'text'"),
        ({"text": "hi", "sender": "user", "parse_data": {"intent": "greet"}}, "parse_data"),
    ],
)
async def test_add_message_errors(api: Api, body: Any, needle: str) -> None:
    status, reply = await api.call("POST", f"/conversations/{unique('m')}/messages", body)
    assert status == 400
    assert_envelope(reply, 400, needle)


# --- model: parse and predict -------------------------------------------------------------


async def test_parse(api: Api) -> None:
    status, body = await api.call(
        "POST", "/model/parse", {"text": "hello there", "message_id": "m1"}
    )
    assert status == 200
    assert body["text"] == "hello there"
    assert body["intent"]["name"] == "greet"
    assert body["message_id"] == "m1"
    assert body["intent_ranking"][0]["name"] == "greet"


async def test_parse_intent_shortcut(api: Api) -> None:
    status, body = await api.call("POST", "/model/parse", {"text": '/mood_great{"a": "b"}'})
    assert status == 200
    assert body["intent"] == {"name": "mood_great", "confidence": 1.0}
    assert body["entities"][0]["value"] == "b"


@pytest.mark.parametrize(
    ("mode", "key"), [("wit", "intents"), ("LUIS", "prediction"), ("dialogflow", "queryResult")]
)
async def test_parse_emulation(api: Api, mode: str, key: str) -> None:
    status, body = await api.call(
        "POST", "/model/parse", {"text": "hello"}, params={"emulation_mode": mode}
    )
    assert status == 200
    assert key in body


@pytest.mark.parametrize(
    ("body", "params", "needle"),
    [
        ({"text": "hi"}, {"emulation_mode": "watson"}, "emulation_mode"),
        ({}, {}, "'text'"),
        ({"text": 3}, {}, "'text'"),
    ],
)
async def test_parse_errors(api: Api, body: Any, params: dict[str, str], needle: str) -> None:
    status, reply = await api.call("POST", "/model/parse", body, params=params)
    assert status == 400
    assert_envelope(reply, 400, needle)


async def test_model_predict(api: Api) -> None:
    events = [
        {"event": "action", "name": "action_listen"},
        {
            "event": "user",
            "text": "hi",
            "parse_data": {"intent": {"name": "greet", "confidence": 1}},
        },
    ]
    status, body = await api.call(
        "POST", "/model/predict", events, params={"include_events": "NONE"}
    )
    assert status == 200
    best = max(body["scores"], key=lambda s: s["score"])
    assert best["action"] == "utter_greet"
    assert body["scores"][0]["action"] == "action_listen"  # domain order
    assert body["tracker"]["events"] is None
    assert body["tracker"]["sender_id"] == "default"


async def test_model_predict_errors(api: Api) -> None:
    status, body = await api.call("POST", "/model/predict", {"event": "restart"})
    assert status == 400
    assert_envelope(body, 400, "list of events")
    status, body = await api.call("POST", "/model/predict", [{"event": "slot"}])
    assert status == 400
    assert_envelope(body, 400, "events[0]")


# --- model: train --------------------------------------------------------------------------------


def archive_members(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getnames()


async def test_train_returns_the_archive(api: Api, model_dir: Path) -> None:
    before = listing(model_dir)
    resp = await api.session.post(
        api.url + "/model/train",
        data=TRAINING_YAML,
        params={"save_to_default_model_directory": "false", "force_training": "true"},
        headers={"Content-Type": "application/x-yaml"},
    )
    body = await resp.read()
    assert resp.status == 200, body
    assert resp.content_type == "application/octet-stream"
    assert resp.headers["filename"].endswith(".tar.gz")
    assert "metadata.json" in archive_members(body)
    assert listing(model_dir) == before


async def test_train_saves_to_the_model_directory(api: Api, model_dir: Path) -> None:
    document = json.dumps(yaml.safe_load(TRAINING_YAML))
    resp = await api.session.post(
        api.url + "/model/train", data=document, headers={"Content-Type": "application/json"}
    )
    await resp.read()
    assert resp.status == 200
    assert (model_dir / resp.headers["filename"]).is_file()


async def test_train_with_callback(api: Api) -> None:
    receiver = await Receiver().start()
    try:
        resp = await api.session.post(
            api.url + "/model/train",
            data=TRAINING_YAML,
            params={"callback_url": receiver.url, "save_to_default_model_directory": "false"},
            headers={"Content-Type": "application/x-yaml"},
        )
        assert resp.status == 204
        # The job started before the 204 went out; it trains for a second or more.
        status, body = await api.call("GET", "/status")
        assert status == 200 and body["num_active_training_jobs"] == 1
        await receiver.wait_for(1, seconds=120)
        headers, archive = receiver.requests[0]
        assert headers["Content-Type"] == "application/octet-stream"
        assert headers["filename"].endswith(".tar.gz")
        assert "metadata.json" in archive_members(archive)
        status, body = await api.call("GET", "/status")
        assert body["num_active_training_jobs"] == 0
    finally:
        await receiver.stop()


async def test_train_failure_goes_to_the_callback(api: Api) -> None:
    receiver = await Receiver().start()
    try:
        # a malformed document is refused at once; only training is deferred
        resp = await api.session.post(
            api.url + "/model/train",
            data="storiez: []\n",
            params={"callback_url": receiver.url},
            headers={"Content-Type": "application/x-yaml"},
        )
        assert resp.status == 400
        resp = await api.session.post(
            api.url + "/model/train",
            data=TRAINING_YAML.replace("intents: [greet, goodbye]", "intents: {greet: 1}"),
            params={"callback_url": receiver.url},
            headers={"Content-Type": "application/x-yaml"},
        )
        assert resp.status == 204
        await receiver.wait_for(1, seconds=120)
        headers, body = receiver.requests[0]
        assert headers["Content-Type"] == "application/json"
        assert_envelope(json.loads(body), 400, "intents")
        _, status = await api.call("GET", "/status")
        assert status["num_active_training_jobs"] == 0  # a failed job is not counted either
    finally:
        await receiver.stop()


@pytest.mark.parametrize(
    ("data", "content_type", "needle"),
    [
        ("nlu: [", "application/x-yaml", "valid YAML"),
        ("- a\n- b\n", "application/x-yaml", "mapping"),
        ("{", "application/json", "valid JSON"),
        ("storiez: []\nnlu: []\n", "application/x-yaml", "storiez"),
        ("pipeline: []\n", "application/x-yaml", "no training data"),
        ("intents: {greet: 1}\nnlu: []\n", "application/x-yaml", "intents"),
    ],
)
async def test_train_errors(api: Api, data: str, content_type: str, needle: str) -> None:
    status, body = await api.call(
        "POST", "/model/train", data=data, headers={"Content-Type": content_type}
    )
    assert status == 400
    assert_envelope(body, 400, needle)
    assert "/tmp" not in body["message"]


# --- model: test ------------------------------------------------------------------------------


async def test_test_intents_with_yaml(api: Api) -> None:
    nlu = (EXAMPLES / "moodbot" / "data" / "nlu.yml").read_text()
    status, body = await api.call(
        "POST", "/model/test/intents", data=nlu, headers={"Content-Type": "application/x-yaml"}
    )
    assert status == 200, body
    intents = body["intent_evaluation"]
    assert intents["accuracy"] > 0.9
    assert {"greet", "mood_unhappy", "weighted avg"} <= set(intents["report"])
    assert intents["report"]["greet"]["support"] > 0
    assert isinstance(intents["report"]["greet"]["support"], int)
    assert intents["predictions"][0].keys() == {"text", "intent", "predicted", "confidence"}
    assert body["entity_evaluation"] is not None
    assert "response_selection_evaluation" in body


async def test_test_intents_with_rasa_json(api: Api) -> None:
    data = {
        "rasa_nlu_data": {
            "common_examples": [
                {"text": "hello", "intent": "greet", "entities": []},
                {"text": "I am sad", "intent": "mood_unhappy", "entities": []},
                {"text": "hello", "intent": "goodbye", "entities": []},
            ]
        }
    }
    status, body = await api.call("POST", "/model/test/intents", data)
    assert status == 200, body
    evaluation = body["intent_evaluation"]
    assert evaluation["accuracy"] == pytest.approx(2 / 3)
    assert evaluation["errors"] == [
        {
            "text": "hello",
            "intent": "goodbye",
            "intent_prediction": {
                "name": "greet",
                "confidence": evaluation["predictions"][2]["confidence"],
            },
        }
    ]


CROSS_VALIDATION_YAML = textwrap.dedent(
    """
    pipeline:
    - name: WhitespaceTokenizer
    - name: CountVectorsFeaturizer
    - name: LogisticRegressionClassifier
    nlu:
    - intent: greet
      examples: |
        - hey
        - hello
        - hi there
    - intent: goodbye
      examples: |
        - bye
        - goodbye
        - see you
    """
)


async def test_cross_validation(api: Api) -> None:
    status, body = await api.call(
        "POST",
        "/model/test/intents",
        data=CROSS_VALIDATION_YAML,
        params={"cross_validation_folds": "3"},
        headers={"Content-Type": "application/x-yaml"},
    )
    assert status == 200, body
    predictions = body["intent_evaluation"]["predictions"]
    assert sorted(p["text"] for p in predictions) == sorted(
        ["hey", "hello", "hi there", "bye", "goodbye", "see you"]
    )


@pytest.mark.parametrize(
    ("data", "params", "content_type", "needle"),
    [
        ("nlu: []\n", {}, "application/x-yaml", "no NLU examples"),
        (
            '{"rasa_nlu_data": {"common_examples": [{"text": "hi", "intent": "greet"}]}}',
            {"cross_validation_folds": "2"},
            "application/json",
            "only supported for YAML",
        ),
        (
            "nlu:\n- intent: greet\n  examples: |\n    - hi\n",
            {"model": "/no/such/model.tar.gz"},
            "application/x-yaml",
            "could not be loaded",
        ),
        (
            "nlu:\n- intent: greet\n  examples: |\n    - hi\n",
            {"cross_validation_folds": "1"},
            "application/x-yaml",
            "cross_validation_folds",
        ),
    ],
)
async def test_test_intents_errors(
    api: Api, data: str, params: dict[str, str], content_type: str, needle: str
) -> None:
    status, body = await api.call(
        "POST",
        "/model/test/intents",
        data=data,
        params=params,
        headers={"Content-Type": content_type},
    )
    assert status == 400
    assert_envelope(body, 400, needle)


async def test_test_stories(api: Api) -> None:
    stories = (EXAMPLES / "moodbot" / "tests" / "test_stories.yml").read_text()
    status, body = await api.call("POST", "/model/test/stories", data=stories)
    assert status == 200, body
    assert body["is_end_to_end_evaluation"] is False
    assert body["accuracy"] == 1.0
    conversation = body["report"]["conversation_accuracy"]
    assert conversation["correct"] == conversation["total"] > 0
    assert body["actions"][0].keys() == {"action", "predicted", "policy", "confidence"}
    assert 0.0 <= body["in_training_data_fraction"] <= 1.0


async def test_test_stories_end_to_end(api: Api) -> None:
    stories = textwrap.dedent(
        """
        stories:
        - story: e2e
          steps:
          - user: |
              hello there
            intent: greet
          - action: utter_greet
          - user: |
              I am great
            intent: mood_unhappy
          - action: utter_happy
        """
    )
    status, body = await api.call(
        "POST", "/model/test/stories", data=stories, params={"e2e": "true"}
    )
    assert status == 200, body
    assert body["is_end_to_end_evaluation"] is True
    assert body["report"]["conversation_accuracy"]["correct"] == 0
    assert body["report"]["mood_unhappy"]["recall"] == 0.0


@pytest.mark.parametrize(
    ("data", "needle"),
    [("stories: []\n", "no stories"), ("nlu: []\n", "unknown key"), ("stories: [", "YAML")],
)
async def test_test_stories_errors(api: Api, data: str, needle: str) -> None:
    status, body = await api.call("POST", "/model/test/stories", data=data)
    assert status == 400
    assert_envelope(body, 400, needle)


# --- domain ------------------------------------------------------------------------------------


async def test_domain_as_json_and_yaml(api: Api) -> None:
    status, domain = await api.call("GET", "/domain")
    assert status == 200
    assert "greet" in domain["intents"]
    assert domain["responses"]["utter_greet"] == [{"text": "Hey! How are you?"}]
    resp = await api.raw("GET", "/domain", headers={"Accept": "application/x-yaml"})
    assert resp.status == 200 and resp.content_type == "application/x-yaml"
    _, raw = await api.call("GET", "/domain", headers={"Accept": "application/x-yaml"})
    assert yaml.safe_load(raw)["responses"] == domain["responses"]
    status, domain_any = await api.call("GET", "/domain", headers={"Accept": "*/*"})
    assert status == 200 and domain_any == domain


async def test_domain_406(api: Api) -> None:
    status, body = await api.call("GET", "/domain", headers={"Accept": "text/html"})
    assert status == 406
    assert_envelope(body, 406, "Accept")


# --- OpenAPI document ---------------------------------------------------------------------------


async def test_openapi_document(api: Api) -> None:
    from openapi_spec_validator import validate

    status, document = await api.call("GET", "/openapi.json")
    assert status == 200
    validate(document)
    assert "/conversations/{conversation_id}/tracker" in document["paths"]
