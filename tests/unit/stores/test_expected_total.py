"""``append(..., expected_total=)`` outside the backends: the fail-safe wrapper and custom stores.

The backends' own check runs in the contract suite (tests/contract). Here: the
fail-safe wrapper checks the count against whichever store serves the append,
except for a conversation its fallback does not hold (loaded from the primary
before the outage); the replay appends unchecked; and the registry refuses, at
startup, a custom store whose ``append`` cannot take the keyword.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest

from palaver.errors import ConfigError, ConversationChangedError
from palaver.stores import create_tracker_store
from palaver.stores.base import EventDict, StoredConversation
from palaver.stores.failsafe import FailSafeTrackerStore
from tests.unit.stores.test_failsafe import FlakyStore, ev, wait_for_mode


@pytest.fixture
def primary() -> FlakyStore:
    return FlakyStore()


@pytest.fixture
async def store(primary: FlakyStore) -> AsyncIterator[FailSafeTrackerStore]:
    wrapper = FailSafeTrackerStore(primary, retry_interval=0.02, max_retry_interval=0.05)
    await wrapper.start()
    yield wrapper
    await wrapper.stop()


async def test_primary_mode_checks_the_count_in_the_primary(
    store: FailSafeTrackerStore, primary: FlakyStore
) -> None:
    await store.append("a", [ev("1"), ev("2")], expected_total=0)
    with pytest.raises(ConversationChangedError) as refused:
        await store.append("a", [ev("3")], fence=1, expected_total=1)
    assert (refused.value.expected, refused.value.actual) == (1, 2)
    assert store.mode == "primary"  # a refusal is not an outage
    assert store.status()["fallback_events"] == 0
    await store.append("a", [ev("3")], expected_total=2)
    loaded = await primary.load("a")
    assert loaded is not None and loaded.total_events == 3


async def test_fallback_checks_the_conversations_it_holds(
    store: FailSafeTrackerStore, primary: FlakyStore
) -> None:
    store.retry_interval = 60  # stay in fallback mode
    primary.down = True
    await store.append("new", [ev("1")], expected_total=0)
    assert store.mode == "fallback"
    with pytest.raises(ConversationChangedError):
        await store.append("new", [ev("2")], expected_total=0)
    await store.append("new", [ev("2")], expected_total=1)
    loaded = await store.load("new")
    assert loaded is not None and loaded.events == [ev("1"), ev("2")]


async def test_a_turn_loaded_from_the_primary_before_the_outage_is_kept(
    store: FailSafeTrackerStore, primary: FlakyStore
) -> None:
    """The primary's count cannot be checked while it is down: stored as before the check."""
    store.retry_interval = 60
    await store.append("a", [ev("1"), ev("2")])
    loaded = await store.load("a")
    assert loaded is not None
    primary.down = True  # fails under the turn, at its append
    await store.append("a", [ev("3")], fence=1, expected_total=loaded.total_events)
    assert store.mode == "fallback"
    again = await store.load("a")
    assert again is not None and again.events == [ev("3")]


async def test_a_turn_loaded_from_the_fallback_is_refused_after_the_replay(
    store: FailSafeTrackerStore, primary: FlakyStore
) -> None:
    """The replay put the primary's events first: the turn's view missed them, redo it."""
    await store.append("a", [ev("1"), ev("2")])
    primary.down = True
    await store.append("a", [ev("during")], expected_total=0)
    loaded = await store.load("a")
    assert loaded is not None and loaded.total_events == 1  # the fallback's view

    primary.down = False
    await wait_for_mode(store, "primary")
    with pytest.raises(ConversationChangedError) as refused:
        await store.append("a", [ev("turn")], expected_total=loaded.total_events)
    assert (refused.value.expected, refused.value.actual) == (1, 3)
    reloaded = await store.load("a")
    assert reloaded is not None and reloaded.events == [ev("1"), ev("2"), ev("during")]
    await store.append("a", [ev("turn")], expected_total=reloaded.total_events)


class _Base:
    def __init__(self) -> None: ...

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Any:
        return cls()

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def load(self, sender_id: str, *, full: bool = False) -> StoredConversation | None:
        return None

    async def keys(self) -> AsyncIterator[str]:
        nothing: tuple[str, ...] = ()
        for key in nothing:
            yield key

    async def delete(self, sender_id: str) -> None: ...


class OlderCustomStore(_Base):
    """Written for a Palaver whose append took only ``fence``."""

    async def append(
        self, sender_id: str, events: Sequence[EventDict], *, fence: int | None = None
    ) -> None: ...


class KeywordsCustomStore(_Base):
    async def append(self, sender_id: str, events: Sequence[EventDict], **options: Any) -> None: ...


def test_custom_store_without_expected_total_is_refused_at_startup() -> None:
    with pytest.raises(ConfigError) as refused:
        create_tracker_store({"type": f"{__name__}.OlderCustomStore"})
    message = str(refused.value)
    assert f"{__name__}.OlderCustomStore" in message
    assert "expected_total" in message and "ConversationChangedError" in message


def test_custom_store_taking_any_keyword_is_accepted() -> None:
    store = create_tracker_store({"type": f"{__name__}.KeywordsCustomStore"})
    assert isinstance(store, KeywordsCustomStore)
