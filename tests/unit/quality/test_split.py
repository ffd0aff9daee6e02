"""``palaver data split nlu``: stratified, reproducible, readable back."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from palaver.data.nlu_reader import read_nlu
from palaver.data.yaml_io import read_yaml_file
from palaver.errors import ProjectDataError
from palaver.nlu.training_data import (
    EntitySpan,
    LookupTable,
    NLUTrainingData,
    RegexFeature,
    TrainingExample,
)
from palaver.quality.split import TEST_FILE, TRAINING_FILE, split_nlu, training_count, write_split


def _data() -> NLUTrainingData:
    examples = [TrainingExample(f"hello {i}", "greet") for i in range(10)]
    examples += [TrainingExample(f"bye {i}", "goodbye") for i in range(5)]
    examples += [TrainingExample("only one", "rare")]
    examples += [TrainingExample(f"who are you {i}", "faq/ask_name") for i in range(4)]
    examples += [TrainingExample(f"how old are you {i}", "faq/ask_age") for i in range(4)]
    examples.append(
        TrainingExample("fly to Berlin", "inform", (EntitySpan(7, 13, "city", "Berlin"),))
    )
    examples.append(
        TrainingExample("fly to NYC", "inform", (EntitySpan(7, 10, "city", "New York"),))
    )
    return NLUTrainingData(
        examples=examples,
        synonyms={"nyc": "New York"},
        regexes=[RegexFeature("zip", r"\d{5}")],
        lookups=[LookupTable("city", ("Berlin", "Paris"))],
        responses={
            "utter_faq/ask_name": [{"text": "I am a bot."}],
            "utter_faq/ask_age": [{"text": "Young."}],
        },
    )


@pytest.mark.parametrize(
    ("n", "fraction", "expected"),
    [(10, 0.8, 8), (5, 0.8, 4), (1, 0.8, 1), (2, 0.8, 1), (2, 0.1, 1), (4, 0.5, 2), (3, 0.99, 2)],
)
def test_training_count(n: int, fraction: float, expected: int) -> None:
    assert training_count(n, fraction) == expected


def test_split_is_stratified() -> None:
    split = split_nlu(_data(), 0.8, seed=1)
    train = Counter(e.intent for e in split.train.examples)
    test = Counter(e.intent for e in split.test.examples)
    assert train == {
        "greet": 8,
        "goodbye": 4,
        "rare": 1,
        "faq/ask_name": 3,
        "faq/ask_age": 3,
        "inform": 1,
    }
    assert test == {"greet": 2, "goodbye": 1, "faq/ask_name": 1, "faq/ask_age": 1, "inform": 1}
    together = sorted(e.text for e in [*split.train.examples, *split.test.examples])
    assert together == sorted(e.text for e in _data().examples)


def test_same_seed_same_split_other_seed_other_split() -> None:
    first = split_nlu(_data(), 0.8, seed=7)
    again = split_nlu(_data(), 0.8, seed=7)
    other = split_nlu(_data(), 0.8, seed=8)
    assert first.train.examples == again.train.examples
    assert first.test.examples == again.test.examples
    assert first.seed == 7
    assert {e.text for e in first.test.examples} != {e.text for e in other.test.examples}


def test_without_seed_one_is_chosen_and_reported() -> None:
    split = split_nlu(_data())
    assert split_nlu(_data(), seed=split.seed).test.examples == split.test.examples


def test_retrieval_responses_follow_their_intents() -> None:
    split = split_nlu(_data(), 0.8, seed=3)
    assert set(split.train.responses) == {"utter_faq/ask_name", "utter_faq/ask_age"}
    assert set(split.test.responses) == {"utter_faq/ask_name", "utter_faq/ask_age"}
    only_name = NLUTrainingData(
        examples=[e for e in _data().examples if e.intent != "faq/ask_age"],
        responses=_data().responses,
    )
    assert set(split_nlu(only_name, 0.8, seed=3).test.responses) == {"utter_faq/ask_name"}


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 1.5])
def test_fraction_must_be_between_0_and_1(fraction: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_nlu(_data(), fraction)


def test_written_files_read_back_the_same(tmp_path: Path) -> None:
    split = split_nlu(_data(), 0.8, seed=5)
    train_file, test_file = write_split(split, tmp_path / "out")
    assert (train_file.name, test_file.name) == (TRAINING_FILE, TEST_FILE)
    for path, part in ((train_file, split.train), (test_file, split.test)):
        content = read_yaml_file(path)
        back = read_nlu(content["nlu"], content)
        assert sorted(back.examples, key=lambda e: e.text) == sorted(
            part.examples, key=lambda e: e.text
        )
        assert set(content.get("responses", {})) == set(part.responses)
    train_content = read_yaml_file(train_file)
    train_back = read_nlu(train_content["nlu"], train_content)
    assert train_back.synonyms["nyc"] == "New York"
    assert [r.name for r in train_back.regexes] == ["zip"]
    assert [t.name for t in train_back.lookups] == ["city"]
    assert "synonym" not in test_file.read_text(encoding="utf-8")


def test_split_of_files_keeps_their_retrieval_responses(tmp_path: Path) -> None:
    from palaver.quality.inputs import read_nlu_paths

    (tmp_path / "faq.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: faq/ask_name\n  examples: |\n    - who are you\n'
        "    - your name?\nresponses:\n  utter_faq/ask_name:\n  - text: I am a bot.\n"
        "  utter_greet:\n  - text: hi\n",
        encoding="utf-8",
    )
    data = read_nlu_paths([tmp_path])
    assert [e.intent for e in data.examples] == ["faq/ask_name", "faq/ask_name"]
    assert set(data.responses) == {"utter_faq/ask_name"}
    split = split_nlu(data, 0.5, seed=1)
    assert set(split.test.responses) == {"utter_faq/ask_name"}
    with pytest.raises(ProjectDataError, match="not found"):
        read_nlu_paths([tmp_path / "missing.yml"])
