"""Server settings: what ``palaver run`` was asked to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

EventLoop = Literal["asyncio", "uvloop"]
EVENT_LOOPS: tuple[EventLoop, ...] = ("asyncio", "uvloop")
# A turn is CPU work between awaits: asyncio's selector loop serves waiting
# connections in the order their requests arrived; uvloop (0.23) left some
# waiting hundreds of ms under such load (bench/RESULTS.md, finding 31).
DEFAULT_EVENT_LOOP: EventLoop = "asyncio"


@dataclass(frozen=True)
class ServerSettings:
    """Everything the server needs besides endpoints.yml and credentials.yml.

    Attributes:
        model: a model archive, or a directory whose newest archive is used.
        endpoints: path of endpoints.yml (None: in-memory defaults).
        credentials: path of credentials.yml (None: the REST channel only).
        enable_api: mount the Rasa-compatible HTTP API.
        cors: allowed CORS origins (``*`` for any).
        response_timeout: seconds a channel request may take before 503.
        lock_wait_timeout: seconds a message waits for its conversation's lock.
        max_actions_per_turn: circuit breaker for the prediction loop.
        tracker_cache_size: conversations whose trackers this process keeps between
            turns (reused only while the store's version is the one it wrote).
        trace_locks: record the lock ticket, fence and replica of each message in
            its ``user`` event's metadata (``palaver_lock``), for auditing order.
        event_loop: ``asyncio`` (the standard library's) or ``uvloop``.
    """

    model: str | None = None
    endpoints: str | None = None
    credentials: str | None = None
    host: str = "0.0.0.0"
    port: int = 5005
    enable_api: bool = False
    cors: tuple[str, ...] = ()
    response_timeout: float = 3600.0
    lock_wait_timeout: float = 60.0
    max_actions_per_turn: int = 10
    auth_token: str | None = None
    jwt_secret: str | None = None
    jwt_method: str = "HS256"
    jwt_private_key: str | None = None
    remote_storage: str | None = None
    workers: int = 1
    debug: bool = False
    access_log: bool = False
    trace_locks: bool = False
    tracker_cache_size: int = 2000
    event_loop: EventLoop = DEFAULT_EVENT_LOOP
    extra_channels: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def model_path(self) -> Path | None:
        return Path(self.model) if self.model else None
