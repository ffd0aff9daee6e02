from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path

import pytest

from palaver.errors import ModelError, TrainingError
from palaver.nlu import NLUPipeline
from palaver.nlu.training_data import NLUTrainingData

TEXTS = [
    "I want to fly from Amsterdam to Berlin",
    "hello",
    "what is your name?",
    "qwrtz",
    "",
    "thanks a lot, bye",
]


def test_parse_has_rasas_shape(default_pipeline: NLUPipeline) -> None:
    result = default_pipeline.parse("book a flight to Rome from Paris", message_id="m1")
    assert list(result) == [
        "text",
        "intent",
        "entities",
        "message_id",
        "text_tokens",
        "intent_ranking",
        "response_selector",
    ]
    assert result["text"] == "book a flight to Rome from Paris"
    assert result["message_id"] == "m1"
    assert result["intent"]["name"] == "book_flight"
    assert result["text_tokens"][:2] == [[0, 4], [5, 6]]
    assert len(result["intent_ranking"]) == len(default_pipeline.intents)
    json.dumps(result)  # plain JSON types only


def test_ranking_is_cut_to_ten() -> None:
    from palaver.nlu.training_data import TrainingExample

    examples = [
        TrainingExample(f"{word} {suffix}", f"intent_{word}")
        for word in "abcdefghijklmn"
        for suffix in ("one", "two")
    ]
    pipeline = NLUPipeline.train(NLUTrainingData(examples=examples))
    assert len(pipeline.parse("a one")["intent_ranking"]) == 10


def test_persist_and_load_give_identical_results(
    default_pipeline: NLUPipeline, tmp_path: Path
) -> None:
    default_pipeline.persist(tmp_path / "nlu")
    loaded = NLUPipeline.load(tmp_path / "nlu")
    assert loaded.config == default_pipeline.config
    assert loaded.intents == default_pipeline.intents
    assert loaded.entity_types == default_pipeline.entity_types
    assert loaded.parse_batch(TEXTS) == default_pipeline.parse_batch(TEXTS)
    manifest = json.loads((tmp_path / "nlu" / "nlu.json").read_text())
    assert manifest["format"] == "palaver-nlu"
    assert [c["name"] for c in manifest["components"]] == [c["name"] for c in loaded.config]


def test_load_from_an_empty_directory_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nlu\.json"):
        NLUPipeline.load(tmp_path)


def test_load_of_a_foreign_manifest_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "nlu.json").write_text('{"format": "something-else"}')
    with pytest.raises(ModelError, match="not a Palaver NLU model"):
        NLUPipeline.load(tmp_path)


def test_training_without_examples_fails() -> None:
    with pytest.raises(TrainingError, match="no NLU examples"):
        NLUPipeline.train(NLUTrainingData())


def test_training_and_parsing_work_in_threads(rich_data: NLUTrainingData) -> None:
    results: dict[int, NLUPipeline] = {}

    def train(index: int) -> None:
        results[index] = NLUPipeline.train(rich_data)

    threads = [threading.Thread(target=train, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[0].parse_batch(TEXTS) == results[1].parse_batch(TEXTS)

    parsed: list[list[dict[str, object]]] = []
    parsers = [
        threading.Thread(target=lambda: parsed.append(results[0].parse_batch(TEXTS * 20)))
        for _ in range(4)
    ]
    for thread in parsers:
        thread.start()
    for thread in parsers:
        thread.join()
    assert all(p == parsed[0] for p in parsed)


def test_a_trained_pipeline_pickles(default_pipeline: NLUPipeline) -> None:
    # a pipeline trained in a worker process comes back pickled
    copy = pickle.loads(pickle.dumps(default_pipeline))
    assert copy.parse_batch(TEXTS) == default_pipeline.parse_batch(TEXTS)


def test_parse_returns_fresh_objects(default_pipeline: NLUPipeline) -> None:
    first = default_pipeline.parse("what is your name?")
    first["response_selector"]["default"]["response"]["responses"][0]["text"] = "changed"
    first["intent_ranking"].clear()
    second = default_pipeline.parse("what is your name?")
    assert second["response_selector"]["default"]["response"]["responses"][0]["text"] != "changed"
    assert second["intent_ranking"]
