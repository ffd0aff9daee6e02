"""``palaver data ...`` and ``palaver test ...`` subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

ProjectArgs = Callable[[argparse.ArgumentParser], None]


def add_quality_commands(sub: Any, project_args: ProjectArgs) -> None:
    """Register the quality subcommands (none yet)."""


def dispatch_quality(args: argparse.Namespace) -> int:
    raise SystemExit(f"unknown command {args.command!r}")
