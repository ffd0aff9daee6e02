"""``failed_test_stories.yml``: the failed test stories, with what the model predicted.

Each story is written back as a test story (so it can be fixed and re-run),
preceded by a comment with its source ``file:line``; every wrong step carries
a ``# predicted: ...`` comment, as Rasa writes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from palaver.core.constants import ACTION_LISTEN_NAME
from palaver.core.story_writer import format_message
from palaver.data.format_version import LATEST_FORMAT_VERSION
from palaver.quality.issues import relative

ALL_GOOD = "# None of the test stories failed - all good!\n"
_NUMBER_LIKE = re.compile(r"^[-+.]?\d")


def stories_yaml(stories: Iterable[Mapping[str, Any]], root: Path | None = None) -> str:
    """Test-story YAML for story results (``run_story_tests``' ``stories`` entries)."""
    chosen = list(stories)
    if not chosen:
        return ALL_GOOD
    lines = [f'version: "{LATEST_FORMAT_VERSION}"', "stories:"]
    for story in chosen:
        lines.extend(_story_lines(story, root))
    return "\n".join(lines) + "\n"


def _story_lines(story: Mapping[str, Any], root: Path | None) -> list[str]:
    lines = []
    if story.get("file"):
        where = relative(str(story["file"]), root)
        lines.append(f"# {where}:{story['line']}" if story.get("line") else f"# {where}")
    lines += [f"- story: {_scalar(str(story['name']))}", "  steps:"]
    steps: Sequence[Mapping[str, Any]] = story.get("steps", [])
    for position, step in enumerate(steps):
        lines.extend(_step_lines(step, first=position == 0))
    return lines


def _step_lines(step: Mapping[str, Any], *, first: bool) -> list[str]:
    kind = step.get("kind")
    if kind == "user":
        return _user_lines(step)
    if kind == "slot":
        return _slot_lines(step["expected"])
    if kind == "loop":
        return [f"  - active_loop: {_scalar(step['expected'])}"]
    name = str(step.get("expected"))
    if name == ACTION_LISTEN_NAME and (step.get("correct", True) or first):
        return []
    return [f"  - action: {_scalar(name)}{_action_comment(step)}"]


def _action_comment(step: Mapping[str, Any]) -> str:
    if step.get("correct", True):
        return ""
    details = [str(step.get("policy") or "followup")]
    if isinstance(step.get("confidence"), int | float):
        details.append(f"{step['confidence']:.2f}")
    return f"  # predicted: {step.get('predicted')} ({' '.join(details)})"


def _user_lines(step: Mapping[str, Any]) -> list[str]:
    lines = []
    text = step.get("text")
    entities = step.get("entities") or []
    if text:
        lines.append("  - user: |")
        lines.extend(f"      {line}" for line in format_message(text, entities).splitlines())
        lines.append(f"    intent: {_scalar(step.get('expected'))}{_user_comment(step)}")
    else:
        lines.append(f"  - intent: {_scalar(step.get('expected'))}")
        if entities:
            lines.append("    entities:")
            lines.extend(f"    - {_flow({e['entity']: e.get('value')})}" for e in entities)
    return lines


def _user_comment(step: Mapping[str, Any]) -> str:
    if step.get("correct", True):
        return ""
    parts = []
    if step.get("predicted") != step.get("expected"):
        confidence = step.get("confidence")
        shown = f" ({confidence:.2f})" if isinstance(confidence, int | float) else ""
        parts.append(f"predicted: {step.get('predicted')}{shown}")
    predicted_entities = step.get("predicted_entities")
    if predicted_entities is not None:
        annotated = format_message(str(step.get("text") or ""), predicted_entities)
        if annotated != format_message(str(step.get("text") or ""), step.get("entities") or []):
            parts.append(f"predicted entities: {annotated}")
    return f"  # {'; '.join(parts)}" if parts else ""


def _slot_lines(expected: Mapping[str, Any]) -> list[str]:
    lines = ["  - slot_was_set:"]
    lines.extend(f"    - {_scalar(name)}: {_flow(value)}" for name, value in expected.items())
    return lines


def _flow(value: Any) -> str:
    """A YAML flow value (JSON is valid YAML flow style)."""
    return json.dumps(value, ensure_ascii=False)


def _scalar(value: Any) -> str:
    """A plain scalar when it reads back as the same string, else JSON-quoted."""
    if value is None:
        return "null"
    text = str(value)
    risky = (
        not text
        or text != text.strip()
        or text[0] in "!&*-?{}[],#|>@`\"'%"
        or _NUMBER_LIKE.match(text) is not None
    )
    if risky or ": " in text or " #" in text or text.lower() in ("null", "true", "false", "~"):
        return json.dumps(text, ensure_ascii=False)
    return text


def write_story_files(report: Mapping[str, Any], out_dir: Path, root: Path | None) -> list[Path]:
    """``failed_test_stories.yml`` (always) and ``stories_with_warnings.yml`` (if any)."""
    stories = list(report.get("stories", []))
    failed = [s for s in stories if not s.get("passed", True)]
    path = out_dir / "failed_test_stories.yml"
    path.write_text(stories_yaml(failed, root), encoding="utf-8")
    written = [path]
    warned = [s for s in stories if any(step.get("warning") for step in s.get("steps", []))]
    if warned:
        warnings_path = out_dir / "stories_with_warnings.yml"
        warnings_path.write_text(stories_yaml(warned, root), encoding="utf-8")
        written.append(warnings_path)
    return written
