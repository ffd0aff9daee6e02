"""A closed-loop HTTP load generator for the REST channel, on loopback (wrk's fallback).

Each of ``--connections`` workers keeps one request in flight on its own
keep-alive connection: it posts a message, waits for the whole reply, records
the latency and posts the next. Traffic is the same as bench.load's wrk
script: with ``--senders many`` each worker talks to its own conversations,
six messages each (``MESSAGES`` in order), then starts a new one; with
``--senders one`` every worker talks to ``--hot-sender``.

    python -m bench.loadgen --url http://127.0.0.1:5005 --connections 32 --duration 10

It uses raw asyncio streams (uvloop when installed) rather than an HTTP
client library, so that it costs little CPU next to the server on a 2-core
machine. ``python -m bench`` prefers wrk and uses this only without it.
``--json`` prints one ``BENCHJSON {...}`` line in the wrk script's format.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import urlparse

import orjson

MESSAGES = ("hello", "I am great", "hi there", "I am sad", "yes", "bye")
WEBHOOK = "/webhooks/rest/webhook"
GRID = (*[float(p) for p in range(1, 100)], 99.5, 99.9, 99.99)


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.empty = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[idx]


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes
) -> tuple[int, bytes]:
    writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length)


class Worker:
    def __init__(self, wid: int, args: argparse.Namespace, messages: list[str]) -> None:
        self.wid = wid
        self.args = args
        self.messages = messages
        parsed = urlparse(args.url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.head = (
            f"POST {WEBHOOK} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()

    def body(self, n: int) -> bytes:
        count = len(self.messages)
        if self.args.senders == "one":
            sender, text = self.args.hot_sender, self.messages[n % count]
        else:
            sender = f"{self.args.prefix}-{self.wid}-{n // count}"
            text = self.messages[n % count]
        return orjson.dumps({"sender": sender, "message": text})

    async def run(self, warmup_until: float, deadline: float, stats: Stats) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        n = 0
        try:
            while (now := time.perf_counter()) < deadline:
                body = self.body(n)
                n += 1
                start = time.perf_counter()
                try:
                    status, reply = await asyncio.wait_for(
                        _request(reader, writer, self.head, body), self.args.timeout
                    )
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                    stats.error("read")
                    writer.close()
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    continue
                except TimeoutError:
                    stats.error("timeout")
                    writer.close()
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    continue
                if now < warmup_until:
                    continue
                stats.latencies.append(time.perf_counter() - start)
                if status != 200:
                    stats.error("status")
                elif len(reply) < 3:
                    stats.empty += 1
        finally:
            writer.close()


async def run_load(args: argparse.Namespace, messages: list[str]) -> dict[str, object]:
    stats = Stats()
    start = time.perf_counter()
    warmup_until = start + args.warmup
    deadline = warmup_until + args.duration
    workers = [Worker(i, args, messages) for i in range(args.connections)]
    await asyncio.gather(*(w.run(warmup_until, deadline, stats) for w in workers))
    measured = time.perf_counter() - warmup_until
    lat = sorted(x * 1e6 for x in stats.latencies)
    return {
        "requests": len(lat),
        "duration_us": int(measured * 1e6),
        "connect": 0,
        "read": stats.errors.get("read", 0),
        "write": 0,
        "status": stats.errors.get("status", 0),
        "timeout": stats.errors.get("timeout", 0),
        "empty": stats.empty,
        "max_us": int(lat[-1]) if lat else 0,
        "grid": [[p, int(percentile(lat, p))] for p in GRID],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5005")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--senders", choices=["many", "one"], default="many")
    parser.add_argument("--prefix", default="loadgen")
    parser.add_argument("--hot-sender", default="hot")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--messages-json", help="JSON list of message texts")
    parser.add_argument("--json", action="store_true", help="print one BENCHJSON line only")
    args = parser.parse_args()
    messages = orjson.loads(args.messages_json) if args.messages_json else list(MESSAGES)
    try:
        import uvloop

        result = uvloop.run(run_load(args, messages))
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        result = asyncio.run(run_load(args, messages))
    if args.json:
        print("BENCHJSON " + orjson.dumps(result).decode())
        return
    requests, seconds = int(result["requests"]), int(result["duration_us"]) / 1e6  # type: ignore[call-overload]
    grid = dict((p, v / 1000) for p, v in result["grid"])  # type: ignore[attr-defined]
    print(
        f"{requests} messages in {seconds:.2f}s over {args.connections} connections: "
        f"{requests / seconds:.1f} msg/s, p50 {grid[50.0]:.2f} ms, p90 {grid[90.0]:.2f} ms, "
        f"p99 {grid[99.0]:.2f} ms, errors "
        f"{sum(int(result[k]) for k in ('read', 'status', 'timeout'))}"  # type: ignore[call-overload]
    )


if __name__ == "__main__":
    main()
