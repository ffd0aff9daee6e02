"""Responses from the domain (``responses:`` in domain.yml).

Variation choice follows Rasa 3.x, in this order of preference:

1. conditional variations whose ``condition`` matches the slots, for this channel;
2. matching conditional variations without a ``channel``;
3. unconditional variations for this channel;
4. unconditional variations without a ``channel``.

Variations for another channel are never used. One variation is picked at
random from the best non-empty group; ``rng`` makes that choice reproducible.
"""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from palaver.nlg.base import BotMessage
from palaver.nlg.interpolation import interpolate

if TYPE_CHECKING:
    from palaver.core.domain import Domain
    from palaver.core.tracker import DialogueStateTracker

logger = logging.getLogger(__name__)

Variation = dict[str, Any]

# Keys of a variation that get ``{slot}`` filling (Rasa's list).
INTERPOLATED_KEYS = ("text", "image", "custom", "buttons", "attachment", "quick_replies")


def slot_values(tracker: DialogueStateTracker) -> dict[str, Any]:
    """Current value of every slot on the tracker."""
    return {name: slot.value for name, slot in tracker.slots.items()}


def _condition_matches(condition: Sequence[Mapping[str, Any]], slots: Mapping[str, Any]) -> bool:
    for constraint in condition:
        if constraint.get("type", "slot") != "slot":
            return False
        actual = slots.get(constraint.get("name", ""))
        expected = constraint.get("value")
        # Rasa compares strings case-insensitively, other types exactly.
        if isinstance(actual, str) and isinstance(expected, str):
            if actual.casefold() != expected.casefold():
                return False
        elif actual != expected:
            return False
    return True


def candidate_variations(
    variations: Sequence[Variation], channel_name: str, slots: Mapping[str, Any]
) -> list[Variation]:
    """The variations eligible for ``channel_name`` given the slot values.

    Returns the best non-empty preference group (see the module docstring).
    """
    groups: list[list[Variation]] = [[], [], [], []]
    for variation in variations:
        channel = variation.get("channel")
        if channel and channel != channel_name:
            continue
        condition = variation.get("condition")
        if condition:
            if not _condition_matches(condition, slots):
                continue
            groups[0 if channel else 1].append(variation)
        else:
            groups[2 if channel else 3].append(variation)
    return next((group for group in groups if group), [])


def _copy(value: Any) -> Any:
    """``copy.deepcopy`` for the plain JSON-like values responses hold, several times faster.

    Exactly-typed dicts, lists and immutable scalars are copied here; anything
    else (e.g. a YAML library's own mapping type) goes through ``deepcopy``.
    """
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        return {key: _copy(item) for key, item in value.items()}
    if kind is list:
        return [_copy(item) for item in value]
    return copy.deepcopy(value)


def render_variation(variation: Variation, values: Mapping[str, Any]) -> BotMessage:
    """A deep copy of ``variation`` with its text-like keys filled from ``values``."""
    message: BotMessage = _copy(variation)
    for key in INTERPOLATED_KEYS:
        if key in message:
            message[key] = interpolate(message[key], values)
    return message


class TemplatedNaturalLanguageGenerator:
    """Renders the domain's responses.

    Args:
        responses: ``domain.responses`` (response name -> variations).
        rng: random source for the variation choice (inject a seeded one in tests).
        domain: the domain the responses come from, if any (the processor
            compares it to detect a model change).
    """

    def __init__(
        self,
        responses: Mapping[str, Sequence[Variation]],
        rng: random.Random | None = None,
        domain: Domain | None = None,
    ) -> None:
        self._responses = responses
        self._rng = rng or random.Random()
        self.domain = domain

    @classmethod
    def from_domain(
        cls, domain: Domain, rng: random.Random | None = None
    ) -> TemplatedNaturalLanguageGenerator:
        return cls(domain.responses, rng=rng, domain=domain)

    def has_response(self, response_name: str) -> bool:
        return bool(self._responses.get(response_name))

    def choose(
        self, response_name: str, channel_name: str, slots: Mapping[str, Any]
    ) -> Variation | None:
        """Pick one variation for the response, or ``None`` if nothing fits."""
        variations = self._responses.get(response_name)
        if not variations:
            return None
        candidates = candidate_variations(variations, channel_name, slots)
        if not candidates:
            return None
        return self._rng.choice(candidates)

    def generate_from_slots(
        self,
        response_name: str,
        slots: Mapping[str, Any],
        channel_name: str,
        **kwargs: Any,
    ) -> BotMessage | None:
        """Render a response from explicit slot values (kwargs override slots)."""
        variation = self.choose(response_name, channel_name, slots)
        if variation is None:
            return None
        values = {**slots, **kwargs}
        return render_variation(variation, values)

    async def generate(
        self,
        response_name: str,
        tracker: DialogueStateTracker,
        channel_name: str,
        **kwargs: Any,
    ) -> BotMessage | None:
        """See :class:`palaver.nlg.base.NaturalLanguageGenerator`."""
        return self.generate_from_slots(response_name, slot_values(tracker), channel_name, **kwargs)
