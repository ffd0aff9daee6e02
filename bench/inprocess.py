"""In-process turn cost: the message processor without HTTP, for profiling.

Runs the benchmark's moodbot conversations straight through
``MessageProcessor.handle_message`` (no HTTP; in-memory stores unless
``--endpoints`` names others), with
``--concurrency`` conversations in flight, and prints CPU time per message and
what the cyclic garbage collector holds. Deterministic enough for
``valgrind --tool=callgrind`` (compare two ``--messages`` counts: the
difference is the steady-state cost of that many messages) or
``py-spy record -- python -m bench.inprocess``.

    python -m bench.inprocess --model /tmp/moodbot-model --messages 20000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import resource
import time

from bench.load import MESSAGES
from palaver.channels.base import CollectingOutputChannel, UserMessage
from palaver.config import EndpointsConfig
from palaver.server.runtime import Runtime
from palaver.server.settings import DEFAULT_EVENT_LOOP, ServerSettings


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(
    model: str,
    endpoints: str | None,
    messages: int,
    concurrency: int,
    full_collect: bool,
    interleave: bool = False,
) -> None:
    runtime = Runtime(ServerSettings(model=model), EndpointsConfig.load(endpoints))
    await runtime.start()
    processor = runtime.processor
    assert processor is not None
    conversations = itertools.count()

    async def worker(count: int) -> None:
        while count > 0:
            sender = f"c{next(conversations)}"
            for text in MESSAGES[: min(count, len(MESSAGES))]:
                out = CollectingOutputChannel()
                await processor.handle_message(UserMessage(text, sender), out)
                count -= 1
                if interleave:
                    await asyncio.sleep(0)

    per_worker = messages // concurrency
    warm = max(concurrency * len(MESSAGES), 600)
    await asyncio.gather(*(worker(warm // concurrency) for _ in range(concurrency)))
    before, wall = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker(per_worker) for _ in range(concurrency)))
    cpu, wall = cpu_seconds() - before, time.perf_counter() - wall
    done = per_worker * concurrency
    print(f"messages {done}, CPU {cpu / done * 1e6:.1f} us/msg, wall {done / wall:,.0f} msg/s")
    processor_gc = processor._gc
    print(
        f"gc: full collections during the run: {processor_gc.full_collections}, "
        f"population counts: {processor_gc.counts}"
    )
    print(
        f"gc: tracked {len(gc.get_objects()):,}, frozen {gc.get_freeze_count():,}, "
        f"counts {gc.get_count()}"
    )
    if full_collect:
        gc.unfreeze()
        started = time.perf_counter()
        found = gc.collect()
        took_ms = (time.perf_counter() - started) * 1e3
        print(f"full collection: {found} unreachable, {took_ms:.0f} ms")
    await runtime.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a trained model (archive or directory)")
    p.add_argument("--endpoints", help="endpoints.yml (default: in-memory stores, no broker)")
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--full-collect", action="store_true", help="time one full GC at the end")
    p.add_argument(
        "--interleave",
        action="store_true",
        help="yield after every message, so conversations take turns as under HTTP load "
        "(in-memory turns never suspend: without it each conversation runs to its end)",
    )
    args = p.parse_args()
    if DEFAULT_EVENT_LOOP == "uvloop":  # the loop palaver run uses
        import uvloop

        uvloop.install()
    asyncio.run(
        run(
            args.model,
            args.endpoints,
            args.messages,
            args.concurrency,
            args.full_collect,
            args.interleave,
        )
    )


if __name__ == "__main__":
    main()
