"""A small valid project to break on purpose, and helpers to write it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

DOMAIN = """\
version: "3.1"
intents:
  - greet
  - goodbye
  - inform
  - request_pizza
entities:
  - size
slots:
  size:
    type: categorical
    values: [small, large]
    mappings:
      - type: from_entity
        entity: size
forms:
  pizza_form:
    required_slots:
      - size
responses:
  utter_greet:
    - text: "Hi!"
  utter_goodbye:
    - text: "Bye!"
  utter_ask_size:
    - text: "Which size?"
  utter_done:
    - text: "One {size} pizza, coming up."
"""

CONFIG = """\
language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: DIETClassifier
policies:
  - name: MemoizationPolicy
  - name: RulePolicy
"""

NLU = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello
- intent: goodbye
  examples: |
    - bye
    - see you
- intent: inform
  examples: |
    - [small](size)
    - a [large](size) one please
- intent: request_pizza
  examples: |
    - I want a pizza
    - order a pizza
"""

RULES = """\
version: "3.1"
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: goodbye
  steps:
  - intent: goodbye
  - action: utter_goodbye
- rule: start the form
  steps:
  - intent: request_pizza
  - action: pizza_form
  - active_loop: pizza_form
- rule: submit the form
  condition:
  - active_loop: pizza_form
  steps:
  - action: pizza_form
  - active_loop: null
  - action: utter_done
"""

STORIES = """\
version: "3.1"
stories:
- story: order
  steps:
  - intent: greet
  - action: utter_greet
  - intent: request_pizza
  - action: pizza_form
  - active_loop: pizza_form
"""

TEST_STORIES = """\
version: "3.1"
stories:
- story: say hi
  steps:
  - user: |
      hello
    intent: greet
  - action: utter_greet
"""

BASE: dict[str, str] = {
    "domain.yml": DOMAIN,
    "config.yml": CONFIG,
    "data/nlu.yml": NLU,
    "data/rules.yml": RULES,
    "data/stories.yml": STORIES,
    "tests/test_stories.yml": TEST_STORIES,
}


def write_project(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (relative path -> text) below ``root``; returns ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def changed(
    edits: Mapping[str, tuple[str, str]], extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """BASE with ``old -> new`` replacements per file (each ``old`` must occur) and extra files."""
    files = dict(BASE)
    for name, (old, new) in edits.items():
        assert old in files[name], f"{old!r} not in {name}"
        files[name] = files[name].replace(old, new, 1)
    files.update(extra or {})
    return files
