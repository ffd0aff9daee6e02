"""One error hierarchy for Palaver.

Every failure family has its own subclass so callers can decide from the type
(and the ``retriable`` flag) what to do, never from a message string.
"""

from __future__ import annotations


class PalaverError(Exception):
    """Root of all errors raised by Palaver."""

    retriable: bool = False


class ConfigError(PalaverError):
    """Invalid configuration: endpoints.yml, credentials.yml, CLI flags, env."""


class ProjectDataError(PalaverError):
    """Invalid project data (domain.yml, config.yml, data/*.yml).

    ``filename`` and ``line`` point at the offending place when known.
    """

    def __init__(self, message: str, filename: str | None = None, line: int | None = None) -> None:
        self.filename = filename
        self.line = line
        where = ""
        if filename:
            where = f"{filename}:{line}: " if line is not None else f"{filename}: "
        super().__init__(f"{where}{message}")


class InvalidEventError(PalaverError):
    """An event JSON object that does not follow the Rasa event schema."""


class ModelError(PalaverError):
    """A model archive that cannot be trained, found or loaded."""


class TrainingError(ModelError):
    """Training failed."""


class ModelStorageError(ModelError):
    """A model could not be fetched from (or pushed to) a model server or remote storage."""


class ModelStorageUnavailableError(ModelStorageError):
    """The model server or remote storage cannot be reached right now."""

    retriable = True


class StoreError(PalaverError):
    """A tracker store failed."""


class StoreUnavailableError(StoreError):
    """The tracker store cannot be reached right now (connection-level failure)."""

    retriable = True


class StaleWriteError(StoreError):
    """A save was refused because a newer lock holder owns the conversation (fencing)."""


class ConversationChangedError(StaleWriteError):
    """A save was refused because the conversation changed since the writer loaded it.

    The store holds ``actual`` events, not the ``expected`` ones the writer's
    view was built from (a lock expired and another writer appended meanwhile).
    Nothing was written, so the writer may reload and redo its work.
    """

    retriable = True

    def __init__(self, conversation_id: str, expected: int, actual: int) -> None:
        self.conversation_id = conversation_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"Append to conversation '{conversation_id}' refused: it was loaded with "
            f"{expected} stored events but now has {actual} (another writer appended meanwhile)."
        )


class LockError(PalaverError):
    """A conversation lock failed."""


class LockTimeoutError(LockError):
    """The lock for a conversation could not be acquired in time."""

    retriable = True

    def __init__(self, conversation_id: str, waited: float) -> None:
        self.conversation_id = conversation_id
        self.waited = waited
        super().__init__(
            f"Could not acquire the lock for conversation '{conversation_id}' within {waited:.1f}s"
        )


class LockLostError(LockError):
    """The lock expired while its holder was still working."""


class BrokerError(PalaverError):
    """An event broker failed."""


class BrokerUnavailableError(BrokerError):
    """The event broker cannot be reached right now."""

    retriable = True


class ActionExecutionError(PalaverError):
    """A custom action or NLG call failed."""


class ActionRejectedError(ActionExecutionError):
    """The action server rejected the action (HTTP 400 with ``action_name``)."""

    def __init__(self, action_name: str, message: str | None = None) -> None:
        self.action_name = action_name
        super().__init__(message or f"Custom action '{action_name}' rejected execution.")
