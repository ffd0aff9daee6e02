"""Message ids given to incoming messages that arrive without one."""

from __future__ import annotations

import uuid

from palaver.channels.base import UserMessage, new_message_id


def test_new_message_ids_are_version_4_uuids_in_hex() -> None:
    ids = [new_message_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_message_without_id_gets_one_and_a_given_id_is_kept() -> None:
    assert len(UserMessage("hi", "alice").message_id or "") == 32
    assert UserMessage("hi", "alice", message_id="m-1").message_id == "m-1"
