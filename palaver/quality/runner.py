"""Running ``palaver test`` / ``test nlu`` / ``test core``: find the inputs, evaluate, report.

The command-line layer (:mod:`palaver.quality.cli`) turns arguments into a
:class:`RunOptions`; :func:`run_tests` does the work and returns the
:class:`~palaver.quality.reports.QualityReport` (the files are written by then).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from palaver.data.project import Project
from palaver.data.stories import StoryBlock
from palaver.nlu.training_data import NLUTrainingData
from palaver.quality import plots, reports
from palaver.quality.comparison import (
    DEFAULT_PERCENTAGES,
    Comparison,
    NamedConfig,
    compare_configs,
    config_names,
)
from palaver.quality.core_test import run_story_tests, story_trackers
from palaver.quality.html_report import write_html
from palaver.quality.inputs import read_nlu_paths, read_story_paths
from palaver.quality.nlu_test import cross_validate, evaluate_model
from palaver.quality.progress import progress
from palaver.quality.reports import NLUSection, QualityReport

if TYPE_CHECKING:
    from palaver.core.model import LoadedModel

logger = logging.getLogger(__name__)

DEFAULT_OUT = "results"
DEFAULT_FOLDS = 5


@dataclass
class RunOptions:
    """What to test and where to write the reports.

    Attributes:
        project: the project directory.
        domain, config, data: overrides of the project's files.
        configs: NLU configs to compare (``test nlu --config A B``).
        model: model archive or directory (default ``<project>/models``).
        train: train first (skipped when the newest model is up to date).
        nlu, stories: test data paths (default: the project's NLU data / test stories).
        out: report directory.
        core, nlu_tests: which parts to run.
        cross_validation, folds: cross-validate instead of using a trained model.
        runs, percentages: config comparison settings.
        plot: write PNG charts.
        seed: random seed of splits and folds.
    """

    project: Path = Path(".")
    domain: str | None = None
    config: str | None = None
    data: Sequence[str] | None = None
    configs: list[Path] = field(default_factory=list)
    model: str | None = None
    train: bool = False
    nlu: Sequence[str] | None = None
    stories: Sequence[str] | None = None
    out: Path = Path(DEFAULT_OUT)
    core: bool = True
    nlu_tests: bool = True
    cross_validation: bool = False
    folds: int = DEFAULT_FOLDS
    runs: int = 3
    percentages: Sequence[int] | None = None
    plot: bool = True
    seed: int = 42

    @property
    def compares_configs(self) -> bool:
        return len(self.configs) > 1 or (bool(self.configs) and self.percentages is not None)

    @property
    def needs_model(self) -> bool:
        return self.core or (
            self.nlu_tests and not self.cross_validation and not self.compares_configs
        )


def run_tests(options: RunOptions) -> QualityReport:
    """Evaluate and write every report; see :mod:`palaver.quality.reports` for the files."""
    project = Project.load(
        options.project, domain=options.domain, config=_config_path(options), data=options.data
    )
    plot = options.plot and _can_plot()
    report = QualityReport(options.project, options.out)
    model = _model(options, report) if options.needs_model else None
    if options.nlu_tests:
        _run_nlu(options, project, model, report, plot)
    if options.core:
        assert model is not None
        _run_core(options, project, model, report, plot)
    report.files.append(write_html(report))
    return report


def _config_path(options: RunOptions) -> str | None:
    if options.config:
        return options.config
    if len(options.configs) == 1:
        return str(options.configs[0])
    return None


def _can_plot() -> bool:
    if plots.plotting_available():
        return True
    logger.warning(
        "matplotlib is not installed, so no charts are drawn; install 'palaver[reports]'"
    )
    return False


# --- the model -------------------------------------------------------------------------------


def _model(options: RunOptions, report: QualityReport) -> LoadedModel:
    from palaver.core.model import load_model
    from palaver.storage.local import resolve_model_path

    started = time.monotonic()
    location = Path(options.model) if options.model else options.project / "models"
    if options.train:
        location = _train(options, location)
    archive = resolve_model_path(location)
    model = load_model(archive)
    report.model = archive.name
    report.seconds["model"] = time.monotonic() - started
    return model


def _train(options: RunOptions, location: Path) -> Path:
    from palaver.training import train_project

    out_dir = location if not location.is_file() else location.parent
    result = train_project(
        options.project,
        domain=options.domain,
        config=_config_path(options),
        data=options.data,
        out_dir=out_dir,
        progress=logger.debug,
    )
    state = "up to date" if result.skipped else f"trained in {result.seconds:.1f}s"
    logger.info("model %s: %s", result.archive.name, state)
    return result.archive


# --- NLU --------------------------------------------------------------------------------------


def _run_nlu(
    options: RunOptions,
    project: Project,
    model: LoadedModel | None,
    report: QualityReport,
    plot: bool,
) -> None:
    started = time.monotonic()
    data, source = _nlu_data(options, project)
    if not data.examples:
        logger.warning("no NLU examples to test (%s); NLU tests skipped", source)
        return
    out = options.out
    if options.compares_configs:
        report.comparison = _compare(options, data)
        report.files += reports.write_comparison(report.comparison, out, plot=plot)
    elif options.cross_validation:
        config = project.config
        with progress(options.folds, "Cross-validation", "fold") as tick:
            evaluation = cross_validate(
                data, config.pipeline, config.language, options.folds, seed=options.seed, tick=tick
            )
        report.nlu = NLUSection(
            evaluation, "cross-validation", source, len(data.examples), options.folds
        )
    else:
        assert model is not None
        if model.nlu is None:
            logger.warning("the model has no NLU pipeline; NLU tests skipped")
            return
        with progress(len(data.examples), "NLU test", "example") as tick:
            evaluation = evaluate_model(model, data, tick=tick)
        report.nlu = NLUSection(evaluation, "model", source, len(data.examples))
    if report.nlu is not None:
        report.files += reports.write_nlu(report.nlu.evaluation, out, plot=plot)
    report.seconds["nlu"] = time.monotonic() - started


def _nlu_data(options: RunOptions, project: Project) -> tuple[NLUTrainingData, str]:
    if not options.nlu:
        return project.nlu, "the training data: use --nlu test_data.yml for a held-out set"
    return read_nlu_paths(options.nlu), f"from {', '.join(options.nlu)}"


def _compare(options: RunOptions, data: NLUTrainingData) -> Comparison:
    names = config_names(options.configs)
    configs = [NamedConfig.load(p, n) for p, n in zip(options.configs, names, strict=True)]
    percentages = list(options.percentages or DEFAULT_PERCENTAGES)
    total = options.runs * len(set(percentages)) * len(configs)
    with progress(total, "Comparing configs", "training") as tick:
        return compare_configs(
            data, configs, runs=options.runs, percentages=percentages, seed=options.seed, tick=tick
        )


# --- core -------------------------------------------------------------------------------------


def _run_core(
    options: RunOptions, project: Project, model: LoadedModel, report: QualityReport, plot: bool
) -> None:
    started = time.monotonic()
    blocks = _test_stories(options, project)
    if not blocks:
        logger.warning("no test stories found (put them in tests/ or pass --stories)")
    trackers = story_trackers(blocks, model.domain)
    with progress(len(trackers), "Story tests", "story") as tick:
        result = run_story_tests(model, blocks, tick=tick, trackers=trackers)
    report.core = result
    report.files += reports.write_core(result, options.out, options.project, plot=plot)
    report.seconds["core"] = time.monotonic() - started


def _test_stories(options: RunOptions, project: Project) -> list[StoryBlock]:
    if not options.stories:
        return list(project.test_stories)
    return read_story_paths(options.stories, project.domain)
