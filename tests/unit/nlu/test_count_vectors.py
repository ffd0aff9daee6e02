from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from palaver.errors import ConfigError
from palaver.nlu.count_vectors import CountVectorsFeaturizer
from palaver.nlu.message import Message, SparseVector, TrainingBatch
from palaver.nlu.tokenizer import WhitespaceTokenizer
from palaver.nlu.training_data import NLUTrainingData, TrainingExample

TEXTS = ["where is my card?", "my card has not arrived", "I lost my card", "top up my account"]


def _train(config: dict[str, object], texts: list[str] = TEXTS) -> CountVectorsFeaturizer:
    batch = TrainingBatch.from_data(
        NLUTrainingData(examples=[TrainingExample(t, "x") for t in texts])
    )
    WhitespaceTokenizer({}).train(batch)
    featurizer = CountVectorsFeaturizer(config)
    featurizer.train(batch)
    return featurizer


def _vector(featurizer: CountVectorsFeaturizer, text: str) -> SparseVector:
    message = Message(text)
    message.tokens = WhitespaceTokenizer({}).tokenize(text)
    featurizer.process(message)
    vector = message.sentence_features[0]
    assert isinstance(vector, SparseVector)
    return vector


def _dense(vector: SparseVector) -> np.ndarray:
    dense = np.zeros(vector.dim)
    dense[vector.indices] = vector.values
    return dense


def test_char_wb_matches_scikit_learn_tfidf() -> None:
    featurizer = _train({"analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4})
    reference = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True)
    reference.fit(TEXTS)
    assert featurizer.vocabulary == reference.vocabulary_
    text = "has my card arrived?"
    expected = reference.transform([text]).toarray()[0]
    np.testing.assert_allclose(_dense(_vector(featurizer, text)), expected)


def test_word_ngrams_and_count_weighting() -> None:
    featurizer = _train({"max_ngram": 2, "weighting": "count", "norm": None})
    vector = _vector(featurizer, "my card my card")
    counts = {term: _dense(vector)[i] for term, i in featurizer.vocabulary.items()}
    assert counts["my card"] == 2.0
    assert counts["card"] == 2.0
    assert counts["arrived"] == 0.0


def test_unknown_words_become_the_oov_token() -> None:
    featurizer = _train({"OOV_token": "oov", "OOV_words": ["lost"]})
    assert "oov" in featurizer.vocabulary
    assert "lost" not in featurizer.vocabulary
    vector = _vector(featurizer, "zebra")
    assert list(vector.indices) == [featurizer.vocabulary["oov"]]


def test_unseen_oov_token_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        _train({"OOV_token": "oov"})
    assert "oov_token_unseen" in caplog.text


def test_min_df_drops_rare_terms() -> None:
    featurizer = _train({"min_df": 2})
    assert set(featurizer.vocabulary) == {"card", "my"}


def test_empty_message_gives_an_empty_vector() -> None:
    featurizer = _train({"analyzer": "char_wb", "max_ngram": 3})
    vector = _vector(featurizer, "")
    assert vector.indices.size == 0
    assert vector.dim == featurizer.dim


@pytest.mark.parametrize(
    "config",
    [{"analyzer": "chars"}, {"min_ngram": 3, "max_ngram": 2}, {"max_ngram": "2"}],
)
def test_bad_options_are_config_errors(config: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="CountVectorsFeaturizer"):
        CountVectorsFeaturizer(config)
