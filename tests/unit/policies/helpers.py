"""Shared builders for the policy tests: domains, trackers, a tiny dialogue loop."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from palaver.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from palaver.core.domain import Domain
from palaver.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    Event,
    SessionStarted,
    UserUttered,
)
from palaver.core.tracker import DialogueStateTracker
from palaver.data.stories import StoryBlock, StoryStep
from palaver.policies.ensemble import PolicyEnsemble
from palaver.policies.generator import generate_training_trackers

FORM_DOMAIN = """
version: "3.1"
intents: [greet, request_restaurant, inform, chitchat, bye, affirm, deny, ask_price, thanks]
entities:
  - cuisine
  - city:
      roles: [from, to]
slots:
  cuisine:
    type: text
    mappings: [{type: from_entity, entity: cuisine}]
  tier:
    type: categorical
    values: [gold, silver]
    mappings: [{type: custom}]
  note:
    type: text
    influence_conversation: false
    mappings: [{type: custom}]
forms:
  restaurant_form:
    required_slots: [cuisine]
responses:
  utter_greet: [{text: hi}]
  utter_bye: [{text: bye}]
  utter_chitchat: [{text: chat}]
  utter_submit: [{text: done}]
  utter_ask_cuisine: [{text: which cuisine?}]
  utter_price: [{text: cheap}]
  utter_welcome: [{text: welcome}]
  utter_thanks: [{text: you are welcome}]
  utter_ask_continue: [{text: continue?}]
actions: [action_check]
"""


def domain(yaml_text: str = FORM_DOMAIN) -> Domain:
    """A domain from YAML (the form bot by default)."""
    return Domain.from_yaml(yaml_text)


def user(
    intent: str, entities: Sequence[Mapping[str, Any]] = (), text: str = "text"
) -> UserUttered:
    """A parsed user message."""
    return UserUttered(text, {"name": intent, "confidence": 0.95}, [dict(e) for e in entities])


def started(dom: Domain, sender: str = "u1", events: Iterable[Event] = ()) -> DialogueStateTracker:
    """A tracker after Rasa's session start, then ``events``."""
    tracker = DialogueStateTracker(sender, dom.slots)
    for event in (
        ActionExecuted(ACTION_SESSION_START_NAME),
        SessionStarted(),
        ActionExecuted(ACTION_LISTEN_NAME),
        *events,
    ):
        tracker.update(event)
    return tracker


def train(
    dom: Domain,
    stories: Sequence[StoryBlock] = (),
    rules: Sequence[StoryBlock] = (),
    config: Sequence[Mapping[str, Any]] | None = None,
) -> PolicyEnsemble:
    """Generate trackers and train an ensemble."""
    trackers = generate_training_trackers(stories, rules, dom)
    return PolicyEnsemble.train(trackers, dom, config)


def rule(name: str, *steps: StoryStep, **kwargs: Any) -> StoryBlock:
    return StoryBlock(name, list(steps), is_rule=True, **kwargs)


def story(name: str, *steps: StoryStep) -> StoryBlock:
    return StoryBlock(name, list(steps))


def respond(
    ensemble: PolicyEnsemble,
    tracker: DialogueStateTracker,
    dom: Domain,
    effects: Mapping[str, Sequence[Event]] | None = None,
    limit: int = 10,
) -> list[str]:
    """Predict-and-run until ``action_listen``, as the processor does.

    ``effects[action]`` are the events the action returns; an effect list starting
    with ``ActionExecutionRejected`` is used once (the action is not logged then).
    """
    pending = {k: list(v) for k, v in (effects or {}).items()}
    actions = []
    for _ in range(limit):
        prediction = ensemble.predict(tracker, dom)
        for event in prediction.events:
            tracker.update(event)
        name = prediction.action_name
        actions.append(name)
        produced = pending.get(name, [])
        if produced and isinstance(produced[0], ActionExecutionRejected):
            pending.pop(name)
        else:
            tracker.update(
                ActionExecuted(
                    name,
                    prediction.policy_name,
                    prediction.confidence,
                    hide_rule_turn=prediction.hide_rule_turn,
                )
            )
        for event in produced:
            tracker.update(event)
        if name == ACTION_LISTEN_NAME:
            break
    return actions
