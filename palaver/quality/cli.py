"""``palaver data ...`` and ``palaver test ...`` subcommands.

* ``palaver data validate [--max-history N] [--fail-on-warnings]``
* ``palaver data split nlu [--training-fraction 0.8] [--random-seed N] [--out DIR]``
* ``palaver test [core|nlu]``: both parts without a subcommand; options go
  after the subcommand (``palaver test nlu --cross-validation``).

Exit codes: 0 when all is well, 1 for validation errors (or warnings with
``--fail-on-warnings``) and failed test stories (unless ``--no-fail``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from palaver.quality.runner import RunOptions

ProjectArgs = Callable[[argparse.ArgumentParser], None]

# Training logs a line per component; in these commands that is noise.
_QUIET_LOGGERS = ("palaver.nlu", "palaver.training", "palaver.policies")


def add_quality_commands(sub: Any, project_args: ProjectArgs) -> None:
    """Register ``data`` and ``test`` on the main parser's subparsers."""
    p_data = sub.add_parser("data", help="check and prepare training data")
    data_sub = p_data.add_subparsers(dest="data_command", required=True)
    _add_validate(data_sub, project_args)
    _add_split(data_sub, project_args)

    p_test = sub.add_parser(
        "test",
        help="test NLU and stories of a trained model (both without a subcommand)",
        description="Test a trained model. Without a subcommand, run NLU and story tests.",
    )
    _add_core_options(p_test, project_args)
    _add_nlu_data_option(p_test)
    test_sub = p_test.add_subparsers(dest="test_part")
    p_core = test_sub.add_parser("core", help="replay test stories against the model")
    _add_core_options(p_core, project_args)
    _add_nlu_options(test_sub.add_parser("nlu", help="evaluate intents, entities, responses"))


def _add_validate(data_sub: Any, project_args: ProjectArgs) -> None:
    p = data_sub.add_parser(
        "validate",
        help="check domain, NLU data, stories and rules for mistakes and conflicts",
    )
    project_args(p)
    p.add_argument(
        "--max-history",
        type=int,
        help="dialogue states compared for story conflicts (default: from config, else 5)",
    )
    p.add_argument("--fail-on-warnings", action="store_true", help="exit 1 on warnings too")
    p.add_argument(
        "--format",
        choices=("text", "github", "json"),
        default="text",
        help="text (file:line: level: message), github (workflow annotations) or json",
    )
    p.add_argument("--debug", action="store_true")


def _add_split(data_sub: Any, project_args: ProjectArgs) -> None:
    p_split = data_sub.add_parser("split", help="split training data into train and test sets")
    split_sub = p_split.add_subparsers(dest="split_command", required=True)
    p = split_sub.add_parser("nlu", help="stratified split of the NLU data")
    project_args(p)
    p.add_argument("--nlu", nargs="+", help="NLU files or directories (default: the project's)")
    p.add_argument("--training-fraction", type=float, default=0.8, help="share for training")
    p.add_argument("--random-seed", type=int, help="seed for a reproducible split")
    p.add_argument("--out", default="train_test_split", help="output directory")
    p.add_argument("--debug", action="store_true")


def _add_common_test_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", help="model archive or directory (default: PROJECT/models)")
    p.add_argument("--train", action="store_true", help="train first (reuses an up-to-date model)")
    p.add_argument("--out", default="results", help="directory for the reports")
    p.add_argument("--no-plot", action="store_true", help="write no PNG charts (faster)")
    p.add_argument("--debug", action="store_true")


def _add_core_options(p: argparse.ArgumentParser, project_args: ProjectArgs) -> None:
    project_args(p)
    _add_common_test_options(p)
    p.add_argument(
        "--stories", nargs="+", help="test story files or directories (default: PROJECT/tests)"
    )
    p.add_argument("--no-fail", action="store_true", help="exit 0 even if test stories fail")


def _add_nlu_data_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--nlu", nargs="+", help="NLU test data files or directories (default: the training data)"
    )


def _add_nlu_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", default=".", help="project root (domain.yml, config.yml, data/)")
    p.add_argument("-d", "--domain", help="domain file or directory")
    p.add_argument(
        "-c",
        "--config",
        nargs="+",
        help="model config; with two or more, compare them by training data size",
    )
    p.add_argument("--data", nargs="*", help="training data files or directories")
    _add_common_test_options(p)
    _add_nlu_data_option(p)
    p.add_argument(
        "--cross-validation", action="store_true", help="cross-validate the config instead"
    )
    p.add_argument("-f", "--folds", type=int, default=5, help="cross-validation folds")
    p.add_argument("--runs", type=int, default=3, help="comparison: runs per config")
    p.add_argument(
        "--percentages",
        type=int,
        nargs="+",
        help="comparison: percentages of training data to exclude (default 0 25 50 75)",
    )
    p.add_argument("--random-seed", type=int, default=42, help="seed of splits and folds")


def dispatch_quality(args: argparse.Namespace) -> int:
    """Run a ``data`` or ``test`` command; returns the exit code."""
    if not getattr(args, "debug", False):
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    if args.command == "data" and args.data_command == "validate":
        return validate_command(args)
    if args.command == "data" and args.data_command == "split":
        return split_command(args)
    if args.command == "test":
        return tests_command(args)
    raise SystemExit(f"unknown command {args.command!r}")


# --- data ---------------------------------------------------------------------------------


def validate_command(args: argparse.Namespace) -> int:
    from palaver.quality.validate import validate_project

    root = Path(args.project)
    result = validate_project(
        root,
        domain=args.domain,
        config=args.config,
        data=args.data,
        max_history=args.max_history,
    )
    if args.format == "json":
        print(json.dumps([issue.as_dict() for issue in result.issues], indent=2))
        return result.exit_code(fail_on_warnings=args.fail_on_warnings)
    for issue in result.issues:
        # Paths relative to the working directory, so editors and CI can open them.
        print(issue.github() if args.format == "github" else issue.format(Path.cwd()))
    parts = [f"{count} {name}" for name, count in result.counts.items() if count]
    if result.max_history:
        parts.append(f"max history {result.max_history}")
    checked = f" ({', '.join(parts)})" if parts else ""
    errors, warnings = len(result.errors), len(result.warnings)
    verdict = f"{errors} error(s), {warnings} warning(s)" if result.issues else "no problems found"
    print(f"Validated {root} in {result.seconds:.1f}s{checked}: {verdict}")
    return result.exit_code(fail_on_warnings=args.fail_on_warnings)


def split_command(args: argparse.Namespace) -> int:
    from palaver.quality.split import split_nlu, write_split

    if args.nlu:
        from palaver.quality.inputs import read_nlu_paths

        data = read_nlu_paths(args.nlu)
    else:
        from palaver.data.project import Project

        project = Project.load(args.project, domain=args.domain, config=args.config, data=args.data)
        data = project.nlu
    try:
        split = split_nlu(data, args.training_fraction, args.random_seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    train_file, test_file = write_split(split, Path(args.out))
    print(
        f"Split {len(data.examples)} examples (seed {split.seed}): "
        f"{len(split.train.examples)} -> {train_file}, {len(split.test.examples)} -> {test_file}"
    )
    return 0


# --- test ---------------------------------------------------------------------------------


def tests_command(args: argparse.Namespace) -> int:
    from palaver.quality.reports import summary_lines
    from palaver.quality.runner import run_tests

    started = time.monotonic()
    options = _test_options(args)
    try:
        report = run_tests(options)
    except ValueError as exc:  # impossible folds, runs or percentages for this data
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in summary_lines(report, Path.cwd()):
        print(line)
    failed = report.core is not None and bool(report.core.get("failed_stories"))
    print(f"Done in {time.monotonic() - started:.1f}s.")
    if failed and not getattr(args, "no_fail", False):
        return 1
    return 0


def _test_options(args: argparse.Namespace) -> RunOptions:
    from palaver.quality.runner import RunOptions

    which = getattr(args, "test_part", None)
    configs = args.config if isinstance(args.config, list) else []
    return RunOptions(
        project=Path(args.project),
        domain=args.domain,
        config=args.config if isinstance(args.config, str) else None,
        data=args.data,
        configs=[Path(c) for c in configs],
        model=args.model,
        train=args.train,
        nlu=getattr(args, "nlu", None),
        stories=getattr(args, "stories", None),
        out=Path(args.out),
        core=which in (None, "core"),
        nlu_tests=which in (None, "nlu"),
        cross_validation=getattr(args, "cross_validation", False),
        folds=getattr(args, "folds", 5),
        runs=getattr(args, "runs", 3),
        percentages=getattr(args, "percentages", None),
        plot=not args.no_plot,
        seed=getattr(args, "random_seed", 42),
    )
