"""The ``palaver`` command line.

``palaver init | train | run | shell | export | import | data | test``. Heavy
modules are imported inside each command so ``palaver --help`` and the
server's start-up stay fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from palaver import __version__
from palaver.errors import PalaverError
from palaver.server.settings import DEFAULT_EVENT_LOOP, EVENT_LOOPS

logger = logging.getLogger("palaver")

DEFAULT_PORT = 5005


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", help="model archive, or directory of archives (newest wins)")
    p.add_argument("--endpoints", help="endpoints.yml (stores, locks, broker, action server)")
    p.add_argument("--credentials", help="credentials.yml (input channels)")
    p.add_argument("-p", "--port", type=int, default=DEFAULT_PORT)
    p.add_argument("-i", "--interface", default="0.0.0.0", help="address to bind")
    p.add_argument("--enable-api", action="store_true", help="mount the Rasa HTTP API")
    p.add_argument("--cors", nargs="*", default=[], help="allowed CORS origins ('*' for any)")
    p.add_argument("--response-timeout", type=float, default=3600.0)
    p.add_argument("--lock-wait-timeout", type=float, default=60.0)
    p.add_argument(
        "--tracker-cache-size",
        type=_non_negative_int,
        default=2000,
        help="conversations whose trackers are kept between turns (0: reload every turn)",
    )
    p.add_argument(
        "--event-loop",
        choices=EVENT_LOOPS,
        default=DEFAULT_EVENT_LOOP,
        help=f"event loop implementation (default {DEFAULT_EVENT_LOOP}: it serves waiting "
        "requests in arrival order; see README)",
    )
    p.add_argument("--auth-token", help="token required as ?token= on API routes")
    p.add_argument("--jwt-secret", help="JWT secret (HS*) or public key (RS*) for the API")
    p.add_argument("--jwt-method", default="HS256", help="JWT algorithm (HS256, RS256, ...)")
    p.add_argument("--jwt-private-key", help="private key for RS* JWT signing")
    p.add_argument("--remote-storage", help="model storage: aws, gcs, azure or a class path")
    p.add_argument("--workers", type=int, default=1, help="Sanic worker processes")
    p.add_argument("--log-file", help="also write logs to this file")
    p.add_argument("--debug", action="store_true", help="debug logging")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument(
        "--trace-locks",
        action="store_true",
        help="record lock ticket, fence and replica in each user event's metadata",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="palaver", description="Async conversation runtime for Rasa-format assistants."
    )
    parser.add_argument("--version", action="version", version=f"palaver {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p_init = sub.add_parser("init", help="create an example project")
    p_init.add_argument("--init-dir", default=".", help="directory for the new project")
    p_init.add_argument("--no-prompt", action="store_true", help="(compatibility; never prompts)")
    p_init.add_argument("--no-train", action="store_true", help="do not train the model")

    p_train = sub.add_parser("train", help="train a model from a Rasa-format project")
    _add_project_args(p_train)
    p_train.add_argument("--out", default="models", help="where to write the model archive")
    p_train.add_argument("--fixed-model-name", help="archive name (without .tar.gz)")
    p_train.add_argument("--force", action="store_true", help="train even if nothing changed")
    p_train.add_argument(
        "--push", action="store_true", help="upload the archive to --remote-storage"
    )
    p_train.add_argument("--remote-storage", help="aws, gcs, azure or a class path")
    p_train.add_argument("--debug", action="store_true")

    p_run = sub.add_parser("run", help="serve a trained model")
    _add_run_args(p_run)

    p_shell = sub.add_parser("shell", help="talk to a model in the terminal")
    p_shell.add_argument("-m", "--model", help="model archive or directory")
    p_shell.add_argument("--endpoints", help="endpoints.yml")
    p_shell.add_argument("--sender", default="shell", help="conversation id")
    p_shell.add_argument("--debug", action="store_true")

    p_export = sub.add_parser("export", help="write conversations as JSON lines")
    p_export.add_argument("--endpoints", required=True, help="endpoints.yml of the source store")
    p_export.add_argument("--out", default="-", help="output file ('-' for stdout)")
    p_export.add_argument("--conversation-ids", nargs="*", help="only these conversations")

    p_import = sub.add_parser("import", help="read conversations from JSON lines into a store")
    p_import.add_argument("--endpoints", required=True, help="endpoints.yml of the target store")
    p_import.add_argument("--file", default="-", help="input file ('-' for stdin)")
    p_import.add_argument(
        "--replace",
        action="store_true",
        help="replace conversations that already exist (default: append to them)",
    )

    from palaver.quality.cli import add_quality_commands

    add_quality_commands(sub, _add_project_args)
    return parser


def _add_project_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", default=".", help="project root (domain.yml, config.yml, data/)")
    p.add_argument("-d", "--domain", help="domain file or directory")
    p.add_argument("-c", "--config", help="config.yml")
    p.add_argument("--data", nargs="*", help="training data files or directories")


def configure_logging(debug: bool = False, log_file: str | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s - %(message)s",
        handlers=handlers,
        force=True,
    )
    if not debug:
        for noisy in ("sanic.access", "aiokafka", "aio_pika", "aiormq", "botocore", "asyncio"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "debug", False), getattr(args, "log_file", None))
    try:
        return _dispatch(args)
    except PalaverError as exc:
        logger.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from palaver import commands

    handler = {
        "init": commands.init,
        "train": commands.train,
        "run": commands.run,
        "shell": commands.shell,
        "export": commands.export,
        "import": commands.import_,
    }.get(args.command)
    if handler is None:
        from palaver.quality.cli import dispatch_quality

        return dispatch_quality(args)
    return handler(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
