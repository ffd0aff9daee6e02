"""Names shared by the NLU components: parse-JSON keys and fixed intent names."""

from __future__ import annotations

# Intent predicted by the FallbackClassifier (Rasa's DEFAULT_NLU_FALLBACK_INTENT_NAME).
NLU_FALLBACK_INTENT = "nlu_fallback"
# Rasa's default number of entries in ``intent_ranking`` and selector rankings.
RANKING_LENGTH = 10
# Key of a response selector trained on all retrieval intents.
DEFAULT_SELECTOR_KEY = "default"

# Extractor / processor names as they appear in the parse JSON.
CRF_EXTRACTOR = "CRFEntityExtractor"
REGEX_EXTRACTOR = "RegexEntityExtractor"
SYNONYM_MAPPER = "EntitySynonymMapper"

# Prefixes of per-token features that featurizers hand to the CRF.
PATTERN_FEATURE_PREFIX = "pattern:"
LEXICAL_FEATURE_PREFIX = "lsf:"
