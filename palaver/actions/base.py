"""The action contract.

An action reads the conversation and returns events; it never sends
anything itself. Bot messages are ``BotUttered`` events: the processor
applies every event to the tracker and the channel sends the BotUttered
contents. A rejected action raises :class:`palaver.errors.ActionRejectedError`
(the processor records ``ActionExecutionRejected`` and asks the policies
again); any other failure raises :class:`palaver.errors.ActionExecutionError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from palaver.actions.client import ActionServerClient
    from palaver.core.domain import Domain
    from palaver.core.events import Event
    from palaver.core.tracker import DialogueStateTracker
    from palaver.nlg.base import NaturalLanguageGenerator


# Not frozen: a frozen dataclass's __init__ costs ~10x more (object.__setattr__
# per field) and this one is built several times per message. Treat it as
# immutable; unsafe_hash keeps it hashable as before.
@dataclass(unsafe_hash=True)
class ActionContext:
    """Everything an action may use besides the tracker and the domain.

    Attributes:
        nlg: renders responses (``utter_*``).
        channel_name: name of the output channel, for channel-specific responses.
        action_client: the action server client, or ``None`` when no
            ``action_endpoint`` is configured (custom actions then fail clearly).
        message_metadata: metadata of the user message that triggered this
            turn (``action_session_start`` stores it in ``session_started_metadata``).
        action_metadata: metadata the policy attached to its prediction
            (``action_send_text`` reads ``{"message": {...}}`` from it).
    """

    nlg: NaturalLanguageGenerator
    channel_name: str
    action_client: ActionServerClient | None = None
    message_metadata: dict[str, Any] | None = None
    action_metadata: dict[str, Any] | None = field(default=None)


@runtime_checkable
class Action(Protocol):
    """One action the assistant can take."""

    @property
    def name(self) -> str:
        """The action's name as the domain and the policies know it."""
        ...

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        """Run the action and return the events it produced.

        Args:
            tracker: the conversation so far; do not mutate it.
            domain: the assistant's domain.
            ctx: NLG, channel name, action server client and metadata.

        Raises:
            ActionRejectedError: the action refuses to run now.
            ActionExecutionError: the action failed.
        """
        ...
