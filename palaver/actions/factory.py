"""``action_for_name``: the action object behind a name the policies predicted.

Resolution follows Rasa 3.6 (``action_for_name_or_text``):

1. a default action, unless the domain lists a custom action of that name;
2. ``utter_<retrieval intent>`` -> :class:`ActionRetrieveResponse`;
3. an end-to-end bot text -> :class:`ActionEndToEndResponse`;
4. ``utter_*`` -> :class:`ActionBotResponse`;
5. a form (unless a custom action overrides it) -> :class:`FormAction`;
6. anything else -> :class:`RemoteAction` on the action server.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from palaver.actions.builtin import (
    ActionBack,
    ActionDeactivateLoop,
    ActionDefaultAskRephrase,
    ActionDefaultFallback,
    ActionListen,
    ActionRestart,
    ActionSendText,
    ActionSessionStart,
    ActionUnlikelyIntent,
)
from palaver.actions.errors import UnknownActionError
from palaver.actions.extract_slots import ActionExtractSlots
from palaver.actions.fallback import (
    ActionDefaultAskAffirmation,
    ActionRevertFallbackEvents,
    TwoStageFallbackAction,
)
from palaver.actions.forms import FormAction
from palaver.actions.remote import RemoteAction
from palaver.actions.response import (
    ActionBotResponse,
    ActionEndToEndResponse,
    ActionRetrieveResponse,
    retrieval_intent_of,
)
from palaver.core.constants import UTTER_PREFIX

if TYPE_CHECKING:
    from palaver.actions.base import Action
    from palaver.core.domain import Domain

_DEFAULT_ACTION_CLASSES: tuple[Callable[[], Action], ...] = (
    ActionListen,
    ActionRestart,
    ActionSessionStart,
    ActionDefaultFallback,
    ActionDeactivateLoop,
    ActionRevertFallbackEvents,
    ActionDefaultAskAffirmation,
    ActionDefaultAskRephrase,
    TwoStageFallbackAction,
    ActionUnlikelyIntent,
    ActionBack,
    ActionSendText,
    ActionExtractSlots,
)


def default_actions() -> list[Action]:
    """One instance of every default action, in Rasa's order."""
    return [factory() for factory in _DEFAULT_ACTION_CLASSES]


# Default actions hold no state, so one shared instance each is enough.
DEFAULT_ACTIONS: dict[str, Action] = {action.name: action for action in default_actions()}


# Resolved actions per domain (a domain is immutable and actions hold no state), so
# the processor's several look-ups per message cost one dict access each.
_RESOLVED: weakref.WeakKeyDictionary[Domain, dict[str, Action]] = weakref.WeakKeyDictionary()
# The most recently used entry of _RESOLVED, compared by identity.
_last: tuple[weakref.ref[Domain], dict[str, Action]] | None = None


def action_for_name(name: str, domain: Domain) -> Action:
    """The action for ``name`` (an action name or an end-to-end text).

    Raises:
        UnknownActionError: ``name`` is not in ``domain.action_names_or_texts``.
    """
    global _last
    last = _last
    if last is not None and last[0]() is domain:
        # A server serves one domain at a time: no hashing on the usual path.
        resolved = last[1]
    else:
        try:
            found = _RESOLVED.get(domain)
            if found is None:
                found = _RESOLVED[domain] = {}
            _last = (weakref.ref(domain), found)
            resolved = found
        except TypeError:  # a domain stand-in that cannot be weakly referenced or hashed
            return _resolve(name, domain)
    action = resolved.get(name)
    if action is None:
        action = resolved[name] = _resolve(name, domain)
    return action


def _resolve(name: str, domain: Domain) -> Action:
    if domain.index_for_action(name) is None:
        raise UnknownActionError(name)
    overridden = name in domain.user_actions or name in domain.forms
    if name in DEFAULT_ACTIONS and not overridden:
        return DEFAULT_ACTIONS[name]
    if name.startswith(UTTER_PREFIX) and retrieval_intent_of(name) in domain.retrieval_intents:
        return ActionRetrieveResponse(name)
    if name in domain.action_texts:
        return ActionEndToEndResponse(name)
    if name.startswith(UTTER_PREFIX):
        return ActionBotResponse(name)
    if name in domain.forms and name not in domain.user_actions:
        return FormAction(name)
    return RemoteAction(name)
