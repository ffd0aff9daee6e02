"""Whole conversations through the real processor and trained example models.

Forms (happy and unhappy paths), rules, NLU fallback, restarts and session
expiry, as a user of the example bots would see them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from palaver.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from palaver.training import train_project
from tests.conversation import EXAMPLES, Conversation


@pytest.fixture(scope="module")
def formbot_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_project(EXAMPLES / "formbot", out_dir=tmp_path_factory.mktemp("f")).archive


@pytest.fixture(scope="module")
def moodbot_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_project(EXAMPLES / "moodbot", out_dir=tmp_path_factory.mktemp("m")).archive


@pytest.fixture
async def formbot(formbot_archive: Path) -> AsyncIterator[Conversation]:
    conversation = await Conversation.start(formbot_archive)
    yield conversation
    await conversation.stop()


@pytest.fixture
async def moodbot(moodbot_archive: Path) -> AsyncIterator[Conversation]:
    conversation = await Conversation.start(moodbot_archive)
    yield conversation
    await conversation.stop()


async def test_form_happy_path(formbot: Conversation) -> None:
    assert await formbot.say("u", "hi") == ["Hello! I can book you a table. What would you like?"]
    assert await formbot.say("u", "I want to book a table") == ["What cuisine would you like?"]
    assert await formbot.say("u", "italian") == ["For how many people?"]
    assert await formbot.say("u", "4 people") == ["What price range?"]
    assert await formbot.say("u", '/inform{"price": "cheap"}') == ["Do you want to sit outside?"]
    assert await formbot.say("u", "yes") == ["Any feedback on this booking experience?"]
    assert await formbot.say("u", "it was easy") == [
        "All done!",
        "Booked a cheap italian table for 4 people, outside. Feedback noted: it was easy",
    ]
    tracker = await formbot.tracker("u")
    assert tracker.active_loop_name is None
    assert tracker.get_slot("cuisine") == "italian"
    assert tracker.get_slot("outdoor_seating") is True
    assert tracker.get_slot("requested_slot") is None


async def test_form_prefilled_from_the_first_message(formbot: Conversation) -> None:
    replies = await formbot.say("p", "book me an expensive french restaurant for 2")
    assert replies == ["Do you want to sit outside?"]
    tracker = await formbot.tracker("p")
    assert tracker.get_slot("cuisine") == "french"
    assert tracker.get_slot("price") == "expensive"


async def test_form_unhappy_path_chitchat_then_continue(formbot: Conversation) -> None:
    assert await formbot.say("c", "book a table") == ["What cuisine would you like?"]
    assert await formbot.say("c", "how is the weather") == [
        "Chatting is nice, but let's book your table first.",
        "What cuisine would you like?",
    ]
    assert await formbot.say("c", "thai") == ["For how many people?"]
    tracker = await formbot.tracker("c")
    assert tracker.active_loop_name == "restaurant_form"
    assert tracker.get_slot("cuisine") == "thai"
    # As Rasa: the rejected form's prediction events are dropped, only the rejection is logged.
    kinds = [e.type_name for e in tracker.events]
    rejected = kinds.index("action_execution_rejected")
    assert kinds[rejected - 1 : rejected + 2] == [
        "user",
        "action_execution_rejected",
        "user_featurization",
    ]


async def test_form_cancelled(formbot: Conversation) -> None:
    await formbot.say("x", "book a table")
    assert await formbot.say("x", "stop") == ["Do you want to continue with the booking?"]
    assert await formbot.say("x", "no") == ["Okay, booking cancelled."]
    tracker = await formbot.tracker("x")
    assert tracker.active_loop_name is None


async def test_nlu_fallback_rule(formbot: Conversation) -> None:
    # The intent the FallbackClassifier predicts below its threshold; the rule
    # for it must answer (the classifier's own thresholds are tested in tests/unit/nlu).
    assert await formbot.say("f", "/nlu_fallback") == [
        "Sorry, I didn't quite get that. Could you rephrase?"
    ]


async def test_rules_and_stories(moodbot: Conversation) -> None:
    assert await moodbot.say("r", "are you a bot?") == ["I am a bot, powered by Palaver."]
    assert await moodbot.say("r", "hello") == ["Hey! How are you?"]
    assert await moodbot.say("r", "I am sad") == [
        "Here is something to cheer you up:",
        "https://i.imgur.com/nGF1K8f.jpg",
        "Did that help you?",
    ]
    assert await moodbot.say("r", "no") == ["Bye"]


async def test_first_message_starts_a_session(moodbot: Conversation) -> None:
    await moodbot.say("s", "hello")
    events = (await moodbot.tracker("s")).events
    assert isinstance(events[0], ActionExecuted) and events[0].action_name == "action_session_start"
    assert isinstance(events[1], SessionStarted)
    assert isinstance(events[2], ActionExecuted) and events[2].action_name == "action_listen"
    assert isinstance(events[3], UserUttered)


async def test_user_events_get_a_message_id_as_in_rasa(moodbot: Conversation) -> None:
    # Rasa's UserMessage gives a message without an id ``uuid4().hex``.
    await moodbot.say("ids", "hello")
    await moodbot.say("ids", "I am great")
    users = [e for e in (await moodbot.tracker("ids")).events if isinstance(e, UserUttered)]
    ids = [u.message_id for u in users]
    assert all(isinstance(i, str) and len(i) == 32 for i in ids) and len(set(ids)) == 2
    assert [u.parse_data["message_id"] for u in users] == ids


async def test_session_metadata_is_stored_in_a_slot(moodbot: Conversation) -> None:
    await moodbot.send("meta", "hello", metadata={"client": "web"})
    tracker = await moodbot.tracker("meta")
    assert tracker.get_slot("session_started_metadata") == {"client": "web"}


async def age_conversation(conversation: Conversation, sender_id: str) -> None:
    """Move a conversation's events two hours back, past the 60-minute session expiry.

    Out of band but under the conversation's lock, as every writer must: an edit that
    bypasses the lock and keeps the event count is not seen by a process that holds
    the conversation in its tracker cache (see palaver.core.tracker_cache).
    """
    store, locks = conversation.runtime.tracker_store, conversation.runtime.lock_store
    assert store is not None and locks is not None
    async with locks.lock(sender_id):
        stored = await store.load(sender_id, full=True)
        assert stored is not None
        old = time.time() - 2 * 3600
        for event in stored.events:
            event["timestamp"] = old
        await store.delete(sender_id)
        await store.append(sender_id, stored.events)


async def test_expired_session_starts_a_new_one(moodbot: Conversation) -> None:
    await moodbot.say("e", "hello")
    tracker = await moodbot.tracker("e")
    await age_conversation(moodbot, "e")
    await moodbot.say("e", "hello")
    tracker = await moodbot.tracker("e")
    assert sum(isinstance(e, SessionStarted) for e in tracker.events) == 2


async def test_restart_starts_over(moodbot: Conversation) -> None:
    await moodbot.say("z", "hello")
    await moodbot.say("z", "/restart")
    tracker = await moodbot.tracker("z")
    names = [e.action_name for e in tracker.events if isinstance(e, ActionExecuted)]
    assert names[-3:] == ["action_restart", "action_session_start", "action_listen"]
    assert await moodbot.say("z", "I am great") == ["Great, carry on!"]


async def test_carry_over_slots_across_sessions(formbot: Conversation) -> None:
    # formbot does not carry slots over (carry_over_slots_to_new_session: false)
    await formbot.say("k", "book a table")
    await formbot.say("k", "italian")
    await age_conversation(formbot, "k")
    await formbot.say("k", "hi")
    tracker = await formbot.tracker("k")
    after_new_session = tracker.events[
        max(i for i, e in enumerate(tracker.events) if isinstance(e, SessionStarted)) :
    ]
    assert not any(isinstance(e, SlotSet) and e.key == "cuisine" for e in after_new_session)


async def test_slow_nlu_is_parsed_off_the_event_loop(moodbot_archive: Path) -> None:
    import dataclasses
    import threading

    conversation = await Conversation.start(moodbot_archive)
    try:
        runtime = conversation.runtime
        model = runtime.model
        seen: list[bool] = []
        original = model.nlu.parse

        def parse(text: str, **kwargs: object) -> dict[str, object]:
            seen.append(threading.current_thread() is threading.main_thread())
            return original(text, **kwargs)  # type: ignore[no-any-return]

        model.nlu.parse = parse  # this runtime's own model instance
        runtime.swap_model(dataclasses.replace(model, parse_in_thread=True), "test")
        assert await conversation.say("t", "hello") == ["Hey! How are you?"]
        assert seen == [False]
    finally:
        await conversation.stop()


E2E_PROJECT = {
    "domain.yml": """\
version: "3.1"
intents: [greet, affirm, deny]
responses:
  utter_suggest: [{text: "How about sushi?"}]
  utter_book: [{text: "Booked."}]
  utter_bye: [{text: "Bye."}]
""",
    "config.yml": """\
language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: DIETClassifier
policies:
  - name: TEDPolicy
""",
    "data/nlu.yml": """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello
- intent: affirm
  examples: |
    - yes
    - sure
- intent: deny
  examples: |
    - no
    - never
""",
    "data/stories.yml": """\
version: "3.1"
stories:
- story: bot text, then yes
  steps:
  - intent: greet
  - bot: "Hungry?"
  - intent: affirm
  - action: utter_book
- story: bot text, then no
  steps:
  - intent: greet
  - bot: "Hungry?"
  - intent: deny
  - action: utter_bye
- story: bot text, then the user's own words
  steps:
  - intent: greet
  - bot: "Hungry?"
  - user: "I could eat a horse"
  - action: utter_suggest
""",
}


@pytest.fixture(scope="module")
def e2e_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    for name, text in E2E_PROJECT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return train_project(root, out_dir=root / "models").archive


async def test_end_to_end_stories_bot_text_and_user_text(e2e_archive: Path) -> None:
    conversation = await Conversation.start(e2e_archive)
    try:
        assert await conversation.say("e", "hi") == ["Hungry?"]
        # Logged as Rasa logs an end-to-end response: no name, the text as action_text.
        bot_turn = [
            e for e in (await conversation.tracker("e")).events if isinstance(e, ActionExecuted)
        ][-2]
        assert (bot_turn.action_name, bot_turn.action_text) == (None, "Hungry?")
        # The exact words of the end-to-end story decide, whatever their intent.
        assert await conversation.say("e", "I could eat a horse") == ["How about sushi?"]
        assert await conversation.say("f", "hi") == ["Hungry?"]
        assert await conversation.say("f", "no") == ["Bye."]
    finally:
        await conversation.stop()
