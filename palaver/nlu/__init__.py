"""Palaver's NLU: a trainable pipeline that turns a text into Rasa's parse JSON.

The public names are imported lazily so that ``palaver.nlu.training_data``
(used by the project reader) does not pull in scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from palaver.nlu.pipeline import NLUPipeline
    from palaver.nlu.registry import COMPONENT_SUBSTITUTIONS, COMPONENTS, DEFAULT_PIPELINE

__all__ = ["COMPONENTS", "COMPONENT_SUBSTITUTIONS", "DEFAULT_PIPELINE", "NLUPipeline"]

_LAZY = {
    "NLUPipeline": "palaver.nlu.pipeline",
    "COMPONENTS": "palaver.nlu.registry",
    "COMPONENT_SUBSTITUTIONS": "palaver.nlu.registry",
    "DEFAULT_PIPELINE": "palaver.nlu.registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'palaver.nlu' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)
