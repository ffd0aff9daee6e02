"""Findings of ``palaver data validate``: one :class:`Issue` per problem, with its place."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

# (file, line); either part may be unknown.
Location = tuple[str | None, int | None]
NOWHERE: Location = (None, None)


class Level(StrEnum):
    """How bad a finding is: errors break training or the bot; warnings are suspicious."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding.

    Attributes:
        level: error or warning.
        code: a stable short name (``story-conflict``), to grep for or filter on.
        message: one line saying what is wrong and, where it helps, what to do.
        file, line: where the problem is, when known.
    """

    level: Level
    code: str
    message: str
    file: str | None = None
    line: int | None = None

    @classmethod
    def at(cls, level: Level, code: str, message: str, where: Location) -> Issue:
        return cls(level, code, message, where[0], where[1])

    def where(self, root: Path | None = None) -> str:
        """``file:line`` (paths relative to ``root`` when below it), or ``""``."""
        if not self.file:
            return ""
        name = relative(self.file, root)
        return f"{name}:{self.line}" if self.line is not None else name

    def format(self, root: Path | None = None) -> str:
        """Compiler-style line: ``data/stories.yml:12: error: ... [code]``."""
        where = self.where(root)
        prefix = f"{where}: " if where else ""
        return f"{prefix}{self.level}: {self.message} [{self.code}]"

    def github(self) -> str:
        """A GitHub Actions workflow command (an annotation on the file and line)."""
        where = []
        if self.file:
            where.append(f"file={_escape_property(relative(self.file, Path.cwd()))}")
            if self.line is not None:
                where.append(f"line={self.line}")
        properties = " " + ",".join(where) if where else ""
        text = f"{self.message} [{self.code}]".replace("%", "%25").replace("\n", "%0A")
        return f"::{self.level}{properties}::{text}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": str(self.level),
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": self.line,
        }


def relative(path: str, root: Path | None) -> str:
    """``path`` relative to ``root`` if it lies below it (as given otherwise)."""
    if root is None:
        return path
    resolved = Path(path).resolve()
    base = root.resolve()
    if not resolved.is_relative_to(base):
        return path
    return resolved.relative_to(base).as_posix()


def _escape_property(value: str) -> str:
    for char, code in (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"), (":", "%3A"), (",", "%2C")):
        value = value.replace(char, code)
    return value


def sort_key(issue: Issue) -> tuple[int, str, int, str]:
    """Errors first, then by file and line."""
    return (
        0 if issue.level is Level.ERROR else 1,
        issue.file or "",
        issue.line or 0,
        issue.message,
    )
