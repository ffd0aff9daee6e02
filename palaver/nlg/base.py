"""The natural language generator contract.

A generator turns a response name (``utter_greet``) into one bot message dict
(``text``, ``buttons``, ``image``, ``custom``, ...), given the conversation
state and the name of the output channel. ``None`` means "no such response".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from palaver.core.tracker import DialogueStateTracker

BotMessage = dict[str, Any]
"""One rendered bot message: ``text`` plus the BotUttered ``data`` keys."""


@runtime_checkable
class NaturalLanguageGenerator(Protocol):
    """Renders responses; implementations: templates (domain) and callback (HTTP)."""

    async def generate(
        self,
        response_name: str,
        tracker: DialogueStateTracker,
        channel_name: str,
        **kwargs: Any,
    ) -> BotMessage | None:
        """Render ``response_name`` for ``channel_name``.

        Args:
            response_name: the response to render, e.g. ``utter_greet``.
            tracker: the conversation; its slots fill ``{placeholders}``.
            channel_name: the output channel, for channel-specific variations.
            **kwargs: extra values for placeholders (override slot values).

        Returns:
            A fresh message dict the caller may mutate, or ``None`` when the
            response does not exist.

        Raises:
            ActionExecutionError: a remote generator failed.
        """
        ...
