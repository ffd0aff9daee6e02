"""CountVectorsFeaturizer: bag of word or character n-grams.

Same options as Rasa's (``analyzer`` word / char / char_wb, ``min_ngram``,
``max_ngram``, ``min_df``, ``max_df``, ``max_features``, ``lowercase``,
``OOV_token``, ``OOV_words``). Palaver feeds a linear classifier rather than
DIET, so by default the counts are TF-IDF weighted (sublinear tf, smoothed idf,
L2 norm, as scikit-learn's ``TfidfVectorizer``); ``weighting: count`` gives
Rasa's raw counts. Vectorising is done here, not by scikit-learn, so that one
message is featurised in microseconds.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from palaver.errors import ConfigError
from palaver.nlu.component import settings_from_config
from palaver.nlu.message import (
    FloatArray,
    Message,
    SparseVector,
    TrainingBatch,
    stack_vectors,
)

logger = logging.getLogger(__name__)

ANALYZERS = ("word", "char", "char_wb")
# Words whose char_wb n-gram indices are remembered (per featurizer).
WORD_CACHE_SIZE = 100_000
WEIGHTINGS = ("tfidf", "count", "binary")


@dataclass(frozen=True, slots=True)
class CountVectorsSettings:
    analyzer: str = "word"
    min_ngram: int = 1
    max_ngram: int = 1
    min_df: int | float = 1
    max_df: int | float = 1.0
    max_features: int | None = None
    lowercase: bool = True
    OOV_token: str | None = None
    OOV_words: tuple[str, ...] = ()
    weighting: str = "tfidf"
    sublinear_tf: bool = True
    norm: str | None = "l2"

    def validate(self, component: str) -> None:
        if self.analyzer not in ANALYZERS:
            raise ConfigError(
                f"Component '{component}': config 'analyzer' has value '{self.analyzer}'. "
                f"Valid values: {', '.join(ANALYZERS)}."
            )
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(
                f"Component '{component}': config 'weighting' has value '{self.weighting}'. "
                f"Valid values: {', '.join(WEIGHTINGS)}."
            )
        if not 1 <= self.min_ngram <= self.max_ngram:
            raise ConfigError(
                f"Component '{component}': need 1 <= min_ngram <= max_ngram, got "
                f"min_ngram={self.min_ngram}, max_ngram={self.max_ngram}."
            )
        if self.norm not in (None, "l2"):
            raise ConfigError(
                f"Component '{component}': config 'norm' has value '{self.norm}'. "
                "Valid values: l2, null."
            )


class CountVectorsFeaturizer:
    """Sparse sentence features from n-gram counts over the message tokens."""

    name: ClassVar[str] = "CountVectorsFeaturizer"

    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = settings_from_config(CountVectorsSettings, self.name, config)
        self.settings.validate(self.name)
        self.vocabulary: dict[str, int] = {}
        self.idf = np.zeros(0)
        self._analyze = _analyzer(self.settings)
        self._word_indices: dict[str, tuple[int, ...]] = {}
        self._idf_values: list[float] = []

    @property
    def dim(self) -> int:
        return len(self.vocabulary)

    def train(self, batch: TrainingBatch) -> None:
        oov_words = {w.lower() if self.settings.lowercase else w for w in self.settings.OOV_words}
        if self.settings.analyzer == "char_wb":
            documents = self._char_wb_documents(batch.messages)
        else:
            documents = [self._terms(m, oov_words, training=True) for m in batch.messages]
        self.vocabulary, self.idf = _fit_vocabulary(documents, self.settings)
        self._idf_values = self.idf.tolist()
        self._warn_missing_oov_token()
        vectors = [self._featurize(m, documents[i]) for i, m in enumerate(batch.messages)]
        batch.sentence_features.append(stack_vectors(vectors, self.dim))

    def process(self, message: Message) -> None:
        message.sentence_features.append(self._featurize(message, None))

    def _char_wb_documents(self, messages: list[Message]) -> list[list[str]]:
        # Messages repeat words a lot: n-gram each distinct word once.
        grams_of: dict[str, list[str]] = {}
        documents: list[list[str]] = []
        for message in messages:
            terms: list[str] = []
            for word in self._raw_words(message):
                grams = grams_of.get(word)
                if grams is None:
                    grams = grams_of[word] = self._analyze([word])
                terms += grams
            documents.append(terms)
        return documents

    def _featurize(self, message: Message, terms: list[str] | None) -> SparseVector:
        if self.settings.analyzer == "char_wb":
            return self._vectorize_words(self._raw_words(message))
        return self._vectorize(terms if terms is not None else self._terms(message, set(), False))

    def _raw_words(self, message: Message) -> list[str]:
        # Character n-grams see the raw words, punctuation included ("card?"):
        # worth ~0.5 points of intent accuracy over Rasa's cleaned tokens.
        text = message.text.lower() if self.settings.lowercase else message.text
        return text.split()

    def _terms(self, message: Message, oov_words: set[str], training: bool) -> list[str]:
        if self.settings.analyzer != "word":
            return self._analyze(self._raw_words(message))
        words = [t.text.lower() if self.settings.lowercase else t.text for t in message.tokens]
        oov = self.settings.OOV_token
        if oov is not None:
            if training:
                words = [oov if w in oov_words else w for w in words]
            else:
                words = [w if w in self.vocabulary else oov for w in words]
        return self._analyze(words)

    def _vectorize(self, terms: list[str]) -> SparseVector:
        vocabulary = self.vocabulary
        return self._from_indices([i for i in map(vocabulary.get, terms) if i is not None])

    def _vectorize_words(self, words: list[str]) -> SparseVector:
        """char_wb: n-grams never cross words, so each word's indices are cached."""
        cache = self._word_indices
        indices: list[int] = []
        for word in words:
            known = cache.get(word)
            if known is None:
                grams = self._analyze([word])
                known = tuple(i for i in map(self.vocabulary.get, grams) if i is not None)
                if len(cache) < WORD_CACHE_SIZE:
                    cache[word] = known
            indices.extend(known)
        return self._from_indices(indices)

    def _from_indices(self, indices: list[int]) -> SparseVector:
        # What ``np.unique(indices, return_counts=True)`` and a vectorised weighting
        # give, in plain Python: for the few dozen indices of a message, one numpy
        # call costs more than a list comprehension over all of them.
        counts = Counter(indices)
        unique = sorted(counts)
        return SparseVector(
            np.array(unique, dtype=np.int64),
            np.array(self._weigh(unique, counts), dtype=np.float64),
            self.dim,
        )

    def _weigh(self, unique: list[int], counts: Counter[int]) -> list[float]:
        settings = self.settings
        values: list[float]
        if settings.weighting == "binary":
            values = [1.0] * len(unique)
        elif settings.weighting == "count":
            values = [float(counts[i]) for i in unique]
        elif settings.sublinear_tf:
            idf = self._idf_values
            values = [(1.0 + math.log(counts[i])) * idf[i] for i in unique]
        else:
            idf = self._idf_values
            values = [counts[i] * idf[i] for i in unique]
        if settings.norm == "l2" and values:
            norm = math.sqrt(sum(v * v for v in values))
            values = [v / norm for v in values]
        return values

    def _warn_missing_oov_token(self) -> None:
        oov = self.settings.OOV_token
        if oov is not None and self.settings.analyzer == "word" and oov not in self.vocabulary:
            logger.warning(
                "nlu.count_vectors.oov_token_unseen token=%s: no training example contains it; "
                "add it to OOV_words or to examples",
                oov,
            )

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._analyze = _analyzer(self.settings)
        self._word_indices = {}
        self._idf_values = self.idf.tolist()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_analyze"]
        del state["_word_indices"]
        state.pop("_idf_values", None)
        return state


def _analyzer(settings: CountVectorsSettings) -> Callable[[list[str]], list[str]]:
    lo, hi = settings.min_ngram, settings.max_ngram
    if settings.analyzer == "word":
        return lambda words: _word_ngrams(words, lo, hi)
    if settings.analyzer == "char_wb":
        return lambda words: _char_wb_ngrams(words, lo, hi)
    return lambda words: _char_ngrams(" ".join(words), lo, hi)


def _word_ngrams(words: list[str], lo: int, hi: int) -> list[str]:
    if lo == hi == 1:
        return words
    grams: list[str] = []
    for n in range(lo, hi + 1):
        grams += [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    return grams


def _char_wb_ngrams(words: list[str], lo: int, hi: int) -> list[str]:
    # scikit-learn's char_wb: n-grams inside space-padded words; a word shorter
    # than n yields itself once.
    grams: list[str] = []
    for word in words:
        padded = f" {word} "
        size = len(padded)
        for n in range(lo, hi + 1):
            if size <= n:
                grams.append(padded)
                break
            grams += [padded[i : i + n] for i in range(size - n + 1)]
    return grams


def _char_ngrams(text: str, lo: int, hi: int) -> list[str]:
    grams: list[str] = []
    for n in range(lo, min(hi, len(text)) + 1):
        grams += [text[i : i + n] for i in range(len(text) - n + 1)]
    return grams


def _fit_vocabulary(
    documents: list[list[str]], settings: CountVectorsSettings
) -> tuple[dict[str, int], FloatArray]:
    """Vocabulary (term -> column, alphabetical) and smoothed idf per column."""
    df: Counter[str] = Counter()
    for terms in documents:
        df.update(set(terms))
    n_docs = max(len(documents), 1)
    low = _df_bound(settings.min_df, n_docs)
    high = _df_bound(settings.max_df, n_docs)
    kept = [t for t, d in df.items() if low <= d <= high]
    if settings.max_features is not None:
        total: Counter[str] = Counter()
        for terms in documents:
            total.update(terms)
        kept = sorted(kept, key=lambda t: (-total[t], t))[: settings.max_features]
    kept.sort()
    counts = np.array([df[t] for t in kept], dtype=np.float64)
    idf: FloatArray = np.log((1.0 + len(documents)) / (1.0 + counts)) + 1.0
    return {term: i for i, term in enumerate(kept)}, idf


def _df_bound(value: int | float, n_docs: int) -> float:
    return value * n_docs if isinstance(value, float) else float(value)
