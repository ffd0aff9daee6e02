"""``action_extract_slots``: fill slots from the latest user message.

Runs after every user message, before the next prediction (Rasa 3.6
``ActionExtractSlots``). For each user slot, the first applicable mapping
that extracts a value wins. ``custom`` mappings with an ``action`` run that
custom action (once per turn) and keep its ``SlotSet`` events. When the
domain lists ``action_validate_slot_mappings``, it validates the extracted
values on the action server: a ``SlotSet`` it returns replaces the extracted
one, and extracted slots it does not mention are kept.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from palaver.actions.remote import RemoteAction
from palaver.actions.slot_mapping import (
    PREDEFINED_MAPPING_TYPES,
    extract_predefined_value,
    fails_unique_entity_mapping_check,
    intent_is_desired,
    is_custom,
    mapping_is_valid,
    matches_mapping_conditions,
    required_slots_of_form,
    unique_entity_mappings,
)
from palaver.core.constants import (
    ACTION_EXTRACT_SLOTS,
    ACTION_VALIDATE_SLOT_MAPPINGS,
    DEFAULT_SLOT_NAMES,
    REQUESTED_SLOT,
)
from palaver.core.events import BotUttered, Event, SlotSet
from palaver.core.slots import ListSlot, Slot
from palaver.core.tracker import DialogueStateTracker
from palaver.errors import ActionExecutionError

if TYPE_CHECKING:
    from palaver.actions.base import ActionContext
    from palaver.core.domain import Domain

logger = logging.getLogger(__name__)


async def run_custom_slot_action(
    action_name: str, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
) -> list[Event]:
    """Run a custom action for slot filling; keep only ``SlotSet`` and ``BotUttered``.

    A failure is logged and yields no events: slot extraction must not end the turn.
    """
    try:
        events = await RemoteAction(action_name).run(tracker, domain, ctx)
    except ActionExecutionError as exc:
        logger.warning(
            "Failed to execute custom action '%s' for slot extraction: %s",
            action_name,
            exc,
        )
        return []
    kept: list[Event] = []
    for event in events:
        if isinstance(event, (SlotSet, BotUttered)):
            kept.append(event)
        else:
            logger.info(
                "Custom action '%s' returned an event of type '%s' during slot "
                "extraction; it is ignored.",
                action_name,
                event.type_name,
            )
    return kept


class ActionExtractSlots:
    """The default action ``action_extract_slots``.

    Args:
        only_changed: leave out ``SlotSet`` events of predefined mappings whose
            value equals the slot's current value (Rasa emits them anyway).
            Slots of the active form are always reported, because the form
            treats them as this turn's answers (Rasa's behaviour).
    """

    def __init__(self, only_changed: bool = True) -> None:
        self.only_changed = only_changed

    @property
    def name(self) -> str:
        return ACTION_EXTRACT_SLOTS

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    async def run(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        events: list[Event] = []
        executed: set[str] = set()
        active_loop = tracker.active_loop_name
        unique = unique_entity_mappings(active_loop, domain) if active_loop else frozenset()
        always_report = self._form_slots(tracker, domain)
        for slot in domain.slots:
            if slot.name in DEFAULT_SLOT_NAMES:
                continue
            for mapping in slot.mappings:
                if not self._applies(slot, mapping, tracker, domain, unique):
                    continue
                if mapping.get("type") in PREDEFINED_MAPPING_TYPES:
                    report_unchanged = slot.name in always_report
                    extracted, event = self._extract(slot, mapping, tracker, report_unchanged)
                    if event is not None:
                        events.append(event)
                    if extracted:
                        break
                elif is_custom(mapping):
                    action_name = mapping.get("action")
                    if action_name and action_name not in executed:
                        executed.add(action_name)
                        events.extend(
                            await run_custom_slot_action(action_name, tracker, domain, ctx)
                        )
        return await self._validate(events, tracker, domain, ctx)

    @staticmethod
    def _applies(
        slot: Slot,
        mapping: dict[str, Any],
        tracker: DialogueStateTracker,
        domain: Domain,
        unique: frozenset[str],
    ) -> bool:
        return (
            mapping_is_valid(slot.name, mapping, domain)
            and intent_is_desired(mapping, tracker, domain)
            and matches_mapping_conditions(mapping, tracker, slot.name)
            and not fails_unique_entity_mapping_check(slot.name, mapping, tracker, domain, unique)
        )

    @staticmethod
    def _form_slots(tracker: DialogueStateTracker, domain: Domain) -> set[str]:
        """Required and requested slots of the active loop (empty without one)."""
        form_name = tracker.active_loop_name
        if not form_name:
            return set()
        slots = set(required_slots_of_form(form_name, domain))
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested:
            slots.add(str(requested))
        return slots

    def _extract(
        self,
        slot: Slot,
        mapping: dict[str, Any],
        tracker: DialogueStateTracker,
        report_unchanged: bool,
    ) -> tuple[bool, SlotSet | None]:
        """(whether the mapping filled the slot, the event to emit if any)."""
        values = extract_predefined_value(mapping, tracker)
        if not values:
            return False, None
        value = values if isinstance(slot, ListSlot) else values[-1]
        current = tracker.get_slot(slot.name)
        if value is None and current is None:
            return False, None
        if self.only_changed and not report_unchanged and value == current:
            return True, None
        return True, SlotSet(slot.name, value)

    @staticmethod
    async def _validate(
        events: list[Event], tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        # Rasa keeps only the SlotSet events here: messages of custom mapping
        # actions are dropped unless the validation action runs.
        slot_events = [event for event in events if isinstance(event, SlotSet)]
        if ACTION_VALIDATE_SLOT_MAPPINGS not in domain.user_actions:
            return list(slot_events)
        logger.debug("validating extracted slots %s", ", ".join(event.key for event in slot_events))
        temporary = DialogueStateTracker.from_events(
            tracker.sender_id,
            [*tracker.events_after_latest_restart(), *slot_events],
            domain.create_slots(),
        )
        validated = await run_custom_slot_action(
            ACTION_VALIDATE_SLOT_MAPPINGS, temporary, domain, ctx
        )
        validated_names = {event.key for event in validated if isinstance(event, SlotSet)}
        return validated + [event for event in slot_events if event.key not in validated_names]
