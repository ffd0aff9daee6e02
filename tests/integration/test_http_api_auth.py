"""HTTP API auth (token, HS256 and RS256 JWTs) and the no-model answers, on real servers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.api_helpers import Api, ServerPool
from tests.integration.conftest import ServerProcess

pytestmark = pytest.mark.slow

TOKEN = "s3cret-token"
HS_SECRET = "hs256-shared-secret-of-reasonable-length"

# (method, path, JSON body): every API operation, on conversation "alice".
OPERATIONS: list[tuple[str, str, Any]] = [
    ("GET", "/status", None),
    ("GET", "/conversations/alice/tracker", None),
    ("POST", "/conversations/alice/tracker/events", {"event": "slot", "name": "x"}),
    ("PUT", "/conversations/alice/tracker/events", []),
    ("GET", "/conversations/alice/story", None),
    ("POST", "/conversations/alice/execute", {"name": "utter_greet"}),
    ("POST", "/conversations/alice/trigger_intent", {"name": "greet"}),
    ("POST", "/conversations/alice/predict", None),
    ("POST", "/conversations/alice/messages", {"text": "hi", "sender": "user"}),
    ("POST", "/model/train", None),
    ("POST", "/model/test/stories", None),
    ("POST", "/model/test/intents", None),
    ("POST", "/model/predict", []),
    ("POST", "/model/parse", {"text": "hello"}),
    ("PUT", "/model", {}),
    ("DELETE", "/model", None),
    ("GET", "/domain", None),
]
# Operations that would change the server for the other tests when authorized.
DESTRUCTIVE = {("DELETE", "/model")}
CONVERSATION_OPS = [op for op in OPERATIONS if op[1].startswith("/conversations/")]
OTHER_OPS = [op for op in OPERATIONS if not op[1].startswith("/conversations/")]
SAFE_OPS = [op for op in OPERATIONS if (op[0], op[1]) not in DESTRUCTIVE]
PUBLIC = ["/", "/version", "/ready", "/openapi.json"]


def op_id(op: tuple[str, str, Any]) -> str:
    return f"{op[0]} {op[1]}"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    with ServerPool(tmp_path_factory.mktemp("logs")) as pool:
        yield pool


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture(scope="module")
def auth_server(servers: ServerPool, moodbot_model: Path) -> ServerProcess:
    args = ["-m", str(moodbot_model), "--enable-api", "--auth-token", TOKEN]
    args += ["--jwt-secret", HS_SECRET, "--jwt-method", "HS256"]
    return servers.start(args, ready_path="/ready")


@pytest.fixture(scope="module")
def rs256_server(
    servers: ServerPool, moodbot_model: Path, rsa_keys: tuple[bytes, bytes]
) -> ServerProcess:
    args = ["-m", str(moodbot_model), "--enable-api"]
    args += ["--jwt-secret", rsa_keys[1].decode(), "--jwt-method", "RS256"]
    return servers.start(args, ready_path="/ready")


@pytest.fixture(scope="module")
def no_model_server(servers: ServerPool, tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    empty = tmp_path_factory.mktemp("no-models")
    return servers.start(["-m", str(empty), "--enable-api"])


async def client(server: ServerProcess) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, server.url)


@pytest.fixture
async def auth_api(auth_server: ServerProcess) -> AsyncIterator[Api]:
    async for api in client(auth_server):
        yield api


@pytest.fixture
async def rs_api(rs256_server: ServerProcess) -> AsyncIterator[Api]:
    async for api in client(rs256_server):
        yield api


@pytest.fixture
async def no_model_api(no_model_server: ServerProcess) -> AsyncIterator[Api]:
    async for api in client(no_model_server):
        yield api


def hs256(user: dict[str, Any], secret: str = HS_SECRET, **claims: Any) -> dict[str, str]:
    token = jwt.encode({"user": user, **claims}, secret, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def rs256(user: dict[str, Any], private_key: bytes) -> dict[str, str]:
    token = jwt.encode({"user": user}, private_key, algorithm="RS256")
    return {"Authorization": f"Bearer {token}"}


async def call(api: Api, op: tuple[str, str, Any], **kwargs: Any) -> tuple[int, Any]:
    method, path, body = op
    return await api.call(method, path, body, **kwargs)


def assert_error(status: int, body: Any, expected: int, reason: str) -> None:
    assert status == expected, body
    assert body["code"] == expected and body["reason"] == reason, body


# --- token and HS256 -----------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPERATIONS, ids=op_id)
async def test_no_credentials_is_401(auth_api: Api, op: tuple[str, str, Any]) -> None:
    status, body = await call(auth_api, op)
    assert_error(status, body, 401, "NotAuthenticated")


@pytest.mark.parametrize("op", OPERATIONS, ids=op_id)
async def test_wrong_token_is_401(auth_api: Api, op: tuple[str, str, Any]) -> None:
    status, body = await call(auth_api, op, params={"token": "wrong"})
    assert_error(status, body, 401, "NotAuthenticated")


@pytest.mark.parametrize("op", SAFE_OPS, ids=op_id)
async def test_token_is_accepted(auth_api: Api, op: tuple[str, str, Any]) -> None:
    status, body = await call(auth_api, op, params={"token": TOKEN})
    assert status not in (401, 403), body


@pytest.mark.parametrize("op", SAFE_OPS, ids=op_id)
async def test_admin_jwt_is_accepted(auth_api: Api, op: tuple[str, str, Any]) -> None:
    status, body = await call(auth_api, op, headers=hs256({"username": "x", "role": "admin"}))
    assert status not in (401, 403), body


@pytest.mark.parametrize("op", CONVERSATION_OPS, ids=op_id)
async def test_user_jwt_reaches_only_its_own_conversation(
    auth_api: Api, op: tuple[str, str, Any]
) -> None:
    own = hs256({"username": "alice", "role": "user"})
    status, body = await call(auth_api, op, headers=own)
    assert status not in (401, 403), body
    other = hs256({"username": "bob", "role": "user"})
    status, body = await call(auth_api, op, headers=other)
    assert_error(status, body, 403, "NotAuthorized")


@pytest.mark.parametrize("op", OTHER_OPS, ids=op_id)
async def test_user_jwt_is_403_elsewhere(auth_api: Api, op: tuple[str, str, Any]) -> None:
    status, body = await call(auth_api, op, headers=hs256({"username": "alice", "role": "user"}))
    assert_error(status, body, 403, "NotAuthorized")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (hs256({"role": "admin"}, secret="another-secret-of-reasonable-length"), 401),
        (hs256({"role": "admin"}, exp=int(time.time()) - 60), 401),
        ({"Authorization": "Bearer not-a-jwt"}, 401),
        ({"Authorization": f"Basic {TOKEN}"}, 401),
        # a valid JWT without a role is authenticated but may do nothing (Rasa)
        (hs256({"username": "alice"}), 403),
    ],
    ids=["wrong-secret", "expired", "garbage", "not-bearer", "no-role"],
)
async def test_invalid_jwts(auth_api: Api, headers: dict[str, str], expected: int) -> None:
    status, body = await auth_api.call("GET", "/conversations/alice/tracker", headers=headers)
    reason = "NotAuthenticated" if expected == 401 else "NotAuthorized"
    assert_error(status, body, expected, reason)


@pytest.mark.parametrize("path", PUBLIC)
async def test_public_routes_need_no_auth(auth_api: Api, path: str) -> None:
    status, _ = await auth_api.call("GET", path)
    assert status == 200


async def test_destructive_route_with_token(auth_api: Api) -> None:
    # last on purpose: the model is unloaded afterwards
    status, _ = await auth_api.call("DELETE", "/model", params={"token": TOKEN})
    assert status == 204
    status, body = await auth_api.call("GET", "/domain", params={"token": TOKEN})
    assert_error(status, body, 409, "Conflict")


# --- RS256 ----------------------------------------------------------------------------------------


async def test_rs256_jwt(rs_api: Api, rsa_keys: tuple[bytes, bytes]) -> None:
    private, _ = rsa_keys
    status, body = await rs_api.call("GET", "/domain", headers=rs256({"role": "admin"}, private))
    assert status == 200, body
    user = rs256({"username": "alice", "role": "user"}, private)
    status, body = await rs_api.call("GET", "/conversations/alice/tracker", headers=user)
    assert status == 200, body
    status, body = await rs_api.call("GET", "/conversations/bob/tracker", headers=user)
    assert_error(status, body, 403, "NotAuthorized")


async def test_rs256_rejects_other_keys_and_algorithms(rs_api: Api) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for headers in (rs256({"role": "admin"}, other_pem), hs256({"role": "admin"})):
        status, body = await rs_api.call("GET", "/domain", headers=headers)
        assert_error(status, body, 401, "NotAuthenticated")


# --- no model: 409 on the API, 503 on channels, then PUT and DELETE /model -----------------------

NLU_YAML = "nlu:\n- intent: greet\n  examples: |\n    - hi\n"
STORIES_YAML = "stories:\n- story: s\n  steps:\n  - intent: greet\n  - action: utter_greet\n"
# Operations needing a model, each with a valid request: (method, path, JSON body, raw body).
NO_MODEL_OPS: list[tuple[str, str, Any, str | None]] = [
    ("GET", "/conversations/alice/tracker", None, None),
    ("POST", "/conversations/alice/tracker/events", {"event": "slot", "name": "x"}, None),
    ("PUT", "/conversations/alice/tracker/events", [], None),
    ("GET", "/conversations/alice/story", None, None),
    ("POST", "/conversations/alice/execute", {"name": "utter_greet"}, None),
    ("POST", "/conversations/alice/trigger_intent", {"name": "greet"}, None),
    ("POST", "/conversations/alice/predict", None, None),
    ("POST", "/conversations/alice/messages", {"text": "hi", "sender": "user"}, None),
    ("POST", "/model/test/stories", None, STORIES_YAML),
    ("POST", "/model/test/intents", None, NLU_YAML),
    ("POST", "/model/predict", [], None),
    ("POST", "/model/parse", {"text": "hello"}, None),
    ("GET", "/domain", None, None),
]


@pytest.mark.parametrize("op", NO_MODEL_OPS, ids=lambda op: f"{op[0]} {op[1]}")
async def test_api_routes_answer_409_without_a_model(
    no_model_api: Api, op: tuple[str, str, Any, str | None]
) -> None:
    method, path, body, raw = op
    status, reply = await no_model_api.call(method, path, body, data=raw)
    assert_error(status, reply, 409, "Conflict")
    assert "No model is loaded" in reply["message"]


async def test_channels_answer_503_without_a_model(no_model_api: Api) -> None:
    status, body = await no_model_api.call(
        "POST", "/webhooks/rest/webhook", {"sender": "x", "message": "hi"}
    )
    assert status == 503, body
    status, _ = await no_model_api.call("GET", "/ready")
    assert status == 503


async def test_load_and_unload_a_model(no_model_api: Api, moodbot_model: Path) -> None:
    status, body = await no_model_api.call("PUT", "/model", {})
    assert_error(status, body, 400, "BadRequest")
    status, body = await no_model_api.call("PUT", "/model", {"model_file": "/no/such.tar.gz"})
    assert_error(status, body, 400, "BadRequest")
    assert "/no/such.tar.gz" in body["message"]
    status, body = await no_model_api.call("PUT", "/model", {"model_server": "not a mapping"})
    assert_error(status, body, 400, "BadRequest")

    status, _ = await no_model_api.call("PUT", "/model", {"model_file": str(moodbot_model)})
    assert status == 204
    status, domain = await no_model_api.call("GET", "/domain")
    assert status == 200 and "greet" in domain["intents"]
    status, ready = await no_model_api.call("GET", "/ready")
    assert status == 200 and ready["model_id"]
    status, replies = await no_model_api.call(
        "POST", "/webhooks/rest/webhook", {"sender": "x", "message": "hello"}
    )
    assert status == 200 and replies[0]["text"] == "Hey! How are you?"

    status, _ = await no_model_api.call("DELETE", "/model")
    assert status == 204
    status, body = await no_model_api.call("GET", "/domain")
    assert_error(status, body, 409, "Conflict")
