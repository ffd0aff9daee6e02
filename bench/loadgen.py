"""A closed-loop HTTP load generator for the REST channel, on loopback.

Each of ``--connections`` workers keeps one request in flight: it posts a
message, waits for the reply, records the latency and posts the next. Sender
ids are distinct per worker (``--senders many``) or shared (``--senders one``:
the hot-conversation case). Prints messages/s, latency percentiles and errors.

    python -m bench.loadgen --url http://127.0.0.1:5005 --connections 32 --duration 10

It uses raw asyncio streams with keep-alive rather than an HTTP client
library, so that the generator costs little CPU next to the server on a
2-core machine. For the headline numbers `python -m bench` uses wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlparse

MESSAGES = ("hello", "I am great", "hi there", "I am sad", "yes", "bye")


@dataclass
class LoadResult:
    connections: int
    duration_s: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[idx]


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str, body: bytes
) -> int:
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n".encode()
        + body
    )
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    await reader.readexactly(length)
    return status


async def _worker(
    wid: int,
    url: str,
    senders: str,
    deadline: float,
    warmup_until: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    path = "/webhooks/rest/webhook"
    reader, writer = await asyncio.open_connection(host, port)
    texts = itertools.cycle(MESSAGES)
    counter = itertools.count()
    try:
        while (now := time.perf_counter()) < deadline:
            sender = "hot" if senders == "one" else f"w{wid}-c{next(counter) // len(MESSAGES)}"
            body = json.dumps({"sender": sender, "message": next(texts)}).encode()
            start = time.perf_counter()
            try:
                status = await _request(reader, writer, f"{host}:{port}", path, body)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                errors.append(1)
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            if now >= warmup_until:
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    errors.append(status)
    finally:
        writer.close()


async def run_load(
    url: str, connections: int, duration: float, warmup: float = 2.0, senders: str = "many"
) -> LoadResult:
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    warmup_until = start + warmup
    deadline = warmup_until + duration
    await asyncio.gather(
        *(
            _worker(i, url, senders, deadline, warmup_until, latencies, errors)
            for i in range(connections)
        )
    )
    measured = time.perf_counter() - warmup_until
    lat = sorted(x * 1000 for x in latencies)
    return LoadResult(
        connections=connections,
        duration_s=round(measured, 3),
        requests=len(lat),
        errors=len(errors),
        rps=round(len(lat) / measured, 1) if measured > 0 else 0.0,
        p50_ms=round(percentile(lat, 50), 2),
        p90_ms=round(percentile(lat, 90), 2),
        p99_ms=round(percentile(lat, 99), 2),
        max_ms=round(lat[-1], 2) if lat else 0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5005")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--senders", choices=["many", "one"], default="many")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    result = asyncio.run(
        run_load(args.url, args.connections, args.duration, args.warmup, args.senders)
    )
    if args.json:
        print(json.dumps(asdict(result)))
        return
    print(
        f"{result.requests} messages in {result.duration_s}s over {result.connections} "
        f"connections: {result.rps} msg/s, p50 {result.p50_ms} ms, p90 {result.p90_ms} ms, "
        f"p99 {result.p99_ms} ms, max {result.max_ms} ms, errors {result.errors}"
    )


if __name__ == "__main__":
    main()
