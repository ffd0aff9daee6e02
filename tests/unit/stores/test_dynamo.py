"""DynamoDB specifics: appends split to fit transactions, item size limit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from palaver.errors import StoreError, StoreUnavailableError
from palaver.stores.dynamo import DynamoStoreSettings, DynamoTrackerStore, _transaction_chunks
from palaver.stores.memory import encode_events
from tests import services


def test_chunks_respect_item_count_and_bytes() -> None:
    small = encode_events("s", [{"event": "bot", "text": "x"}] * 250)
    assert [len(c) for c in _transaction_chunks(small)] == [99, 99, 52]
    big = encode_events("s", [{"event": "bot", "text": "y" * 300_000}] * 30)
    chunks = list(_transaction_chunks(big))
    assert all(sum(len(e.data) for e in c) <= 3_500_000 for c in chunks)
    assert sum(len(c) for c in chunks) == 30
    assert list(_transaction_chunks([])) == []


@pytest.fixture
async def store(moto_server: services.MotoServer) -> AsyncIterator[DynamoTrackerStore]:
    settings = DynamoStoreSettings(
        table_name=f"palaver_{uuid.uuid4().hex[:8]}",
        endpoint_url=moto_server.url,
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    async with DynamoTrackerStore(settings) as store:
        yield store


async def test_append_larger_than_one_transaction(store: DynamoTrackerStore) -> None:
    events = [{"event": "session_started"}] + [{"event": "bot", "text": str(i)} for i in range(249)]
    await store.append("many", events, fence=2)
    loaded = await store.load("many")
    assert loaded is not None
    assert loaded.events == events
    assert loaded.total_events == 250


async def test_event_larger_than_an_item_is_refused(store: DynamoTrackerStore) -> None:
    with pytest.raises(StoreError) as info:
        await store.append("huge", [{"event": "bot", "text": "z" * 500_000}])
    assert not isinstance(info.value, StoreUnavailableError)
    assert await store.load("huge") is None
