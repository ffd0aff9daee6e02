"""The message processor: one user message through one conversation turn.

``handle_message`` = lock -> load -> (session start) -> parse -> extract slots ->
predict/act until ``action_listen`` -> save (fenced) -> publish -> send.

Rasa 3.6's turn semantics are kept: ``ActionExecuted`` is logged before the
action's own events, a rejected action (``ActionExecutionRejected``) makes the
policies predict again, followup actions win over predictions, and a circuit
breaker caps the actions per turn. A failing custom action is logged and the
turn ends with ``action_listen``; the channel never sees a 500 for it.

Nothing reaches the store or the channel unless the whole turn succeeded:
events are appended in one atomic call, checked against the lock's fence, and
bot messages are sent only after that.

The HTTP API's conversation routes use the same steps through
``conversation()``, which yields a :class:`ConversationTurn` on the locked,
loaded conversation and stores what the route added when it returns.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from palaver.actions import action_for_name
from palaver.actions.base import ActionContext
from palaver.actions.client import ActionServerClient
from palaver.actions.response import executed_event
from palaver.core.constants import (
    ACTION_EXTRACT_SLOTS,
    ACTION_LISTEN_NAME,
    ACTION_SESSION_START_NAME,
    FOLLOWUP_ACTION,
    USER_INTENT_RESTART,
)
from palaver.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    BotUttered,
    Event,
    ReminderCancelled,
    ReminderScheduled,
    Restarted,
    SessionStarted,
    UserUtteranceReverted,
    UserUttered,
)
from palaver.core.gc_policy import GC_IDLE_AFTER, GcSchedule, tune_gc
from palaver.core.intent_shortcut import PREFIX, parse_intent_shortcut
from palaver.core.tracker import DialogueStateTracker
from palaver.core.tracker_cache import TrackerCache, version_note
from palaver.errors import (
    ActionExecutionError,
    ActionRejectedError,
    ConversationChangedError,
    LockLostError,
    LockTimeoutError,
)
from palaver.policies.policy import PolicyPrediction
from palaver.stores.base import VersionedStore

if TYPE_CHECKING:
    from palaver.channels.base import OutputChannel, UserMessage
    from palaver.core.model import LoadedModel
    from palaver.server.runtime import Runtime

logger = logging.getLogger(__name__)


@dataclass
class TurnResult:
    """What one handled message produced."""

    tracker: DialogueStateTracker
    new_events: list[Event] = field(default_factory=list)

    @property
    def bot_messages(self) -> list[dict[str, Any]]:
        return [bot_message(e) for e in self.new_events if isinstance(e, BotUttered)]


# When an API operation starts a new session: on a new or expired session
# ("update"), only for a new conversation ("initial"), or never ("keep").
SessionMode = Literal["update", "initial", "keep"]


@dataclass
class ConversationTurn:
    """One HTTP API operation on a locked, loaded conversation.

    Created by :meth:`MessageProcessor.conversation`. Events added to
    ``tracker`` (directly or through the methods) are stored when the
    ``async with`` block ends; ``bot_messages`` are for the caller to send
    after that, so nothing is sent for a turn that was not stored.
    """

    processor: MessageProcessor
    tracker: DialogueStateTracker
    model: LoadedModel
    stored: int
    channel: str = "collector"
    metadata: dict[str, Any] | None = None

    @property
    def new_events(self) -> list[Event]:
        return self.tracker.events[self.stored :]

    @property
    def bot_messages(self) -> list[dict[str, Any]]:
        return TurnResult(self.tracker, self.new_events).bot_messages

    async def start_session(self) -> None:
        """Run ``action_session_start`` if the session is new or expired."""
        await self.processor._update_session(self.tracker, self.model, self.channel, self.metadata)

    async def log_message(self, message: UserMessage) -> None:
        """Add a user message (parsed unless it carries ``parse_data``)."""
        await self.processor._log_user_message(self.tracker, self.model, message)

    async def extract_slots(self) -> None:
        if self.processor._should_handle(self.tracker):
            await self.processor._run_extract_slots(
                self.tracker, self.model, self.channel, self.metadata
            )

    async def run_prediction_loop(self) -> None:
        """Predict and run actions until ``action_listen`` (as after a user message)."""
        await self.processor._prediction_loop(self.tracker, self.model, self.channel, self.metadata)

    async def run_action(
        self, name: str, policy: str | None = None, confidence: float | None = None
    ) -> None:
        """Run one action and log it, without predicting what follows.

        An action that fails is logged as executed with no events (Rasa's
        ``/execute``); no ``action_listen`` is added, as nothing follows anyway.
        """
        await self.processor.run_action(
            PolicyPrediction(name, 1.0 if confidence is None else confidence, policy),
            self.tracker,
            self.model,
            self.channel,
            self.metadata,
            listen_after_failure=False,
        )

    def schedule_reminders(self, events: Sequence[Event]) -> None:
        """Schedule and cancel the reminders among ``events`` (events added from outside)."""
        for event in events:
            if isinstance(event, ReminderScheduled):
                self.processor._schedule_reminder(self.tracker.sender_id, event)
            elif isinstance(event, ReminderCancelled):
                self.processor._cancel_reminders(self.tracker.sender_id, event)


def bot_message(event: BotUttered) -> dict[str, Any]:
    """A BotUttered event as the message dict output channels send."""
    data = event.data or {}
    message: dict[str, Any] = {k: v for k, v in data.items() if v is not None}
    if event.text is not None:
        message["text"] = event.text
    if data.get("image") is not None and data.get("attachment") == data.get("image"):
        # Rasa copies an image into ``attachment`` when storing the event and
        # drops it again when sending, so the image is sent once.
        del message["attachment"]
    return message


# How often a message turn runs when the store refuses it because the
# conversation changed since it was loaded: only when a lock expired under a
# slow turn and its holder stored that turn meanwhile. Nothing of the refused
# turn was stored or sent, so it runs again on the reloaded conversation; but
# its custom actions run again too, so the number stays small.
TURN_ATTEMPTS = 2


def _redo_or_give_up(exc: ConversationChangedError, attempt: int) -> None:
    """Log that a refused turn runs again, or re-raise after the last attempt (409)."""
    if attempt >= TURN_ATTEMPTS:
        raise exc
    logger.warning(
        "conversation %s changed while a turn ran (loaded with %d stored events, now %d: "
        "a lock expired?); nothing was stored, running the turn again on the reloaded "
        "conversation (attempt %d of %d)",
        exc.conversation_id, exc.expected, exc.actual, attempt + 1, TURN_ATTEMPTS,
    )  # fmt: skip


class MessageProcessor:
    """Handles messages for one runtime (model, stores, locks, broker, actions)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.max_actions = runtime.settings.max_actions_per_turn
        self.lock_wait_timeout = runtime.settings.lock_wait_timeout
        self._action_client: ActionServerClient | None = None
        self._nlg: Any = None
        self._trackers = TrackerCache(runtime.settings.tracker_cache_size)
        self._versioned: tuple[object, bool] | None = None
        self._frozen_model: LoadedModel | None = None
        self._gc = GcSchedule()
        # Turns in flight and started: due GC work waits for a moment without turns.
        self._in_flight = 0
        self._turns_started = 0
        self._idle_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        from palaver.nlg import create_nlg

        tune_gc()
        http = self.runtime.http_client
        self._action_client = ActionServerClient.from_config(
            self.runtime.endpoints.action_endpoint, http=http
        )
        if self._action_client is not None:
            await self._action_client.start()
        self._nlg_factory = partial(create_nlg, self.runtime.endpoints.nlg, http=http)

    async def stop(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._action_client is not None:
            await self._action_client.stop()

    def nlg_for(self, model: LoadedModel) -> Any:
        """The NLG for the model's domain (domain responses change with the model).

        Every generator shares the runtime's HTTP client, so replacing one on
        a model swap leaves nothing to close.
        """
        nlg = self._nlg
        if nlg is None or nlg.domain is not model.domain:
            nlg = self._nlg_factory(model.domain)
            self._nlg = nlg
        return nlg

    # --------------------------------------------------------------- public
    async def handle_message(self, message: UserMessage, output: OutputChannel) -> TurnResult:
        """Handle one user message and send the bot's replies to ``output``."""
        self._in_flight += 1
        self._turns_started += 1
        try:
            return await self._handle_message(message, output)
        finally:
            self._in_flight -= 1
            if self._idle_timer is None:
                self._wait_for_idle()

    def _wait_for_idle(self) -> None:
        """Start the idle timer when no turn is in flight and the collector has work."""
        if not self._in_flight and self._gc.idle_due:
            self._idle_timer = asyncio.get_running_loop().call_later(
                GC_IDLE_AFTER, self._gc_when_idle, self._turns_started
            )

    def _gc_when_idle(self, turns_started: int) -> None:
        """The collector's due work, if no turn started since the timer was set.

        Turns that started and ended meanwhile restart the wait; a turn still
        in flight restarts it when it ends.
        """
        self._idle_timer = None
        if self._turns_started == turns_started and not self._in_flight:
            self._gc.on_idle()
        else:
            self._wait_for_idle()

    async def _handle_message(self, message: UserMessage, output: OutputChannel) -> TurnResult:
        model = self.runtime.model  # raises ModelNotReadyError: 503 to the channel
        if model is not self._frozen_model:
            self._frozen_model = model
            gc.freeze()  # see palaver.core.gc_policy: the model lives as long as it serves
        started = time.perf_counter()
        counters = self.runtime.counters
        result: TurnResult | None = None
        try:
            async with self._lock(message.sender_id) as handle:
                if self.runtime.settings.trace_locks:
                    message.metadata = {
                        **(message.metadata or {}),
                        "palaver_lock": {
                            "ticket": handle.ticket,
                            "fence": handle.fence,
                            "replica": self.runtime.replica_id,
                            # From asking for the lock to holding it.
                            "wait_ms": round((time.perf_counter() - started) * 1000, 3),
                        },
                    }
                for attempt in range(1, TURN_ATTEMPTS + 1):
                    tracker, loaded, older = await self._load_for_turn(
                        message.sender_id, model, handle.previous_note
                    )
                    await self._update_session(tracker, model, output.name(), message.metadata)
                    await self._log_user_message(tracker, model, message)
                    if self._should_handle(tracker):
                        await self._run_extract_slots(
                            tracker, model, output.name(), message.metadata
                        )
                        await self._prediction_loop(tracker, model, output.name(), message.metadata)
                    new_events = tracker.events[loaded:]
                    try:
                        await self._persist_to_the_end(
                            message.sender_id, new_events, handle.fence, older + loaded
                        )
                        break
                    except ConversationChangedError as exc:
                        _redo_or_give_up(exc, attempt)
                cached = self._trackers.put(message.sender_id, tracker, model, older, handle.fence)
                if cached is not None:
                    handle.note = version_note(cached)
                result = TurnResult(tracker, list(new_events))
                for bot in result.bot_messages:
                    await output.send_response(message.sender_id, bot)
        except LockLostError as exc:
            if result is None:
                counters.message_errors += 1
                raise
            # The turn was stored (its fence was accepted) and answered; failing
            # the request now would only make the client send it a second time.
            logger.warning(
                "conversation %s: the lock expired before it was released (%s); "
                "the turn had been stored under fence %s",
                message.sender_id,
                exc,
                handle.fence,
            )
        except LockTimeoutError:
            counters.lock_timeouts += 1
            counters.message_errors += 1
            raise
        except Exception:
            counters.message_errors += 1
            raise
        counters.messages += 1
        counters.processing_seconds += time.perf_counter() - started
        self._gc.message_done()
        return result

    @asynccontextmanager
    async def conversation(
        self, sender_id: str, *, session: SessionMode = "update", full: bool = False
    ) -> AsyncIterator[ConversationTurn]:
        """Lock and load a conversation for an HTTP API operation.

        Args:
            sender_id: the conversation.
            session: when to run ``action_session_start`` before the operation.
            full: load every session (for responses that include all events).

        When the block ends without an exception, the events it added are
        appended (fenced) and published, still under the lock.
        """
        model = self.runtime.model
        async with self._lock(sender_id) as handle:
            tracker, stored, total = await self._load_counted(sender_id, model, full=full)
            turn = ConversationTurn(self, tracker, model, stored)
            if session == "update" or (session == "initial" and not tracker.events):
                await turn.start_session()
            yield turn
            # ``total``: refused (409) if a writer whose lock expired stored
            # events after this operation loaded the conversation.
            await self._persist(sender_id, turn.new_events, handle.fence, total)

    async def replace_events(self, sender_id: str, events: Sequence[Event]) -> DialogueStateTracker:
        """Replace all events of a conversation, under its lock; the new events are published.

        The store deletes and then appends: a crash between the two leaves the
        conversation empty rather than half replaced.
        """
        model = self.runtime.model
        tracker = DialogueStateTracker.from_events(sender_id, events, model.domain.create_slots())
        assert self.runtime.tracker_store is not None
        async with self._lock(sender_id) as handle:
            await self.runtime.tracker_store.delete(sender_id)
            await self._persist(sender_id, tracker.events, handle.fence)
        return tracker

    def _lock(self, sender_id: str) -> Any:
        assert self.runtime.lock_store is not None
        return self.runtime.lock_store.lock(sender_id, wait_timeout=self.lock_wait_timeout)

    async def _load_for_turn(
        self, sender_id: str, model: LoadedModel, lock_note: str | None = None
    ) -> tuple[DialogueStateTracker, int, int]:
        """The tracker for a message turn, reusing this process's copy while it is current.

        Returns the tracker, how many of its events are stored, and how many
        stored events of older sessions it does not hold. The cached tracker is
        taken out of the cache for the turn and goes back only after the turn
        was stored, so a failed turn never leaves a half-updated tracker behind.
        The copy is current when the lock's note is the one this process left
        with it (see ``palaver.core.tracker_cache``), else when the store's
        version is still the one it was written at.
        """
        store = self.runtime.tracker_store
        assert store is not None
        if self._is_versioned(store):
            cached = self._trackers.take(sender_id, model)
            current = cached is not None and (
                lock_note == version_note(cached.version)
                or await store.version(sender_id) == cached.version
            )
            self._trackers.record(current)
            if cached is not None and current:
                return cached.tracker, len(cached.tracker.events), cached.older_events
        assert self.runtime.tracker_store is not None
        stored = await self.runtime.tracker_store.load(sender_id)
        slots = model.domain.create_slots()
        if stored is None:
            return DialogueStateTracker(sender_id, slots), 0, 0
        tracker = DialogueStateTracker.from_dicts(sender_id, stored.events, slots)
        return tracker, len(tracker.events), stored.total_events - len(stored.events)

    def _is_versioned(self, store: object) -> TypeGuard[VersionedStore]:
        """``isinstance(store, VersionedStore)``, checked once per store object.

        A runtime-checkable Protocol check inspects the class on every call;
        the store does not change its methods while it serves.
        """
        checked = self._versioned
        if checked is None or checked[0] is not store:
            checked = self._versioned = (store, isinstance(store, VersionedStore))
        return checked[1]

    async def load_tracker(
        self, sender_id: str, model: LoadedModel, *, full: bool = False
    ) -> tuple[DialogueStateTracker, int]:
        """The conversation's tracker and how many of its events are already stored."""
        tracker, stored, _ = await self._load_counted(sender_id, model, full=full)
        return tracker, stored

    async def _load_counted(
        self, sender_id: str, model: LoadedModel, *, full: bool = False
    ) -> tuple[DialogueStateTracker, int, int]:
        """``load_tracker`` plus the stored event count of all sessions."""
        assert self.runtime.tracker_store is not None
        stored = await self.runtime.tracker_store.load(sender_id, full=full)
        slots = model.domain.create_slots()
        if stored is None:
            return DialogueStateTracker(sender_id, slots), 0, 0
        tracker = DialogueStateTracker.from_dicts(sender_id, stored.events, slots)
        return tracker, len(tracker.events), stored.total_events

    async def _persist_to_the_end(
        self,
        sender_id: str,
        events: Sequence[Event],
        fence: int | None,
        expected_total: int | None = None,
    ) -> None:
        """``_persist``, finished even if the request is cancelled meanwhile.

        A client that hangs up must not leave a turn stored but unpublished;
        the conversation's lock stays held until both are done. Without a
        broker and with a store whose calls never suspend (in-memory), nothing
        can interrupt ``_persist``, and it runs without a task of its own.
        """
        if self.runtime.broker is None and getattr(
            self.runtime.tracker_store, "never_suspends", False
        ):
            await self._persist(sender_id, events, fence, expected_total)
            return
        task = asyncio.ensure_future(self._persist(sender_id, events, fence, expected_total))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await task
            raise

    async def _persist(
        self,
        sender_id: str,
        events: Sequence[Event],
        fence: int | None,
        expected_total: int | None = None,
    ) -> None:
        """Append (checked against ``fence`` and, if given, the loaded event count), publish."""
        if not events:
            return
        dicts = [e.as_dict() for e in events]
        assert self.runtime.tracker_store is not None
        await self.runtime.tracker_store.append(
            sender_id, dicts, fence=fence, expected_total=expected_total
        )
        if self.runtime.broker is not None:
            # Still under the conversation's lock: the broker's queue sees the
            # turns of one conversation in order.
            await self.runtime.broker.publish(sender_id, dicts)

    # ---------------------------------------------------------------- turn
    def _context(
        self,
        model: LoadedModel,
        channel: str,
        metadata: dict[str, Any] | None,
        action_metadata: dict[str, Any] | None = None,
    ) -> ActionContext:
        return ActionContext(
            nlg=self.nlg_for(model),
            channel_name=channel,
            action_client=self._action_client,
            message_metadata=metadata,
            action_metadata=action_metadata,
        )

    async def _update_session(
        self,
        tracker: DialogueStateTracker,
        model: LoadedModel,
        channel: str,
        metadata: dict[str, Any] | None,
    ) -> None:
        """Run ``action_session_start`` for a new conversation or an expired session."""
        if self._has_applied_events(tracker) and not self._session_expired(tracker, model):
            return
        await self.run_action(
            PolicyPrediction(ACTION_SESSION_START_NAME, 1.0, None),
            tracker,
            model,
            channel,
            metadata,
        )

    @staticmethod
    def _has_applied_events(tracker: DialogueStateTracker) -> bool:
        """``bool(tracker.applied_events())`` in O(1) for the usual tails.

        Scans back from the end: an ordinary event means there are applied
        events; a restart or session start before any means there are none.
        Only a rewind or undo needs the full replay.
        """
        for event in reversed(tracker.events):
            if isinstance(event, Restarted | SessionStarted):
                return False
            if isinstance(event, UserUtteranceReverted | ActionReverted):
                return bool(tracker.applied_events())
            return True
        return False

    @staticmethod
    def _session_expired(tracker: DialogueStateTracker, model: LoadedModel) -> bool:
        minutes = model.domain.session_config.session_expiration_time
        if not minutes or minutes <= 0:
            return False
        last_user = tracker.get_last_event_for(UserUttered)
        if last_user is None:
            return False
        return bool((time.time() - last_user.timestamp) / 60.0 > minutes)

    async def _log_user_message(
        self, tracker: DialogueStateTracker, model: LoadedModel, message: UserMessage
    ) -> None:
        if message.parse_data is not None:
            parse_data = message.parse_data
        else:
            parse_data = await self.parse_off_loop(model, message)
        tracker.update(
            UserUttered(
                text=message.text,
                intent=parse_data.get("intent"),
                entities=parse_data.get("entities") or [],
                parse_data=parse_data,
                input_channel=message.input_channel,
                message_id=message.message_id,
                metadata=message.metadata or {},
            )
        )

    @classmethod
    async def parse_off_loop(cls, model: LoadedModel, message: UserMessage) -> dict[str, Any]:
        """``parse``, in a worker thread when the pipeline is slow (see ``parse_in_thread``)."""
        if model.parse_in_thread:
            return await asyncio.to_thread(cls.parse, model, message)
        return cls.parse(model, message)

    @staticmethod
    def parse(model: LoadedModel, message: UserMessage) -> dict[str, Any]:
        text = message.text or ""
        parse_data = parse_intent_shortcut(text) if PREFIX in text else None
        if parse_data is None:
            parse_data = model.parse(text, message_id=message.message_id)
        model.warn_unseen(parse_data)
        parse_data["message_id"] = message.message_id
        parse_data["metadata"] = message.metadata or {}
        return parse_data

    @staticmethod
    def _should_handle(tracker: DialogueStateTracker) -> bool:
        if not tracker.is_paused():
            return True
        latest = tracker.latest_message
        return latest is not None and latest.intent_name == USER_INTENT_RESTART

    async def _run_extract_slots(
        self,
        tracker: DialogueStateTracker,
        model: LoadedModel,
        channel: str,
        metadata: dict[str, Any] | None,
    ) -> None:
        action = action_for_name(ACTION_EXTRACT_SLOTS, model.domain)
        try:
            events = await action.run(
                tracker, model.domain, self._context(model, channel, metadata)
            )
        except ActionExecutionError as exc:
            self.runtime.counters.actions_failed += 1
            logger.error("slot extraction failed for conversation %s: %s", tracker.sender_id, exc)
            return
        for event in events:
            tracker.update(event)

    async def _prediction_loop(
        self,
        tracker: DialogueStateTracker,
        model: LoadedModel,
        channel: str,
        metadata: dict[str, Any] | None,
    ) -> None:
        for _ in range(self.max_actions):
            if not self._should_handle(tracker):
                return
            prediction = self.predict(tracker, model)
            for event in prediction.events:
                tracker.update(event)
            if not await self.run_action(prediction, tracker, model, channel, metadata):
                return
        logger.warning(
            "circuit breaker: %s actions predicted for conversation %s without listening; "
            "stopping this turn",
            self.max_actions,
            tracker.sender_id,
        )
        tracker.update(ActionExecuted(ACTION_LISTEN_NAME))

    @staticmethod
    def predict(tracker: DialogueStateTracker, model: LoadedModel) -> PolicyPrediction:
        """The next action: a pending followup action, else the policies' choice."""
        followup = tracker.followup_action
        if followup:
            tracker.clear_followup_action()
            if followup in model.domain.action_names_or_texts:
                return PolicyPrediction(followup, 1.0, FOLLOWUP_ACTION)
            logger.error("followup action '%s' is not in the domain; ignoring it", followup)
        prediction: PolicyPrediction = model.policies.predict(tracker, model.domain)
        return prediction

    async def run_action(
        self,
        prediction: PolicyPrediction,
        tracker: DialogueStateTracker,
        model: LoadedModel,
        channel: str,
        metadata: dict[str, Any] | None,
        *,
        listen_after_failure: bool = True,
    ) -> bool:
        """Run the predicted action and log it; returns whether to predict another one.

        A failing action (``ActionExecutionError``) is logged without events and
        ends the turn: with ``action_listen`` after it unless ``listen_after_failure``
        is False.
        """
        name, policy, confidence = (
            prediction.action_name,
            prediction.policy_name,
            prediction.confidence,
        )
        action = action_for_name(name, model.domain)
        ctx = self._context(model, channel, metadata, prediction.action_metadata)
        try:
            events = await action.run(tracker, model.domain, ctx)
        except ActionRejectedError as exc:
            logger.info("action %s rejected execution: %s", name, exc)
            tracker.discard_latest(prediction.events)
            tracker.update(ActionExecutionRejected(name, policy, confidence))
            return True
        except ActionExecutionError as exc:
            self.runtime.counters.actions_failed += 1
            logger.error(
                "action %s failed for conversation %s: %s; its events are lost%s",
                name,
                tracker.sender_id,
                exc,
                f" and the turn ends with {ACTION_LISTEN_NAME}" if listen_after_failure else "",
            )
            tracker.update(ActionExecuted(name, policy, confidence))
            if listen_after_failure:
                tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
            return False
        if any(isinstance(e, ActionExecutionRejected) for e in events):
            tracker.discard_latest(prediction.events)  # rejected by the action itself
        else:
            tracker.update(
                executed_event(action, name, policy, confidence, prediction.hide_rule_turn)
            )
        now = time.time()
        for event in events:
            # Rasa stamps an action's events after its ActionExecuted.
            event.timestamp = now
            tracker.update(event)
            if isinstance(event, ReminderScheduled):
                self._schedule_reminder(tracker.sender_id, event)
            elif isinstance(event, ReminderCancelled):
                self._cancel_reminders(tracker.sender_id, event)
        return name not in (ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME)

    def _schedule_reminder(self, sender_id: str, event: ReminderScheduled) -> None:
        """Time the reminder (it fires only if the turn that holds it is stored)."""
        scheduler = self.runtime.reminders
        if scheduler is None:
            logger.warning(
                "conversation %s scheduled reminder '%s' while the server is not running; "
                "it will not fire",
                sender_id,
                event.name,
            )
            return
        scheduler.schedule(sender_id, event)

    def _cancel_reminders(self, sender_id: str, event: ReminderCancelled) -> None:
        scheduler = self.runtime.reminders
        if scheduler is None:
            logger.debug("conversation %s cancelled reminders; none are scheduled", sender_id)
            return
        scheduler.cancel(sender_id, event)
