"""Implementations of the ``palaver`` subcommands (argument parsing is in cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from palaver.config import CredentialsConfig, EndpointsConfig
from palaver.errors import ConfigError

logger = logging.getLogger("palaver")

TEMPLATE_DIR = Path(__file__).parent / "templates" / "moodbot"


# ------------------------------------------------------------------- init
def init(args: argparse.Namespace) -> int:
    target = Path(args.init_dir)
    target.mkdir(parents=True, exist_ok=True)
    existing = [p.name for p in target.iterdir() if p.name in ("domain.yml", "config.yml", "data")]
    if existing:
        raise ConfigError(f"'{target}' already has {existing}; choose an empty --init-dir.")
    shutil.copytree(TEMPLATE_DIR, target, dirs_exist_ok=True)
    print(f"Created a new Palaver project in {target.resolve()}")
    if not args.no_train:
        from palaver.training import train_project

        result = train_project(target, out_dir=target / "models")
        print(f"Trained model: {result.archive}")
        print(f"Talk to it:   palaver shell -m {target / 'models'}")
        print(f"Serve it:     palaver run -m {target / 'models'}")
    return 0


# ------------------------------------------------------------------ train
def train(args: argparse.Namespace) -> int:
    from palaver.training import train_project

    result = train_project(
        Path(args.project),
        domain=args.domain,
        config=args.config,
        data=args.data,
        out_dir=Path(args.out),
        fixed_model_name=args.fixed_model_name,
        force=args.force,
    )
    if result.skipped:
        print(f"Nothing changed since the last training; model: {result.archive}")
    else:
        print(f"Your model is trained and saved at '{result.archive}'.")
    if args.push:
        from palaver.storage.remote import create_persistor

        if not args.remote_storage:
            raise ConfigError("--push needs --remote-storage (aws, gcs, azure or a class path).")
        persistor = create_persistor(args.remote_storage)
        asyncio.run(persistor.upload(result.archive))
        print(f"Uploaded {result.archive.name} to {args.remote_storage}.")
    return 0


# -------------------------------------------------------------------- run
def _settings_from_args(args: argparse.Namespace) -> Any:
    from palaver.server.settings import ServerSettings

    return ServerSettings(
        model=args.model,
        endpoints=args.endpoints,
        credentials=args.credentials,
        host=args.interface,
        port=args.port,
        enable_api=args.enable_api,
        cors=tuple(args.cors or ()),
        response_timeout=args.response_timeout,
        lock_wait_timeout=args.lock_wait_timeout,
        auth_token=args.auth_token,
        jwt_secret=args.jwt_secret,
        jwt_method=args.jwt_method,
        jwt_private_key=args.jwt_private_key,
        remote_storage=args.remote_storage,
        workers=args.workers,
        debug=args.debug,
        access_log=args.access_log,
        trace_locks=args.trace_locks,
        tracker_cache_size=args.tracker_cache_size,
        event_loop=args.event_loop,
    )


def build_app(settings: Any) -> Any:
    """Factory used by every worker: config -> Runtime -> Sanic app."""
    from palaver.server.app import create_app
    from palaver.server.runtime import Runtime

    endpoints = EndpointsConfig.load(settings.endpoints)
    credentials = CredentialsConfig.load(settings.credentials)
    runtime = Runtime(settings, endpoints, credentials)
    return create_app(runtime)


def build_worker_app(settings: Any, log_file: str | None = None) -> Any:
    """Factory of ``--workers N``: each worker is a fresh (spawned) interpreter.

    It configures logging as the ``palaver`` command did in the main process,
    or a worker would drop every record below WARNING and ignore ``--log-file``.
    """
    from palaver.cli import configure_logging

    configure_logging(settings.debug, log_file)
    return build_app(settings)


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}.")
    settings = _settings_from_args(args)
    if settings.workers == 1:
        app = build_app(settings)  # validates the whole configuration before binding
        app.run(
            host=settings.host,
            port=settings.port,
            single_process=True,
            access_log=settings.access_log,
            motd=False,
            debug=False,
        )
        return 0
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    # The primary app is built (and the configuration validated) once here, and
    # once more in every worker process; building it twice in one process would
    # register the Sanic app name twice.
    loader = AppLoader(factory=partial(build_worker_app, settings, getattr(args, "log_file", None)))
    app = loader.load()
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=settings.access_log,
        motd=False,
    )
    Sanic.serve(primary=app, app_loader=loader)
    return 0


# ------------------------------------------------------------------ shell
def shell(args: argparse.Namespace) -> int:
    asyncio.run(_shell(args))
    return 0


async def _shell(args: argparse.Namespace) -> None:
    from palaver.channels.base import CollectingOutputChannel, UserMessage
    from palaver.server.runtime import Runtime
    from palaver.server.settings import ServerSettings

    runtime = Runtime(ServerSettings(model=args.model), EndpointsConfig.load(args.endpoints))
    await runtime.start()
    try:
        assert runtime.processor is not None
        runtime.model  # noqa: B018 - raises ModelNotReadyError with the reason
        print("Bot loaded. Type a message and press enter (use '/stop' to exit):")
        while True:
            try:
                text = await asyncio.to_thread(input, "Your input ->  ")
            except EOFError:
                break
            if text.strip() == "/stop":
                break
            output = CollectingOutputChannel()
            await runtime.processor.handle_message(
                UserMessage(text=text, sender_id=args.sender, input_channel="cmdline"), output
            )
            for message in output.messages:
                _print_bot_message(message)
    finally:
        await runtime.stop()


def _print_bot_message(message: dict[str, Any]) -> None:
    if message.get("text"):
        print(message["text"])
    for idx, button in enumerate(message.get("buttons") or [], start=1):
        print(f"  {idx}: {button.get('title')} ({button.get('payload')})")
    if message.get("image"):
        print(f"Image: {message['image']}")
    if message.get("attachment"):
        print(f"Attachment: {message['attachment']}")
    if message.get("custom"):
        print(f"Custom json: {message['custom']}")


# ---------------------------------------------------------- export/import
def export(args: argparse.Namespace) -> int:
    asyncio.run(_export(args))
    return 0


async def _export(args: argparse.Namespace) -> None:
    from palaver.stores import create_tracker_store
    from palaver.stores.migrate import export_events

    store = create_tracker_store(EndpointsConfig.load(args.endpoints).tracker_store)
    await store.start()
    try:
        if args.out == "-":
            stats = await export_events(store, sys.stdout, args.conversation_ids)
        else:
            with open(args.out, "w", encoding="utf-8") as out:  # noqa: ASYNC230 - local file
                stats = await export_events(store, out, args.conversation_ids)
        logger.info("exported %s events of %s conversations", stats.events, stats.conversations)
    finally:
        await store.stop()


def import_(args: argparse.Namespace) -> int:
    asyncio.run(_import(args))
    return 0


async def _import(args: argparse.Namespace) -> None:
    from palaver.locks import create_lock_store
    from palaver.stores import create_tracker_store
    from palaver.stores.migrate import import_events

    endpoints = EndpointsConfig.load(args.endpoints)
    store = create_tracker_store(endpoints.tracker_store)
    # A lock store shared with running servers (Redis): write each conversation under
    # its lock and fence, as a server does. A per-process one would coordinate nothing.
    locks = create_lock_store(endpoints.lock_store)
    lock_store = locks if locks.multi_process_safe else None
    await store.start()
    try:
        if lock_store is not None:
            await lock_store.start()
        started = time.monotonic()
        if args.file == "-":
            stats = await import_events(
                store, sys.stdin, replace=args.replace, lock_store=lock_store
            )
        else:
            with open(args.file, encoding="utf-8") as lines:  # noqa: ASYNC230 - local file
                stats = await import_events(
                    store, lines, replace=args.replace, lock_store=lock_store
                )
        logger.info(
            "imported %s events of %s conversations in %.1fs",
            stats.events,
            stats.conversations,
            time.monotonic() - started,
        )
    finally:
        if lock_store is not None:
            await lock_store.stop()
        await store.stop()
