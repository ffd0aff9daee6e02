"""WhitespaceTokenizer: Rasa's whitespace tokenizer, with character offsets.

Punctuation at word edges is dropped, but kept inside numbers, e-mail
addresses and URLs (``10'000.00``, ``me@example.com``), as Rasa does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from palaver.nlu.component import settings_from_config
from palaver.nlu.message import Message, Token, TrainingBatch

_NON_WORD = re.compile(
    # not-a-word characters before a space or the end of the text
    r"[^\w#@&]+(?=\s|$)|"
    # after a space or the start of the text, not followed by a number
    r"(\s|^)[^\w#@&]+(?=[^0-9\s])|"
    # between non-digits, except characters of numbers, e-mails and URLs
    r"(?<=[^0-9\s])[^\w._~:/?#\[\]()@!$&*+,;=-]+(?=[^0-9\s])"
)
_EMOJI = re.compile(
    "["
    "\U0001f600-\U0001f64f"  # emoticons
    "\U0001f300-\U0001f5ff"  # symbols & pictographs
    "\U0001f680-\U0001f6ff"  # transport & map symbols
    "\U0001f1e0-\U0001f1ff"  # flags
    "\U0001f900-\U0001f9ff"  # supplemental symbols
    "\u2600-\u27bf"  # misc symbols, dingbats
    "\u200d\ufe0f"  # joiners and variation selectors
    "]+"
)


@dataclass(frozen=True, slots=True)
class WhitespaceTokenizerSettings:
    # Multi-intent labels (``greet+ask``) are always their own class; the flag and
    # symbol are kept so a pipeline reports what it was configured with.
    intent_tokenization_flag: bool = False
    intent_split_symbol: str = "_"
    token_pattern: str | None = None


class WhitespaceTokenizer:
    """Splits text into :class:`Token` objects on whitespace."""

    name: ClassVar[str] = "WhitespaceTokenizer"

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(WhitespaceTokenizerSettings, self.name, config)
        pattern = self.settings.token_pattern
        self._token_pattern = re.compile(pattern) if pattern else None

    def train(self, batch: TrainingBatch) -> None:
        for message in batch.messages:
            self.process(message)

    def process(self, message: Message) -> None:
        message.tokens = self.tokenize(message.text)

    def tokenize(self, text: str) -> list[Token]:
        """The tokens of ``text`` (none for blank text)."""
        if not text.strip():
            return []
        cleaned = text if text.isascii() else _EMOJI.sub(" ", text)
        words = _NON_WORD.sub(" ", cleaned).split() or [text.strip()]
        tokens = _words_to_tokens(words, text)
        if self._token_pattern is not None:
            tokens = _apply_pattern(tokens, self._token_pattern)
        return tokens


def _words_to_tokens(words: list[str], text: str) -> list[Token]:
    tokens: list[Token] = []
    offset = 0
    for word in words:
        start = text.find(word, offset)
        if start < 0:  # the cleaned word is not verbatim in the text
            start = offset
        end = start + len(word)
        tokens.append(Token(word, start, end))
        offset = end
    return tokens


def _apply_pattern(tokens: list[Token], pattern: re.Pattern[str]) -> list[Token]:
    result: list[Token] = []
    for token in tokens:
        matches = list(pattern.finditer(token.text))
        if not matches:
            result.append(token)
            continue
        for match in matches:
            start = token.start + match.start()
            result.append(Token(match.group(), start, start + len(match.group())))
    return result
