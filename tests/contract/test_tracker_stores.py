"""The TrackerStore contract, run against every backend (see conftest.BACKENDS)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from palaver.errors import ConversationChangedError, StaleWriteError, StoreError
from palaver.stores.base import ConversationVersion, EventDict, TrackerStore, VersionedStore
from tests.contract.conftest import Backend


@pytest.fixture
def backend(tracker_backend: Backend) -> Backend:
    return tracker_backend


@pytest.fixture
def store(tracker_store: TrackerStore) -> TrackerStore:
    return tracker_store


def user(text: str, ts: float = 1_700_000_000.0, **extra: Any) -> EventDict:
    return {
        "event": "user",
        "timestamp": ts,
        "metadata": {},
        "text": text,
        "parse_data": {
            "intent": {"name": "greet", "confidence": 0.93},
            "entities": [],
            "text": text,
        },
        "input_channel": "rest",
        "message_id": f"m-{text}",
        **extra,
    }


def action(name: str, ts: float = 1_700_000_001.0) -> EventDict:
    return {
        "event": "action",
        "timestamp": ts,
        "metadata": {},
        "name": name,
        "policy": None,
        "confidence": 1.0,
        "action_text": None,
        "hide_rule_turn": False,
    }


def session_started(ts: float = 1_700_000_000.0) -> EventDict:
    return {"event": "session_started", "timestamp": ts, "metadata": {}}


async def collect(keys: AsyncIterator[str]) -> list[str]:
    return [key async for key in keys]


def turn(i: int) -> list[EventDict]:
    return [
        user(f"hello {i}", ts=1_700_000_000.0 + i),
        action("utter_greet"),
        action("action_listen"),
    ]


async def test_start_and_stop_are_idempotent(backend: Backend) -> None:
    store = backend.make()
    await store.start()
    await store.start()
    await store.stop()
    await store.stop()


async def test_async_context_manager(backend: Backend) -> None:
    async with backend.make() as store:  # type: ignore[attr-defined]
        await store.append("ctx", [session_started()])
        assert (await store.load("ctx")) is not None


async def test_satisfies_protocol(store: TrackerStore) -> None:
    assert isinstance(store, TrackerStore)


async def test_load_of_unknown_conversation_is_none(store: TrackerStore) -> None:
    assert await store.load("nobody") is None
    assert await store.load("nobody", full=True) is None


async def test_append_nothing_is_a_noop(store: TrackerStore) -> None:
    await store.append("empty", [])
    assert await store.load("empty") is None


async def test_round_trip_preserves_order_and_exact_dicts(store: TrackerStore) -> None:
    events = [*turn(1), *turn(2)]
    events.append(
        {
            "event": "slot",
            "timestamp": 1_700_000_002.123456789,
            "name": "shopping_list",
            "value": [1, 2.5, None, True, {"nested": {"deep": ["x"]}}],
            "metadata": {"big_int": 2**53 + 1, "neg": -0.0001, "empty": {}},
        }
    )
    await store.append("alice", events[:3])
    await store.append("alice", events[3:])
    loaded = await store.load("alice")
    assert loaded is not None
    assert loaded.events == events
    assert loaded.total_events == len(events)
    assert [orjson.dumps(e) for e in loaded.events] == [orjson.dumps(e) for e in events]


async def test_loaded_events_are_copies(store: TrackerStore) -> None:
    event = user("mutable")
    await store.append("copy", [event])
    event["text"] = "changed after append"
    loaded = await store.load("copy")
    assert loaded is not None
    assert loaded.events[0]["text"] == "mutable"
    loaded.events[0]["text"] = "changed after load"
    again = await store.load("copy")
    assert again is not None
    assert again.events[0]["text"] == "mutable"


async def test_load_returns_latest_session_only(store: TrackerStore) -> None:
    first = [session_started(), *turn(1), *turn(2)]
    second = [session_started(ts=1_700_100_000.0), *turn(3)]
    third_start = [action("action_session_start"), session_started(ts=1_700_200_000.0)]
    await store.append("bob", first)
    await store.append("bob", second)
    loaded = await store.load("bob")
    assert loaded is not None
    assert loaded.events == second
    assert loaded.total_events == len(first) + len(second)

    # A session_started in the middle of a batch: the session starts there.
    await store.append("bob", [*third_start, *turn(4)])
    loaded = await store.load("bob")
    assert loaded is not None
    assert loaded.events == [third_start[1], *turn(4)]
    assert loaded.total_events == len(first) + len(second) + len(third_start) + 3

    # Later appends without a session start extend the current session.
    await store.append("bob", turn(5))
    loaded = await store.load("bob")
    assert loaded is not None
    assert loaded.events == [third_start[1], *turn(4), *turn(5)]


async def test_without_session_started_load_returns_everything(store: TrackerStore) -> None:
    events = [*turn(1), *turn(2)]
    await store.append("legacy", events)
    loaded = await store.load("legacy")
    assert loaded is not None
    assert loaded.events == events


async def test_full_load_returns_all_sessions(store: TrackerStore) -> None:
    everything = [session_started(), *turn(1), session_started(), *turn(2)]
    await store.append("carol", everything[:4])
    await store.append("carol", everything[4:])
    loaded = await store.load("carol", full=True)
    assert loaded is not None
    assert loaded.events == everything
    assert loaded.total_events == len(everything)


async def test_conversations_are_independent(store: TrackerStore) -> None:
    await store.append("one", turn(1))
    await store.append("two", [session_started(), *turn(2)])
    one, two = await store.load("one"), await store.load("two")
    assert one is not None and two is not None
    assert one.events == turn(1)
    assert two.events == [session_started(), *turn(2)]


async def test_keys_streams_every_conversation(
    store: TrackerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small pages so paginated backends cross page boundaries.
    import palaver.stores.sql_postgres as pg
    import palaver.stores.sql_sqlite as lite

    monkeypatch.setattr(pg, "KEYS_PAGE_SIZE", 4)
    monkeypatch.setattr(lite, "KEYS_PAGE_SIZE", 4)
    ids = {f"user-{i:02d}" for i in range(11)} | {"ünïcödé 💬", "with:colon"}
    await asyncio.gather(*(store.append(i, [session_started()]) for i in ids))

    iterator = store.keys()
    assert isinstance(iterator, AsyncIterator)
    first = await anext(iterator)  # streaming: an item before the rest is consumed
    rest = [key async for key in iterator]
    keys = [first, *rest]
    assert sorted(keys) == sorted(ids)


async def test_keys_stop_early_then_reuse_store(store: TrackerStore) -> None:
    for i in range(3):
        await store.append(f"k{i}", [session_started()])
    async for _ in store.keys():
        break
    assert await store.load("k1") is not None


async def test_delete_removes_one_conversation(store: TrackerStore) -> None:
    await store.append("keep", turn(1))
    await store.append("drop", [session_started(), *turn(2)], fence=9)
    await store.delete("drop")
    assert await store.load("drop") is None
    assert await store.load("drop", full=True) is None
    assert await collect(store.keys()) == ["keep"]
    kept = await store.load("keep")
    assert kept is not None and kept.events == turn(1)

    # A deleted conversation starts afresh.
    await store.append("drop", turn(3))
    again = await store.load("drop")
    assert again is not None
    assert again.events == turn(3)
    assert again.total_events == 3

    await store.delete("never-existed")


async def test_fencing(store: TrackerStore) -> None:
    await store.append("fenced", turn(1), fence=5)
    with pytest.raises(StaleWriteError):
        await store.append("fenced", turn(2), fence=4)
    await store.append("fenced", turn(3), fence=5)  # equal: same holder, accepted
    await store.append("fenced", turn(4), fence=7)  # higher: new holder, accepted
    with pytest.raises(StaleWriteError):
        await store.append("fenced", turn(5), fence=6)
    await store.append("fenced", turn(6))  # no fence: not checked
    loaded = await store.load("fenced")
    assert loaded is not None
    assert loaded.events == [*turn(1), *turn(3), *turn(4), *turn(6)]
    # Fences are per conversation.
    await store.append("other", turn(1), fence=1)


async def test_expected_total_matching_is_accepted(store: TrackerStore) -> None:
    await store.append("counted", [session_started(), *turn(1)], expected_total=0)
    await store.append("counted", turn(2), expected_total=4, fence=1)
    await store.append("counted", [session_started(), *turn(3)], expected_total=7, fence=1)
    await store.append("counted", turn(4), expected_total=11)  # no fence: count only
    loaded = await store.load("counted")
    assert loaded is not None
    assert loaded.events == [session_started(), *turn(3), *turn(4)]
    assert loaded.total_events == 14
    # Across sessions: the count is of the whole conversation, not the loaded session.
    await store.append("counted", turn(5), expected_total=loaded.total_events)


@pytest.mark.parametrize("wrong", [0, 3, 5, 99])
async def test_expected_total_mismatch_is_refused_and_writes_nothing(
    store: TrackerStore, wrong: int
) -> None:
    await store.append("stale-view", [session_started(), *turn(1)], fence=3)  # 4 events
    before = await store.load("stale-view", full=True)
    with pytest.raises(ConversationChangedError) as refused:
        await store.append("stale-view", turn(2), fence=3, expected_total=wrong)
    error = refused.value
    assert isinstance(error, StaleWriteError)  # the 409 ConversationConflict family
    assert (error.conversation_id, error.expected, error.actual) == ("stale-view", wrong, 4)
    assert "'stale-view'" in str(error) and f"{wrong} stored" in str(error)
    assert "now has 4" in str(error)
    assert await store.load("stale-view", full=True) == before
    if isinstance(store, VersionedStore):
        assert await store.version("stale-view") == ConversationVersion(4, 3)
    # The refusal left the conversation writable with the right count.
    await store.append("stale-view", turn(2), fence=3, expected_total=4)


async def test_expected_total_of_a_missing_conversation_is_zero(store: TrackerStore) -> None:
    with pytest.raises(ConversationChangedError) as refused:
        await store.append("nobody-yet", turn(1), expected_total=3, fence=1)
    assert (refused.value.expected, refused.value.actual) == (3, 0)
    assert await store.load("nobody-yet") is None
    assert await collect(store.keys()) == []
    await store.append("nobody-yet", turn(1), expected_total=0, fence=1)
    # A deleted conversation counts as empty again.
    await store.delete("nobody-yet")
    with pytest.raises(ConversationChangedError):
        await store.append("nobody-yet", turn(2), expected_total=3)
    await store.append("nobody-yet", turn(2), expected_total=0)
    loaded = await store.load("nobody-yet")
    assert loaded is not None and loaded.events == turn(2)


async def test_stale_fence_wins_over_a_changed_count(store: TrackerStore) -> None:
    """A writer that lost its lock gets the fence refusal, which it must not retry."""
    await store.append("both", turn(1), fence=5)
    with pytest.raises(StaleWriteError) as refused:
        await store.append("both", turn(2), fence=4, expected_total=0)
    assert not isinstance(refused.value, ConversationChangedError)
    with pytest.raises(StaleWriteError) as refused:
        await store.append("both", turn(2), fence=4, expected_total=3)
    assert not isinstance(refused.value, ConversationChangedError)
    # A higher fence with a stale count: the count is what is wrong.
    with pytest.raises(ConversationChangedError):
        await store.append("both", turn(2), fence=6, expected_total=0)
    loaded = await store.load("both")
    assert loaded is not None and loaded.events == turn(1)
    if isinstance(store, VersionedStore):
        assert await store.version("both") == ConversationVersion(3, 5)  # fence 6 not taken


@pytest.mark.parametrize("existing", [0, 3])
async def test_concurrent_appenders_with_the_same_expected_total_one_wins(
    backend: Backend, store: TrackerStore, existing: int
) -> None:
    """Replicas whose views were loaded at the same count: exactly one append is stored."""
    if not backend.isolated_transactions:
        pytest.skip(f"{backend.name}'s test double does not isolate concurrent transactions")
    if existing:
        await store.append("contended", turn(0))
    writers = 12

    async def write(writer: int) -> int:
        events = [user(f"writer {writer}"), action("utter_greet"), action("action_listen")]
        await store.append("contended", events, expected_total=existing)
        return writer

    outcomes = await asyncio.gather(*(write(w) for w in range(writers)), return_exceptions=True)
    winners = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1, outcomes
    assert len(refused) == writers - 1
    for error in refused:
        assert isinstance(error, ConversationChangedError), repr(error)
        assert (error.expected, error.actual) == (existing, existing + 3)
    loaded = await store.load("contended")
    assert loaded is not None
    assert loaded.total_events == existing + 3
    assert loaded.events[existing:] == [
        user(f"writer {winners[0]}"),
        action("utter_greet"),
        action("action_listen"),
    ]


async def test_expected_total_counts_every_event_of_a_long_append(store: TrackerStore) -> None:
    """More events than fit one DynamoDB transaction (99): the count still matches after."""
    events = [action(f"a{i}", ts=float(i)) for i in range(150)]
    await store.append("long-append", events, expected_total=0, fence=1)
    with pytest.raises(ConversationChangedError) as refused:
        await store.append("long-append", turn(1), expected_total=99, fence=1)
    assert refused.value.actual == 150
    await store.append("long-append", turn(1), expected_total=150, fence=1)
    loaded = await store.load("long-append")
    assert loaded is not None and loaded.total_events == 153


async def test_version_tracks_event_count_and_fence(store: TrackerStore) -> None:
    """The optional VersionedStore capability; every built-in backend has it."""
    assert isinstance(store, VersionedStore)
    assert await store.version("v") is None
    await store.append("v", turn(1), fence=3)
    assert await store.version("v") == ConversationVersion(3, 3)
    await store.append("v", [session_started(), *turn(2)])  # no fence: fence kept
    assert await store.version("v") == ConversationVersion(7, 3)
    loaded = await store.load("v")
    assert loaded is not None and loaded.total_events == 7
    with pytest.raises(StaleWriteError):
        await store.append("v", turn(3), fence=2)
    assert await store.version("v") == ConversationVersion(7, 3)  # a refused append changes nothing
    await store.append("v", turn(3), fence=5)
    assert await store.version("v") == ConversationVersion(10, 5)
    unfenced = "v-unfenced"
    await store.append(unfenced, turn(1))
    assert await store.version(unfenced) == ConversationVersion(3, None)
    await store.delete("v")
    assert await store.version("v") is None


async def test_invalid_events_are_rejected_whole(store: TrackerStore) -> None:
    with pytest.raises(StoreError, match="#1"):
        await store.append("bad", [user("ok"), {"no_event_key": True}])
    with pytest.raises(StoreError, match="JSON"):
        await store.append("bad", [user("ok"), {"event": "slot", "value": object()}])
    assert await store.load("bad") is None


async def test_concurrent_appends_on_different_conversations(store: TrackerStore) -> None:
    async def converse(sender_id: str) -> None:
        for i in range(8):
            await store.append(sender_id, turn(i), fence=i)

    senders = [f"parallel-{n}" for n in range(12)]
    await asyncio.gather(*(converse(s) for s in senders))
    for sender_id in senders:
        loaded = await store.load(sender_id)
        assert loaded is not None
        assert loaded.events == [e for i in range(8) for e in turn(i)]
        assert loaded.total_events == 24


async def test_unicode_and_large_payloads(store: TrackerStore) -> None:
    text = "héllo wörld — 你好 — مرحبا — 🙂👩🏽‍💻 — \u0000 nul — \\ \" ' \n\t"
    big = "x" * 200_000  # DynamoDB caps an item at 400 KB; stay below it
    events = [
        user(text),
        {"event": "bot", "timestamp": 1.0, "text": big, "data": {"blob": "y" * 50_000}},
        {"event": "slot", "timestamp": 2.0, "name": "ключ", "value": {"emoji 🔑": text}},
    ]
    await store.append("ünï 💬", events)
    loaded = await store.load("ünï 💬")
    assert loaded is not None
    assert loaded.events == events


async def test_large_conversation_loads_only_the_tail(
    backend: Backend, store: TrackerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20,000 events in old sessions; a load decodes only the latest session's rows.

    Every backend turns stored JSON into dicts through ``orjson.loads`` once per
    event it fetched, so counting those calls counts the rows the load read. The
    SQL query plans are checked separately (tests/unit/stores/test_sql_schema.py).
    """
    old_sessions, per_session = 20, 1000
    sessions = [
        [
            session_started(ts=float(s)),
            *(action(f"a{s}-{i}", ts=float(s)) for i in range(per_session - 1)),
        ]
        for s in range(old_sessions)
    ]
    tail = [session_started(ts=99.0), *turn(1), *turn(2)]
    await backend.seed(store, "long", [*sessions, tail])

    real_loads = orjson.loads
    decoded = 0

    def counting_loads(data: Any) -> Any:
        nonlocal decoded
        decoded += 1
        return real_loads(data)

    monkeypatch.setattr(orjson, "loads", counting_loads)
    loaded = await store.load("long")
    monkeypatch.setattr(orjson, "loads", real_loads)

    assert loaded is not None
    assert loaded.events == tail
    assert loaded.total_events == old_sessions * per_session + len(tail)
    assert decoded == len(tail)

    if not backend.cheap_full_scan:
        return
    everything = await store.load("long", full=True)
    assert everything is not None
    assert everything.events == [e for session in sessions for e in session] + tail


async def test_persistence_across_restart(backend: Backend, store: TrackerStore) -> None:
    if not backend.persistent:
        pytest.skip(f"{backend.name} keeps nothing across a restart by design")
    await store.append("persist", [session_started(), *turn(1)], fence=3)
    await store.append("persist", turn(2), fence=3)
    await store.stop()

    reopened = backend.make()
    await reopened.start()
    try:
        loaded = await reopened.load("persist")
        assert loaded is not None
        assert loaded.events == [session_started(), *turn(1), *turn(2)]
        assert loaded.total_events == 7
        assert await collect(reopened.keys()) == ["persist"]
        with pytest.raises(StaleWriteError):  # the fence survived too
            await reopened.append("persist", turn(3), fence=2)
        await reopened.append("persist", turn(3), fence=4)
    finally:
        await reopened.stop()


async def test_operations_before_start_fail_clearly(backend: Backend) -> None:
    if backend.name == "memory":
        pytest.skip("the in-memory store needs no start")
    store = backend.make()
    with pytest.raises(StoreError, match="not started"):
        await store.load("x")
    with pytest.raises(StoreError, match="not started"):
        await store.append("x", turn(1))


async def test_mongo_logic_with_in_process_standin() -> None:
    """The Mongo store's own logic, without a server (the whole contract also runs
    against this stand-in as the ``mongo_standin`` backend; the real server runs
    as ``mongo`` when PALAVER_TEST_MONGO_URL is set).

    Covers what the stand-in makes observable: the documents written (one per
    event, ``seq`` contiguous, the conversation document's counters), racing
    first appends (the upsert's duplicate key is retried, not reported as a
    stale write), a stale fence refused without writing, and a connection
    failure mapped to StoreUnavailableError.
    """
    from palaver.errors import StoreUnavailableError
    from palaver.stores.mongo import MongoStoreSettings, MongoTrackerStore
    from tests.unit.stores.fake_motor import FakeMongoServer

    server = FakeMongoServer()
    settings = MongoStoreSettings(db="standin", collection="conversations")
    async with MongoTrackerStore(settings, client_factory=server.client_factory) as store:
        await asyncio.gather(*(store.append("race", turn(i), fence=1) for i in range(6)))
        database = server.databases["standin"]
        meta = database["conversations"].documents
        events = database["conversations_events"].documents
        assert meta == [{"_id": "race", "total": 18, "fence": 1}]
        assert sorted(d["seq"] for d in events) == list(range(18))
        assert {d["type_name"] for d in events} == {"user", "action"}
        assert {d["intent_name"] for d in events if d["type_name"] == "user"} == {"greet"}

        await store.append("race", [session_started(), *turn(9)], fence=2)
        assert meta[0]["session_start"] == 18
        with pytest.raises(StaleWriteError):
            await store.append("race", turn(10), fence=1)
        assert meta[0]["total"] == 22  # nothing reserved by the refused append
        loaded = await store.load("race")
        assert loaded is not None and loaded.events == [session_started(), *turn(9)]

        server.available = False
        with pytest.raises(StoreUnavailableError):
            await store.load("race")
        with pytest.raises(StoreUnavailableError):
            await store.append("race", turn(11), fence=3)
        server.available = True
    assert server.clients_closed == 1


async def test_in_memory_store_calls_never_suspend() -> None:
    """What ``never_suspends`` promises (the processor then persists without a task)."""
    from palaver.stores.memory import InMemoryTrackerStore

    store = InMemoryTrackerStore()
    assert store.never_suspends
    events = [{"event": "action", "timestamp": 1.0, "name": "action_listen"}]
    calls = [
        store.append("alice", events, fence=1, expected_total=0),
        store.load("alice"),
        store.version("alice"),
        store.delete("alice"),
    ]
    for call in calls:
        with pytest.raises(StopIteration):
            call.send(None)  # done at the first step: no await inside suspended
