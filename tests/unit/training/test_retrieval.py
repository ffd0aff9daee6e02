"""Retrieval intents: responses from domain.yml reach the response selector."""

from __future__ import annotations

from pathlib import Path

from palaver.core.model import load_model
from palaver.training import train_project

DOMAIN = """version: "3.1"
intents:
  - greet
  - faq
responses:
  utter_greet:
    - text: hi there
  utter_faq/ask_name:
    - text: I am Palaver.
  utter_faq/ask_weather:
    - text: Sunny, always.
"""

NLU = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello
    - hi
    - good morning
- intent: faq/ask_name
  examples: |
    - what is your name
    - who are you
    - how should I call you
- intent: faq/ask_weather
  examples: |
    - how is the weather
    - is it raining
    - will it be sunny
"""

RULES = """version: "3.1"
rules:
- rule: faq
  steps:
  - intent: faq
  - action: utter_faq
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
"""

CONFIG = """language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 4
  - name: DIETClassifier
  - name: ResponseSelector
policies:
  - name: RulePolicy
"""


def test_domain_retrieval_responses_are_selected(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text(DOMAIN)
    (tmp_path / "config.yml").write_text(CONFIG)
    (tmp_path / "data" / "nlu.yml").write_text(NLU)
    (tmp_path / "data" / "rules.yml").write_text(RULES)
    archive = train_project(tmp_path, out_dir=tmp_path / "models").archive
    model = load_model(archive)
    parsed = model.parse("what is your name")
    assert parsed["intent"]["name"] == "faq"
    selected = parsed["response_selector"]["default"]["response"]
    assert selected["intent_response_key"] == "faq/ask_name"
    assert selected["responses"] == [{"text": "I am Palaver."}]


async def test_retrieval_response_in_a_conversation(tmp_path: Path) -> None:
    from tests.conversation import Conversation

    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text(DOMAIN)
    (tmp_path / "config.yml").write_text(CONFIG)
    (tmp_path / "data" / "nlu.yml").write_text(NLU)
    (tmp_path / "data" / "rules.yml").write_text(RULES)
    archive = train_project(tmp_path, out_dir=tmp_path / "models").archive
    conversation = await Conversation.start(archive)
    try:
        assert await conversation.say("q", "how is the weather") == ["Sunny, always."]
        assert await conversation.say("q", "who are you") == ["I am Palaver."]
        assert await conversation.say("q", "hello") == ["hi there"]
    finally:
        await conversation.stop()
