"""The published body: Rasa's event JSON with ``sender_id`` first."""

from __future__ import annotations

import json

import pytest

from palaver.brokers.dispatcher import serialize
from palaver.errors import InvalidEventError


def test_body_is_the_event_with_sender_id_first() -> None:
    event = {"event": "user", "timestamp": 1.5, "text": "héllo", "parse_data": {"a": [1, None]}}
    body = serialize("conv-1", event)
    decoded = json.loads(body)
    assert list(decoded) == ["sender_id", "event", "timestamp", "text", "parse_data"]
    assert decoded == {"sender_id": "conv-1", **event}


def test_integers_beyond_64_bits_are_still_written() -> None:
    body = serialize("c", {"event": "slot", "name": "n", "value": 2**70})
    assert json.loads(body)["value"] == 2**70


def test_non_string_keys_are_written_as_strings_like_json_does() -> None:
    body = serialize("c", {"event": "slot", "name": "n", "value": {1: "x"}})
    assert json.loads(body)["value"] == {"1": "x"}


def test_unserialisable_value_names_event_and_conversation() -> None:
    with pytest.raises(InvalidEventError) as info:
        serialize("conv-9", {"event": "slot", "value": object()})
    assert "'slot'" in str(info.value) and "'conv-9'" in str(info.value)
