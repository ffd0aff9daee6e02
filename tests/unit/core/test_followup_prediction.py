"""A pending followup action runs next and is logged with Rasa's policy name."""

from __future__ import annotations

from pathlib import Path

import pytest

from palaver.core.constants import FOLLOWUP_ACTION
from palaver.core.events import (
    ActionExecuted,
    SessionStarted,
    UserUtteranceReverted,
    UserUttered,
)
from palaver.core.model import LoadedModel, load_model
from palaver.core.processor import MessageProcessor
from palaver.core.tracker import DialogueStateTracker
from palaver.training import train_project

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="module")
def moodbot(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    archive = train_project(EXAMPLES / "moodbot", out_dir=tmp_path_factory.mktemp("m")).archive
    return load_model(archive)


def test_followup_action_is_predicted_by_followup_action(moodbot: LoadedModel) -> None:
    tracker = DialogueStateTracker("alice", moodbot.domain.create_slots())
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("hi", {"name": "greet", "confidence": 1.0}))
    tracker.trigger_followup_action("utter_cheer_up")
    prediction = MessageProcessor.predict(tracker, moodbot)
    assert (prediction.action_name, prediction.confidence, prediction.policy_name) == (
        "utter_cheer_up",
        1.0,
        FOLLOWUP_ACTION,
    )
    # Used once: the policies predict the next one.
    assert MessageProcessor.predict(tracker, moodbot).policy_name != FOLLOWUP_ACTION


def test_after_a_rewind_to_the_session_start_listen_is_the_followup(moodbot: LoadedModel) -> None:
    """Rasa's replay after ``UserUtteranceReverted`` leaves ``action_listen`` pending here."""
    tracker = DialogueStateTracker("bob", moodbot.domain.create_slots())
    for event in (
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered("/faq", {"name": "faq", "confidence": 1.0}),
        ActionExecuted("action_default_fallback"),
        UserUtteranceReverted(),
    ):
        tracker.update(event)
    prediction = MessageProcessor.predict(tracker, moodbot)
    assert (prediction.action_name, prediction.policy_name) == ("action_listen", FOLLOWUP_ACTION)
