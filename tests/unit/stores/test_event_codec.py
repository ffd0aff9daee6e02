"""The event codec every store backend encodes appends with."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from palaver.errors import StoreError
from palaver.stores.memory import encode_events

USER = {
    "event": "user",
    "timestamp": 1700000000.5,
    "text": "hi",
    "parse_data": {"intent": {"name": "greet", "confidence": 0.9}},
}
ACTION = {"event": "action", "timestamp": 1700000001, "name": "utter_greet"}


def test_columns_are_worked_out_by_default() -> None:
    user, action = encode_events("alice", [USER, ACTION])
    assert (user.type_name, user.timestamp, user.intent_name, user.action_name) == (
        "user",
        1700000000.5,
        "greet",
        None,
    )
    assert (action.type_name, action.timestamp, action.action_name) == (
        "action",
        1700000001.0,
        "utter_greet",
    )


def test_without_columns_only_the_type_and_the_json_are_kept() -> None:
    user, action = encode_events("alice", [USER, ACTION], columns=False)
    assert orjson.loads(user.data) == USER
    assert orjson.loads(action.data) == ACTION
    assert (user.type_name, action.type_name) == ("user", "action")
    assert (user.timestamp, user.intent_name, action.action_name) == (None, None, None)


@pytest.mark.parametrize("columns", [True, False])
@pytest.mark.parametrize(
    ("bad", "problem"),
    [({"timestamp": 1.0}, "no string 'event' key"), ({"event": "bot", "x": {1, 2}}, "JSON")],
)
def test_bad_events_are_refused_either_way(
    columns: bool, bad: dict[str, Any], problem: str
) -> None:
    with pytest.raises(StoreError, match=problem):
        encode_events("alice", [USER, bad], columns=columns)
