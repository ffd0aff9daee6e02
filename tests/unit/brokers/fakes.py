"""A scriptable in-memory ``Transport`` for dispatcher tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from palaver.brokers.dispatcher import DeliveryReport
from palaver.brokers.outbox import Record


class FakeTransport:
    """Up or down on demand; records what it acknowledged.

    ``ack_limit`` acknowledges only that many records of the next attempt and
    fails the rest; ``reject`` refuses bodies containing that text for good;
    ``gate`` (when set) makes every attempt wait for it; ``hang`` never answers.
    """

    target = "fake broker"

    def __init__(self) -> None:
        self.up = True
        self.hang = False
        self.ack_limit: int | None = None
        self.reject: str | None = None
        self.gate: asyncio.Event | None = None
        self.delivered: list[Record] = []
        self.attempts = 0
        self.connects = 0
        self.closes = 0
        self.error_text = "connection refused"

    async def connect(self) -> None:
        self.connects += 1
        if not self.up:
            raise ConnectionRefusedError(self.error_text)

    async def deliver(self, records: Sequence[Record], budget: float) -> DeliveryReport:
        self.attempts += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.gate is not None:
            await self.gate.wait()
        if not self.up:
            raise ConnectionResetError(self.error_text)
        acked: list[Record] = []
        rejected: dict[int, str] = {}
        for record in records:
            if self.ack_limit is not None and len(acked) >= self.ack_limit:
                self.ack_limit = None
                return DeliveryReport(
                    frozenset(r.seq for r in acked), rejected, ConnectionResetError("cut")
                )
            if self.reject and self.reject in record.body.decode():
                rejected[record.seq] = "too large"
                continue
            acked.append(record)
            self.delivered.append(record)
        return DeliveryReport(frozenset(r.seq for r in acked), rejected)

    async def close(self) -> None:
        self.closes += 1

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.delivered]
