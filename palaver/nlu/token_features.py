"""Lexical per-token features in a window around each token.

The feature names are Rasa's (``low``, ``title``, ``prefix5``, ...), shared by
the LexicalSyntacticFeaturizer and the CRFEntityExtractor. A window config is
a list of feature-name lists for the positions ``-k .. +k`` around a token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from palaver.errors import ConfigError
from palaver.nlu.message import Token

TOKEN_FUNCTIONS: dict[str, Callable[[Token], Any]] = {
    "low": lambda t: t.text.lower(),
    "title": lambda t: t.text.istitle(),
    "upper": lambda t: t.text.isupper(),
    "digit": lambda t: t.text.isdigit(),
    "prefix5": lambda t: t.text[:5],
    "prefix2": lambda t: t.text[:2],
    "suffix5": lambda t: t.text[-5:],
    "suffix3": lambda t: t.text[-3:],
    "suffix2": lambda t: t.text[-2:],
    "suffix1": lambda t: t.text[-1:],
    "bias": lambda t: "bias",
}
# Features that need the position rather than the token.
POSITION_FEATURES = ("BOS", "EOS")
# Features Rasa takes from spaCy; Palaver has no POS tagger, so they are empty.
UNAVAILABLE_FEATURES = ("pos", "pos2")

Window = Sequence[Sequence[str]]


def validate_window(window: Window, component: str, extra: Sequence[str] = ()) -> None:
    """Raise ConfigError for an even-sized window or an unknown feature name."""
    if len(window) % 2 == 0:
        raise ConfigError(
            f"Component '{component}': config 'features' must list an odd number of "
            f"positions (before, current, after), got {len(window)}."
        )
    known = {*TOKEN_FUNCTIONS, *POSITION_FEATURES, *UNAVAILABLE_FEATURES, *extra}
    for names in window:
        for name in names:
            if name not in known:
                raise ConfigError(
                    f"Component '{component}': unknown token feature '{name}'. "
                    f"Valid features: {', '.join(sorted(known))}."
                )


def window_features(
    tokens: Sequence[Token], index: int, window: Window, prefix: str = ""
) -> dict[str, Any]:
    """Features of ``tokens[index]`` and its neighbours, keyed ``<prefix><pos>:<name>``."""
    half = len(window) // 2
    features: dict[str, Any] = {}
    for offset, names in zip(range(-half, half + 1), window, strict=True):
        position = index + offset
        if not 0 <= position < len(tokens):
            continue
        token = tokens[position]
        for name in names:
            function = TOKEN_FUNCTIONS.get(name)
            if function is not None:
                features[f"{prefix}{offset}:{name}"] = function(token)
            elif name == "BOS":
                features[f"{prefix}{offset}:BOS"] = position == 0
            elif name == "EOS":
                features[f"{prefix}{offset}:EOS"] = position == len(tokens) - 1
    return features
