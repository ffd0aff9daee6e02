"""Action failures more specific than :class:`palaver.errors.ActionExecutionError`.

All subclass ``ActionExecutionError``, so a caller that only cares whether
the action ran can catch that one class.
"""

from __future__ import annotations

from palaver.errors import ActionExecutionError, ActionRejectedError

__all__ = [
    "ActionExecutionError",
    "ActionNotRegisteredError",
    "ActionRejectedError",
    "ActionServerUnavailableError",
    "ActionTimeoutError",
    "InvalidActionResponseError",
    "UnknownActionError",
]


class UnknownActionError(ActionExecutionError):
    """The action name is neither a default action nor listed in the domain."""

    def __init__(self, action_name: str) -> None:
        self.action_name = action_name
        super().__init__(
            f"Cannot find action '{action_name}': it is not a default action and "
            f"the domain does not list it under actions, forms or responses."
        )


class ActionNotRegisteredError(ActionExecutionError):
    """The action server answered 404: it has no action of that name."""

    def __init__(self, action_name: str, url: str, detail: str | None = None) -> None:
        self.action_name = action_name
        suffix = f" ({detail})" if detail else ""
        super().__init__(
            f"Custom action '{action_name}' was not found on the action server at "
            f"{url} (HTTP 404){suffix}. Check that the action server loads the "
            f"module that defines it."
        )


class ActionServerUnavailableError(ActionExecutionError):
    """The action or NLG server could not be reached, or did not answer in time."""

    retriable = True


class InvalidActionResponseError(ActionExecutionError):
    """The server answered 200 with a body that does not follow the protocol."""


class ActionTimeoutError(ActionExecutionError):
    """The server took longer than the endpoint's ``timeout``.

    Not retriable: the action may have run (and had side effects) anyway.
    """
