"""``palaver data validate``: is the project consistent, and can it train unambiguously?

Loads the project (a load error is itself the one finding), then checks the
NLU data, stories, rules and test stories against the domain, slots and forms,
and the stories and rules against each other. Every finding is an
:class:`~palaver.quality.issues.Issue` with ``file:line`` where known.
Nothing is trained except the rule policy (no ML), so it runs in about a second.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from palaver.core.constants import DEFAULT_INTENTS, DEFAULT_SLOT_NAMES
from palaver.data.config import ProjectConfig
from palaver.data.project import Project
from palaver.errors import ConfigError, ProjectDataError
from palaver.quality.conflicts import (
    checkpoint_issues,
    max_history_of,
    rule_contradictions,
    story_conflicts,
)
from palaver.quality.dialogue_checks import (
    check_missing_responses,
    check_undeclared,
    check_unused,
)
from palaver.quality.form_checks import check_forms, check_responses, check_slots
from palaver.quality.issues import Issue, Level, sort_key
from palaver.quality.locations import build_index, default_domain_paths
from palaver.quality.nlu_checks import check_nlu
from palaver.quality.usage import collect_usage

PathArg = str | Path | Sequence[str | Path]


@dataclass
class ValidationResult:
    """The findings (errors first) and what was checked."""

    root: Path
    issues: list[Issue]
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    max_history: int | None = None

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.level is Level.ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.level is Level.WARNING]

    def exit_code(self, *, fail_on_warnings: bool = False) -> int:
        """1 with errors (or with warnings when ``fail_on_warnings``), else 0."""
        if self.errors or (fail_on_warnings and self.warnings):
            return 1
        return 0


def validate_project(
    root: str | Path,
    *,
    domain: PathArg | None = None,
    config: str | Path | None = None,
    data: PathArg | None = None,
    max_history: int | None = None,
) -> ValidationResult:
    """Validate a project directory (see the module docstring).

    Args:
        root: the project directory.
        domain, config, data: paths instead of the project's defaults.
        max_history: states compared for story conflicts (default: the largest
            ``max_history`` in the config's policies, else 5).
    """
    started = time.monotonic()
    root = Path(root)
    try:
        project = Project.load(root, domain=domain, config=config, data=data)
    except (ProjectDataError, ConfigError) as exc:
        return ValidationResult(root, [_load_issue(exc)], time.monotonic() - started)
    history = max_history if max_history is not None else max_history_of(project.config)
    issues = check_project(project, default_domain_paths(root, domain), history)
    issues.sort(key=sort_key)
    return ValidationResult(
        root, issues, time.monotonic() - started, _counts(project), max_history=history
    )


def check_project(project: Project, domain_paths: Sequence[Path], max_history: int) -> list[Issue]:
    """All findings for a loaded project."""
    domain, config = project.domain, project.config
    index = build_index(domain_paths, project.data_files)
    training = collect_usage([*project.stories, *project.rules])
    tests = collect_usage(project.test_stories)
    return [
        *check_config(config),
        *check_nlu(domain, project.nlu, config, index),
        *check_undeclared(domain, training, "story or rule"),
        # Test stories do not train anything (Rasa's validator does not read them).
        *check_undeclared(domain, tests, "test story", Level.WARNING),
        *check_missing_responses(domain, training, index),
        *check_unused(domain, training, project.nlu, config, index),
        *check_slots(domain, index),
        *check_forms(domain, training, index),
        *check_responses(domain, index),
        *checkpoint_issues(training),
        *story_conflicts(project.stories, domain, max_history),
        *rule_contradictions(project.stories, project.rules, domain, config),
    ]


def check_config(config: ProjectConfig) -> list[Issue]:
    """What ``palaver train`` would refuse in config.yml's pipeline and policies."""
    from palaver.nlu.registry import resolve_pipeline
    from palaver.policies.config import build_policies

    issues = []
    for section, check in (
        ("pipeline", lambda: resolve_pipeline(config.pipeline)),
        ("policies", lambda: build_policies(config.policies)),
    ):
        try:
            check()
        except ConfigError as exc:
            issues.append(Issue(Level.ERROR, "config-invalid", f"config.yml {section}: {exc}"))
    return issues


def _load_issue(exc: ProjectDataError | ConfigError) -> Issue:
    if isinstance(exc, ProjectDataError):
        text = str(exc)
        if exc.filename:
            where = f"{exc.filename}:{exc.line}: " if exc.line is not None else f"{exc.filename}: "
            text = text.removeprefix(where)
        return Issue(Level.ERROR, "invalid-project", text, exc.filename, exc.line)
    return Issue(Level.ERROR, "config-invalid", str(exc))


def _counts(project: Project) -> dict[str, int]:
    domain = project.domain
    return {
        "intents": len([i for i in domain.intents if i not in DEFAULT_INTENTS]),
        "entities": len(domain.entities),
        "slots": len([s for s in domain.slots if s.name not in DEFAULT_SLOT_NAMES]),
        "responses": len(domain.responses),
        "forms": len(domain.forms),
        "nlu examples": len(project.nlu.examples),
        "stories": len(project.stories),
        "rules": len(project.rules),
        "test stories": len(project.test_stories),
    }
