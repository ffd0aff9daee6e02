"""Forms: the loop that asks for required slots until all are filled (Rasa 3 semantics).

Slot values come from ``action_extract_slots`` (the ``SlotSet`` events since
the latest user message); the form only validates and asks:

- on activation: ``ActiveLoop(form)``; pre-filled required slots are validated;
- after a user message: the extracted required slots are validated by
  ``validate_<form>`` on the action server when the domain lists it (a
  ``SlotSet(slot, None)`` from it marks a value invalid). If a slot was
  requested and nothing was filled, the form rejects execution
  (``ActionRejectedError``) so that the policies can pick another action;
- then the next empty required slot is requested: ``SlotSet(requested_slot,
  slot)`` plus the first of ``action_ask_<form>_<slot>``,
  ``utter_ask_<form>_<slot>``, ``action_ask_<slot>``, ``utter_ask_<slot>``
  that the domain has. The validation action may choose the slot itself
  (dynamic forms) by returning ``SlotSet(requested_slot, ...)``;
- when none is left: ``SlotSet(requested_slot, None)``, ``ActiveLoop(None)``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from palaver.actions.extract_slots import ActionExtractSlots
from palaver.actions.loops import LoopAction
from palaver.actions.remote import RemoteAction
from palaver.actions.slot_mapping import (
    mapping_key,
    mappings_of_slot,
    required_slots_of_form,
    unique_entity_mappings,
)
from palaver.core.constants import (
    ACTION_LISTEN_NAME,
    MAPPING_FROM_ENTITY,
    REQUESTED_SLOT,
    UTTER_PREFIX,
)
from palaver.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    Event,
    SlotSet,
)
from palaver.core.tracker import DialogueStateTracker
from palaver.errors import ActionExecutionError, ActionRejectedError

if TYPE_CHECKING:
    from palaver.actions.base import ActionContext
    from palaver.core.domain import Domain

logger = logging.getLogger(__name__)


def _last_requested_slot_event(events: list[Event]) -> SlotSet | None:
    for event in reversed(events):
        if isinstance(event, SlotSet) and event.key == REQUESTED_SLOT:
            return event
    return None


def _last_active_loop_event(events: list[Event]) -> ActiveLoop | None:
    for event in reversed(events):
        if isinstance(event, ActiveLoop):
            return event
    return None


def slot_events_since_latest_user_message(tracker: DialogueStateTracker) -> list[SlotSet]:
    """``SlotSet`` events after the tracker's latest message (all events if there is none)."""
    events = tracker.events
    latest = tracker.latest_message
    start = 0
    for position in range(len(events) - 1, -1, -1):
        if events[position] is latest:
            start = position
            break
    return [event for event in events[start:] if isinstance(event, SlotSet)]


def user_rejected_manually(events: list[Event]) -> bool:
    """Whether the validation action returned ``ActionExecutionRejected``."""
    return any(isinstance(event, ActionExecutionRejected) for event in events)


class FormAction(LoopAction):
    """The form ``form_name`` of the domain."""

    def __init__(self, form_name: str) -> None:
        self._form_name = form_name

    @property
    def name(self) -> str:
        return self._form_name

    def required_slots(self, domain: Domain) -> list[str]:
        return required_slots_of_form(self._form_name, domain)

    def slot_to_fill(self, tracker: DialogueStateTracker) -> str | None:
        """The requested slot, if this form is the active loop."""
        if tracker.active_loop_name != self._form_name:
            return None
        value = tracker.get_slot(REQUESTED_SLOT)
        return None if value is None else str(value)

    # -- validation ---------------------------------------------------------

    def temporary_tracker(
        self, tracker: DialogueStateTracker, additional: list[Event], domain: Domain
    ) -> DialogueStateTracker:
        """The tracker the validation action sees: history, this form's run, candidates.

        rasa-sdk's ``slots_to_validate()`` reads the ``SlotSet`` events after
        the form's ``ActionExecuted``, so the layout must stay exactly this.
        """
        events: list[Event] = [
            *tracker.events_after_latest_restart(),
            SlotSet(REQUESTED_SLOT, self.slot_to_fill(tracker)),
            ActionExecuted(self._form_name),
            *additional,
        ]
        return DialogueStateTracker.from_events(tracker.sender_id, events, domain.create_slots())

    async def validate_slots(
        self,
        candidates: dict[str, Any],
        tracker: DialogueStateTracker,
        domain: Domain,
        ctx: ActionContext,
    ) -> list[Event]:
        """Validate slot candidates with ``validate_<form>`` if the domain has it.

        A candidate the validation action does not mention counts as valid.
        """
        logger.debug("form %s: validating slot candidates %s", self._form_name, sorted(candidates))
        events: list[Event] = [SlotSet(name, value) for name, value in candidates.items()]
        validate_name = f"validate_{self._form_name}"
        if validate_name not in domain.action_names_or_texts:
            return events
        temporary = self.temporary_tracker(tracker, events, domain)
        validated = await RemoteAction(validate_name).run(temporary, domain, ctx)
        validated_names = {event.key for event in validated if isinstance(event, SlotSet)}
        return validated + [
            event
            for event in events
            if isinstance(event, SlotSet) and event.key not in validated_names
        ]

    def _slot_candidates(self, tracker: DialogueStateTracker, domain: Domain) -> dict[str, Any]:
        """Required slots set since the latest user message (ambiguous entities excluded)."""
        if not tracker.active_loop:
            # Pre-filled slots were validated at activation.
            return {}
        required = set(self.required_slots(domain))
        requested = self.slot_to_fill(tracker)
        if requested:
            required.add(requested)
        unique = unique_entity_mappings(self._form_name, domain)
        candidates: dict[str, Any] = {}
        for event in slot_events_since_latest_user_message(tracker):
            if event.key not in required:
                continue
            for mapping in mappings_of_slot(event.key, domain):
                if not self._set_by_ambiguous_entity(mapping, event.key, requested, unique):
                    candidates[event.key] = event.value
        return candidates

    @staticmethod
    def _set_by_ambiguous_entity(
        mapping: dict[str, Any], slot_name: str, requested: str | None, unique: frozenset[str]
    ) -> bool:
        if mapping.get("type") != MAPPING_FROM_ENTITY or requested == slot_name:
            return False
        return mapping_key(mapping) not in unique

    async def validate(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        """Validate this turn's candidates; reject if the requested slot got nothing.

        Raises:
            ActionRejectedError: a slot was requested and no slot was filled.
        """
        events = await self.validate_slots(
            self._slot_candidates(tracker, domain), tracker, domain, ctx
        )
        some_slot_validated = any(
            isinstance(event, SlotSet) and event.key != REQUESTED_SLOT for event in events
        )
        slot_to_fill = self.slot_to_fill(tracker)
        if slot_to_fill and not some_slot_validated and not user_rejected_manually(events):
            raise ActionRejectedError(
                self._form_name,
                f"Failed to extract slot {slot_to_fill} with action {self._form_name}",
            )
        return events

    async def _validate_if_required(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        # Validate on activation, and after a user message unless the loop was
        # interrupted (back from an unhappy path).
        needs_validation = not tracker.active_loop or (
            tracker.latest_action_name == ACTION_LISTEN_NAME
            and not tracker.is_active_loop_interrupted
        )
        if needs_validation:
            return await self.validate(tracker, domain, ctx)
        # Still let the validation action choose the next slot (dynamic forms).
        return await self.validate_slots({}, tracker, domain, ctx)

    # -- asking ---------------------------------------------------------------

    def ask_action_name(self, slot_name: str, domain: Domain) -> str | None:
        """The first action or response of the domain that asks for ``slot_name``."""
        search = (
            f"action_ask_{self._form_name}_{slot_name}",
            f"{UTTER_PREFIX}ask_{self._form_name}_{slot_name}",
            f"action_ask_{slot_name}",
            f"{UTTER_PREFIX}ask_{slot_name}",
        )
        known = set(domain.action_names_or_texts)
        return next((name for name in search if name in known), None)

    async def _ask_for_slot(
        self,
        slot_name: str,
        tracker: DialogueStateTracker,
        domain: Domain,
        ctx: ActionContext,
    ) -> list[Event]:
        from palaver.actions.factory import action_for_name

        ask = self.ask_action_name(slot_name, domain)
        if ask is None:
            # The validation action may have asked itself.
            logger.debug("form %s: no action or response asks for slot '%s'", self.name, slot_name)
            return []
        return await action_for_name(ask, domain).run(tracker, domain, ctx)

    def _next_slot_to_request(self, tracker: DialogueStateTracker, domain: Domain) -> str | None:
        return next(
            (slot for slot in self.required_slots(domain) if tracker.get_slot(slot) is None), None
        )

    async def request_next_slot(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        ctx: ActionContext,
        events_so_far: list[Event],
    ) -> list[Event]:
        """``SlotSet(requested_slot, ...)`` and the question, or the end of the form."""
        if await self.is_done(tracker, domain, ctx, events_so_far):
            # The validation action ended the form early.
            return [SlotSet(REQUESTED_SLOT, None)]
        chosen = next(
            (
                event.value
                for event in events_so_far
                if isinstance(event, SlotSet) and event.key == REQUESTED_SLOT
            ),
            None,
        )
        temporary = self.temporary_tracker(tracker, events_so_far, domain)
        events: list[Event] = []
        if not chosen:
            chosen = self._next_slot_to_request(temporary, domain)
            events.append(SlotSet(REQUESTED_SLOT, chosen))
        if chosen:
            return events + await self._ask_for_slot(str(chosen), temporary, domain, ctx)
        return [SlotSet(REQUESTED_SLOT, None)]

    # -- loop hooks -----------------------------------------------------------

    async def activate(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        """Extract slots with this form active, then validate the required slots already set.

        As in Rasa 3.6, ``action_extract_slots`` runs again on a copy of the
        tracker where this form is the active loop: mappings that apply only
        while it is active (``from_trigger_intent``, ``conditions`` naming it)
        fill from the message that started it.
        """
        logger.debug("activating form %s", self._form_name)
        active = tracker.copy()
        active.update(ActiveLoop(self._form_name))
        extracted = [
            event
            for event in await self._extract_at_activation(active, domain, ctx)
            if isinstance(event, SlotSet)
        ]
        for event in extracted:
            active.update(event)
        prefilled = {
            slot: active.get_slot(slot)
            for slot in self.required_slots(domain)
            if active.get_slot(slot) is not None
        }
        if f"validate_{self._form_name}" not in domain.action_names_or_texts:
            return list(extracted)
        validated = await self.validate_slots(prefilled, active, domain, ctx)
        validated_names = {event.key for event in validated if isinstance(event, SlotSet)}
        return validated + [event for event in extracted if event.key not in validated_names]

    async def _extract_at_activation(
        self, tracker: DialogueStateTracker, domain: Domain, ctx: ActionContext
    ) -> list[Event]:
        try:
            return await ActionExtractSlots().run(tracker, domain, ctx)
        except ActionExecutionError as exc:
            logger.error(
                "form %s: slot extraction at activation failed for conversation %s: %s",
                self._form_name,
                tracker.sender_id,
                exc,
            )
            return []

    async def do(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        ctx: ActionContext,
        events_so_far: list[Event],
    ) -> list[Event]:
        # Slots extracted or validated at activation are not validated twice.
        activated_with_slots = any(not isinstance(e, ActiveLoop) for e in events_so_far)
        events = (
            [] if activated_with_slots else await self._validate_if_required(tracker, domain, ctx)
        )
        if not user_rejected_manually(events):
            events += await self.request_next_slot(tracker, domain, ctx, events_so_far + events)
        return events

    async def is_done(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        ctx: ActionContext,
        events_so_far: list[Event],
    ) -> bool:
        """Done when the last ``requested_slot`` or ``ActiveLoop`` event of this run is ``None``.

        The validation action can end a form early by returning either.
        """
        if user_rejected_manually(events_so_far):
            return False
        requested = _last_requested_slot_event(events_so_far)
        if requested is not None and requested.value is None:
            return True
        loop = _last_active_loop_event(events_so_far)
        return loop is not None and loop.name is None

    async def deactivate(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        ctx: ActionContext,
        events_so_far: list[Event],
    ) -> list[Event]:
        logger.debug("deactivating form %s", self._form_name)
        return []
