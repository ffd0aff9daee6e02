from __future__ import annotations

import pytest

from palaver.nlu.message import Token
from palaver.nlu.tokenizer import WhitespaceTokenizer


@pytest.fixture
def tokenizer() -> WhitespaceTokenizer:
    return WhitespaceTokenizer({})


def test_offsets_point_into_the_text(tokenizer: WhitespaceTokenizer) -> None:
    text = "Hello, where is   my card?"
    tokens = tokenizer.tokenize(text)
    assert [t.text for t in tokens] == ["Hello", "where", "is", "my", "card"]
    assert all(text[t.start : t.end] == t.text for t in tokens)


def test_numbers_and_emails_keep_their_punctuation(tokenizer: WhitespaceTokenizer) -> None:
    tokens = tokenizer.tokenize("send 10'000.50 to me@example.com now")
    assert [t.text for t in tokens] == ["send", "10'000.50", "to", "me@example.com", "now"]


def test_blank_text_has_no_tokens(tokenizer: WhitespaceTokenizer) -> None:
    assert tokenizer.tokenize("   ") == []


def test_only_punctuation_is_one_token(tokenizer: WhitespaceTokenizer) -> None:
    assert tokenizer.tokenize(":)") == [Token(":)", 0, 2)]


def test_emoji_is_dropped(tokenizer: WhitespaceTokenizer) -> None:
    assert [t.text for t in tokenizer.tokenize("great \U0001f600 thanks")] == ["great", "thanks"]


def test_token_pattern_splits_tokens() -> None:
    tokens = WhitespaceTokenizer({"token_pattern": r"[a-z]+"}).tokenize("ab-cd x")
    assert [(t.text, t.start, t.end) for t in tokens] == [("ab", 0, 2), ("cd", 3, 5), ("x", 6, 7)]
