"""In-process conversations against a real trained model (no HTTP), for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from palaver.channels.base import CollectingOutputChannel, UserMessage
from palaver.core.tracker import DialogueStateTracker
from palaver.server.runtime import Runtime
from palaver.server.settings import ServerSettings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class Conversation:
    """A started runtime plus helpers to talk to it and read the tracker."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @classmethod
    async def start(cls, archive: Path, **settings: Any) -> Conversation:
        runtime = Runtime(ServerSettings(model=str(archive), **settings))
        await runtime.start()
        return cls(runtime)

    async def stop(self) -> None:
        await self.runtime.stop()

    async def send(
        self, sender: str, text: str, metadata: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        output = CollectingOutputChannel()
        assert self.runtime.processor is not None
        await self.runtime.processor.handle_message(
            UserMessage(text=text, sender_id=sender, metadata=metadata), output
        )
        return output.messages

    async def say(self, sender: str, text: str) -> list[str]:
        return [m.get("text") or m.get("image") or "" for m in await self.send(sender, text)]

    async def tracker(self, sender: str) -> DialogueStateTracker:
        assert self.runtime.processor is not None
        tracker, _ = await self.runtime.processor.load_tracker(
            sender, self.runtime.model, full=True
        )
        return tracker
