"""Trained pipelines shared by the NLU tests."""

from __future__ import annotations

import pytest

from palaver.nlu import NLUPipeline
from palaver.nlu.training_data import NLUTrainingData
from tests.unit.nlu.datasets import FAQ_RESPONSES, faq_examples, flight_examples, simple_examples


@pytest.fixture(scope="session")
def rich_data() -> NLUTrainingData:
    return NLUTrainingData(
        examples=[*simple_examples(), *flight_examples(), *faq_examples()],
        responses=dict(FAQ_RESPONSES),
    )


@pytest.fixture(scope="session")
def default_pipeline(rich_data: NLUTrainingData) -> NLUPipeline:
    return NLUPipeline.train(rich_data)
