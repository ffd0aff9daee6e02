"""Palaver: an async conversation runtime server for Rasa-format assistants."""

__version__ = "0.1.0"
# Rasa version we emulate on the wire (``/version``, action-server payloads).
RASA_COMPAT_VERSION = "3.6.20"

__all__ = ["RASA_COMPAT_VERSION", "__version__"]
