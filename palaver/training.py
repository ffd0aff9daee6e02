"""``palaver train``: a Rasa-format project in, one model archive out.

Training is CPU-bound and blocking: the CLI calls it directly; the server runs
it in a worker process (``train_in_subprocess``) so the event loop never waits
on it. An unchanged project (same fingerprint) is not retrained.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from palaver import __version__
from palaver.errors import TrainingError
from palaver.storage.archive import ModelMetadata, archive_name, pack, read_metadata
from palaver.storage.local import find_archives

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainResult:
    archive: Path
    skipped: bool
    seconds: float


def _default_progress(message: str) -> None:
    logger.info("%s", message)


def train_project(
    project_root: Path,
    *,
    domain: str | None = None,
    config: str | None = None,
    data: Sequence[str] | None = None,
    out_dir: Path = Path("models"),
    fixed_model_name: str | None = None,
    force: bool = False,
    progress: Progress = _default_progress,
) -> TrainResult:
    """Train NLU and dialogue policies and write one archive into ``out_dir``."""
    from palaver.data.project import Project

    started = time.monotonic()
    project = Project.load(project_root, domain=domain, config=config, data=data)
    fingerprint = hashlib.sha256(
        f"{project.fingerprint()}|palaver-{__version__}".encode()
    ).hexdigest()
    if not force:
        previous = _archive_with_fingerprint(out_dir, fingerprint)
        if previous is not None:
            return TrainResult(previous, skipped=True, seconds=time.monotonic() - started)

    workdir = Path(tempfile.mkdtemp(prefix="palaver-train-"))
    try:
        _train_into(project, workdir, progress)
        trained_at = time.time()
        name = (
            f"{fixed_model_name}.tar.gz"
            if fixed_model_name
            else archive_name(fingerprint, trained_at)
        )
        metadata = ModelMetadata(
            fingerprint=fingerprint,
            model_id=name.removesuffix(".tar.gz"),
            trained_at=trained_at,
            assistant_id=project.config.assistant_id,
            language=project.config.language,
        )
        archive = pack(workdir, metadata, out_dir / name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.monotonic() - started
    progress(f"Training finished in {seconds:.1f}s")
    return TrainResult(archive, skipped=False, seconds=seconds)


def _train_into(project: object, workdir: Path, progress: Progress) -> None:
    from palaver.nlu.pipeline import NLUPipeline
    from palaver.policies.config import build_policies
    from palaver.policies.ensemble import PolicyEnsemble
    from palaver.policies.generator import generate_training_trackers

    domain = project.domain  # type: ignore[attr-defined]
    config = project.config  # type: ignore[attr-defined]
    # Checked before NLU trains (which can take a while): a bad policies section
    # fails at once.
    policies, policy_warnings = build_policies(config.policies)
    (workdir / "domain.yml").write_text(domain.as_yaml(), encoding="utf-8")

    nlu_data = project.nlu  # type: ignore[attr-defined]
    # Retrieval responses (utter_faq/ask_x) may live in domain.yml or in data/;
    # the response selector needs them all (data files win on a clash).
    nlu_data.responses = {**domain.retrieval_intent_responses, **nlu_data.responses}
    if nlu_data.examples:
        progress(f"Training NLU on {len(nlu_data.examples)} examples...")
        tick = time.monotonic()
        try:
            pipeline = NLUPipeline.train(nlu_data, config.pipeline, config.language)
        except ValueError as exc:
            raise TrainingError(f"NLU training failed: {exc}") from exc
        pipeline.persist(workdir / "nlu")
        progress(f"NLU trained in {time.monotonic() - tick:.1f}s")
    else:
        progress("No NLU data: skipping NLU training")

    stories = project.stories  # type: ignore[attr-defined]
    rules = project.rules  # type: ignore[attr-defined]
    progress(f"Training dialogue policies on {len(stories)} stories and {len(rules)} rules...")
    tick = time.monotonic()
    trackers = generate_training_trackers(stories, rules, domain)
    ensemble = PolicyEnsemble.train_built(trackers, domain, policies, policy_warnings)
    ensemble.persist(workdir / "core")
    progress(f"Dialogue policies trained in {time.monotonic() - tick:.1f}s")


def _archive_with_fingerprint(out_dir: Path, fingerprint: str) -> Path | None:
    for archive in reversed(find_archives(out_dir)):
        try:
            if read_metadata(archive).fingerprint == fingerprint:
                return archive
        except Exception:
            continue
    return None
