"""``palaver test nlu``: evaluate a trained NLU model, or cross-validate a configuration.

Both return :func:`palaver.quality.evaluation.evaluate_nlu`'s result
(``intent_evaluation``, ``entity_evaluation``, ``response_selection_evaluation``);
:mod:`palaver.quality.reports` turns it into files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from palaver.errors import ModelError
from palaver.nlu.training_data import NLUTrainingData
from palaver.quality.evaluation import cross_validate_nlu, evaluate_nlu

if TYPE_CHECKING:
    from palaver.core.model import LoadedModel

Report = dict[str, Any]
Tick = Callable[[], None]
EXTRACTOR_SUFFIX = "EntityExtractor"


def entity_extractors(model: LoadedModel) -> list[str]:
    """Names of the model's entity extractors (each gets an entity report)."""
    components = getattr(model.nlu, "components", [])
    return sorted({c.name for c in components if str(c.name).endswith(EXTRACTOR_SUFFIX)})


def evaluate_model(
    model: LoadedModel, data: NLUTrainingData, *, tick: Tick | None = None
) -> Report:
    """Parse every example with the model and compare with its labels.

    Args:
        model: the trained model (must have an NLU pipeline).
        data: labelled test examples.
        tick: called once per parsed example (progress display).

    Raises:
        ModelError: the model has no NLU pipeline.
    """
    if model.nlu is None:
        raise ModelError("The model has no NLU pipeline (it was trained without NLU data).")

    def parse(text: str) -> Mapping[str, Any]:
        parsed = model.parse(text)
        if tick is not None:
            tick()
        return parsed

    extractors = entity_extractors(model) if _has_entities(data) else None
    return evaluate_nlu(parse, data, extractors=extractors)


def _has_entities(data: NLUTrainingData) -> bool:
    return any(example.entities for example in data.examples)


def cross_validate(
    data: NLUTrainingData,
    pipeline: Sequence[Mapping[str, Any]],
    language: str,
    folds: int,
    *,
    seed: int = 42,
    tick: Tick | None = None,
) -> Report:
    """Train on ``folds - 1`` stratified parts and test on the rest, ``folds`` times.

    ``tick`` is called after each fold.

    Raises:
        ValueError: fewer than 2 folds, or fewer examples than folds.
    """
    return cross_validate_nlu(data, pipeline, language, folds, seed=seed, on_fold=tick)
