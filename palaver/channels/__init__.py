"""Input channels from credentials.yml, through an explicit registry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from palaver.channels.base import InputChannel
from palaver.channels.callback import CallbackInput
from palaver.channels.rest import RestInput
from palaver.config import CredentialsConfig
from palaver.errors import ConfigError
from palaver.registry import load_class

if TYPE_CHECKING:
    from palaver.server.runtime import Runtime

logger = logging.getLogger(__name__)

ChannelFactory = Callable[[dict[str, Any], "Runtime"], InputChannel]

CHANNELS: dict[str, ChannelFactory] = {
    "rest": lambda creds, runtime: RestInput.from_credentials(creds),
    "callback": lambda creds, runtime: CallbackInput.from_credentials(creds, lambda: runtime.http),
}

# Channels Rasa ships that Palaver does not (yet) implement. A project that
# lists them still starts; their webhooks are not mounted, and the log says so.
RASA_CHANNELS_NOT_AVAILABLE = frozenset(
    {
        "rasa",  # Rasa X / Enterprise connector
        "socketio",
        "slack",
        "telegram",
        "facebook",
        "twilio",
        "twilio_voice",
        "mattermost",
        "rocketchat",
        "botframework",
        "webexteams",
        "hangouts",
        "cisco",
        "audiocodes",
    }
)


def create_input_channels(credentials: CredentialsConfig, runtime: Runtime) -> list[InputChannel]:
    channels: list[InputChannel] = []
    for name, creds in credentials.channels.items():
        factory = CHANNELS.get(name)
        if factory is not None:
            channels.append(factory(creds, runtime))
        elif name in RASA_CHANNELS_NOT_AVAILABLE:
            logger.warning(
                "credentials.yml lists channel '%s', which Palaver does not provide; "
                "its webhook is not mounted",
                name,
            )
        elif "." in name:
            cls = load_class(name, "input channel")
            from_credentials = getattr(cls, "from_credentials", None)
            channel = from_credentials(creds) if callable(from_credentials) else cls(**creds)
            if not isinstance(channel, InputChannel):
                raise ConfigError(f"Custom channel '{name}' does not implement InputChannel.")
            channels.append(channel)
        else:
            raise ConfigError(
                f"credentials.yml: unknown channel '{name}'. Valid channels: "
                f"{', '.join(sorted(CHANNELS))}, or a dotted path to a custom channel class."
            )
    if not channels:
        channels.append(RestInput())
    return channels
