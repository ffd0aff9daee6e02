"""CPU-heavy API work (training, cross-validation) in a child process.

The server never trains on its event loop, nor in a thread competing with
it for the GIL: ``run_job`` starts ``python -m palaver.server.offload <job>``,
writes the job's JSON arguments to its stdin and waits (asynchronously) for
one JSON line on its stdout. A failure comes back as
``{"error": {"type", "message"}}`` and is raised as :class:`JobFailed`;
the child's log goes to its stderr, which is logged on failure. A job that
runs out of time, or whose request goes away, is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from palaver.errors import PalaverError

logger = logging.getLogger(__name__)

# Failures caused by the submitted data rather than by the server.
CLIENT_ERRORS = frozenset(
    {"ProjectDataError", "ConfigError", "TrainingError", "InvalidEventError", "ValueError"}
)
_STDERR_TAIL = 2000


class JobFailed(PalaverError):
    """An offloaded job failed; ``kind`` is the child's exception type name."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)

    @property
    def client_error(self) -> bool:
        return self.kind in CLIENT_ERRORS


async def run_job(job: str, arguments: Mapping[str, Any], *, time_limit: float) -> Any:
    """Run ``job`` with ``arguments`` in a child process and return its JSON result.

    Raises:
        JobFailed: the job raised, crashed, or ran longer than ``time_limit`` seconds.
    """
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "palaver.server.offload",
        job,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(
            proc.communicate(json.dumps(arguments).encode()), time_limit
        )
    except TimeoutError as exc:
        raise JobFailed("TimeoutError", f"{job} did not finish within {time_limit:.0f}s") from exc
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    return _result(job, proc.returncode, stdout, stderr)


def _result(job: str, returncode: int | None, stdout: bytes, stderr: bytes) -> Any:
    lines = stdout.decode(errors="replace").strip().splitlines()
    try:
        reply = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        reply = None
    if returncode == 0 and isinstance(reply, dict) and "result" in reply:
        return reply["result"]
    tail = stderr.decode(errors="replace")[-_STDERR_TAIL:]
    if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
        failure = reply["error"]
        logger.info("%s job failed: %s", job, failure.get("message"))
        raise JobFailed(str(failure.get("type")), str(failure.get("message")))
    logger.error("%s job exited with code %s; its log ends with:\n%s", job, returncode, tail)
    raise JobFailed("Crash", f"{job} failed unexpectedly (exit code {returncode}); see the log.")


# --- the child's side --------------------------------------------------------------------


def _train(arguments: Mapping[str, Any]) -> dict[str, Any]:
    from palaver.training import train_project

    result = train_project(
        Path(arguments["project"]),
        out_dir=Path(arguments["out_dir"]),
        force=bool(arguments.get("force", False)),
    )
    return {"archive": str(result.archive), "skipped": result.skipped, "seconds": result.seconds}


def _cross_validate(arguments: Mapping[str, Any]) -> Any:
    from palaver.data.config import ProjectConfig
    from palaver.data.nlu_reader import read_nlu
    from palaver.data.yaml_io import read_yaml
    from palaver.quality.evaluation import cross_validate_nlu

    content = read_yaml(arguments["nlu_yaml"], "request body")
    data = read_nlu(content.get("nlu"), content)
    config = ProjectConfig.from_dict(arguments.get("config") or {})
    return cross_validate_nlu(data, config.pipeline, config.language, int(arguments["folds"]))


def _load_model(archive: str) -> Any:
    from palaver.core.model import load_model
    from palaver.storage.local import resolve_model_path

    return load_model(resolve_model_path(archive))


def _test_intents(arguments: Mapping[str, Any]) -> Any:
    from palaver.nlu.training_data import EntitySpan, NLUTrainingData, TrainingExample
    from palaver.quality.evaluation import evaluate_nlu

    model = _load_model(arguments["archive"])
    examples = [
        TrainingExample(
            item["text"], item["intent"], tuple(EntitySpan(**span) for span in item["entities"])
        )
        for item in arguments["examples"]
    ]
    components = getattr(model.nlu, "components", None) or []
    extractors = [c.name for c in components if hasattr(c, "entity_types")]
    return evaluate_nlu(model.parse, NLUTrainingData(examples=examples), extractors=extractors)


def _test_stories(arguments: Mapping[str, Any]) -> Any:
    from palaver.quality.evaluation import evaluate_stories
    from palaver.server.training_payload import parse_test_stories

    model = _load_model(arguments["archive"])
    slot_types = {slot.name: slot.type_name for slot in model.domain.slots}
    stories = parse_test_stories(arguments["stories_yaml"], slot_types)
    return evaluate_stories(model, stories, e2e=bool(arguments.get("e2e", False)))


JOBS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "train": _train,
    "cross_validate": _cross_validate,
    "test_intents": _test_intents,
    "test_stories": _test_stories,
}


def main(argv: list[str]) -> int:
    """Entry point of the child process: one job, arguments on stdin, result on stdout."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    job = JOBS.get(argv[1]) if len(argv) > 1 else None
    if job is None:
        print(json.dumps({"error": {"type": "UsageError", "message": f"unknown job {argv[1:]}"}}))
        return 2
    try:
        result = job(json.loads(sys.stdin.read()))
    except (PalaverError, ValueError) as exc:
        print(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}}))
        return 1
    print(json.dumps({"result": result}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
