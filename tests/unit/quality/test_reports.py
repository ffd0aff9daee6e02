"""Report files: hand-computed numbers, decodable PNGs, an HTML page with the tables."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from palaver.nlu.training_data import EntitySpan, NLUTrainingData, TrainingExample
from palaver.quality import plots
from palaver.quality.comparison import Comparison
from palaver.quality.evaluation import evaluate_nlu
from palaver.quality.html_report import render, write_html
from palaver.quality.reports import (
    NLUSection,
    QualityReport,
    summary_lines,
    write_comparison,
    write_core,
    write_nlu,
)

# text -> (expected intent, predicted intent, confidence)
INTENTS = {
    "hi": ("greet", "greet", 0.9),
    "hello": ("greet", "greet", 0.8),
    "hey ho": ("greet", "goodbye", 0.6),
    "bye": ("goodbye", "goodbye", 0.7),
    "see ya": ("goodbye", "greet", 0.55),
    "yes": ("affirm", "affirm", 0.95),
}
# Hand-computed: greet P=R=F1=2/3 (support 3); goodbye 1/2 (support 2); affirm 1 (support 1).
MACRO_F1 = (2 / 3 + 1 / 2 + 1) / 3
WEIGHTED_F1 = (3 * 2 / 3 + 2 * 1 / 2 + 1 * 1) / 6

# text, gold city span, predicted city span
ENTITIES = [
    ("fly to berlin", (7, 13), (7, 13)),
    ("fly to paris", (7, 12), None),
    ("from london", None, (5, 11)),
]
RESPONSES = {
    "who are you": ("faq/ask_name", "faq/ask_name"),
    "your name please": ("faq/ask_name", "faq/ask_age"),
    "how old are you": ("faq/ask_age", "faq/ask_age"),
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _entity(text: str, span: tuple[int, int]) -> dict[str, Any]:
    start, end = span
    return {
        "entity": "city",
        "start": start,
        "end": end,
        "value": text[start:end],
        "extractor": "CRFEntityExtractor",
    }


def _parse(text: str) -> Mapping[str, Any]:
    if text in INTENTS:
        _, predicted, confidence = INTENTS[text]
        return {"text": text, "intent": {"name": predicted, "confidence": confidence}}
    if text in RESPONSES:
        _, key = RESPONSES[text]
        return {
            "text": text,
            "intent": {"name": "faq", "confidence": 0.9},
            "response_selector": {
                "default": {"response": {"intent_response_key": key, "confidence": 0.7}}
            },
        }
    span = next(found for t, _, found in ENTITIES if t == text)
    entities = [_entity(text, span)] if span else []
    return {"text": text, "intent": {"name": "inform", "confidence": 1.0}, "entities": entities}


def _data() -> NLUTrainingData:
    examples = [TrainingExample(t, intent) for t, (intent, _, _) in INTENTS.items()]
    for text, gold, _ in ENTITIES:
        spans = (EntitySpan(gold[0], gold[1], "city", text[gold[0] : gold[1]]),) if gold else ()
        examples.append(TrainingExample(text, "inform", spans))
    examples += [TrainingExample(t, key) for t, (key, _) in RESPONSES.items()]
    return NLUTrainingData(examples=examples)


@pytest.fixture(scope="module")
def evaluation() -> dict[str, Any]:
    return evaluate_nlu(_parse, _data())


@pytest.fixture(scope="module")
def nlu_out(tmp_path_factory: pytest.TempPathFactory, evaluation: dict[str, Any]) -> Path:
    out = tmp_path_factory.mktemp("nlu")
    write_nlu(evaluation, out, plot=True)
    return out


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_intent_report_has_the_hand_computed_numbers(nlu_out: Path) -> None:
    report = _json(nlu_out / "intent_report.json")
    assert report["greet"]["precision"] == pytest.approx(2 / 3)
    assert report["greet"]["recall"] == pytest.approx(2 / 3)
    assert report["greet"]["f1-score"] == pytest.approx(2 / 3)
    assert report["greet"]["support"] == 3
    assert report["greet"]["confused_with"] == {"goodbye": 1}
    assert report["goodbye"]["f1-score"] == pytest.approx(0.5)
    assert report["affirm"]["f1-score"] == pytest.approx(1.0)
    # 'inform' (3) and 'faq' (3) are predicted right: 10 of 12 intents.
    assert report["accuracy"] == pytest.approx(10 / 12)
    assert report["weighted avg"]["support"] == 12


def test_hand_computed_averages_on_the_intents_alone() -> None:
    data = NLUTrainingData(
        examples=[TrainingExample(t, intent) for t, (intent, _, _) in INTENTS.items()]
    )
    intents = evaluate_nlu(_parse, data)["intent_evaluation"]
    assert intents["accuracy"] == pytest.approx(4 / 6)
    assert intents["report"]["macro avg"]["f1-score"] == pytest.approx(MACRO_F1)
    assert intents["f1_score"] == pytest.approx(WEIGHTED_F1)
    assert intents["precision"] == pytest.approx(WEIGHTED_F1)


def test_intent_errors_list_the_wrong_predictions(nlu_out: Path) -> None:
    errors = _json(nlu_out / "intent_errors.json")
    assert sorted(e["text"] for e in errors) == ["hey ho", "see ya"]
    wrong = next(e for e in errors if e["text"] == "see ya")
    assert wrong["intent"] == "goodbye"
    assert wrong["intent_prediction"] == {"name": "greet", "confidence": 0.55}


def test_entity_report_scores_tokens(nlu_out: Path) -> None:
    report = _json(nlu_out / "CRFEntityExtractor_report.json")
    # Tokens: berlin right, paris missed, london invented.
    assert report["city"]["precision"] == pytest.approx(0.5)
    assert report["city"]["recall"] == pytest.approx(0.5)
    assert report["city"]["support"] == 2
    assert "no_entity" not in report
    errors = _json(nlu_out / "CRFEntityExtractor_errors.json")
    assert sorted(e["text"] for e in errors) == ["fly to paris", "from london"]


def test_response_selection_report(nlu_out: Path) -> None:
    report = _json(nlu_out / "response_selection_report.json")
    assert report["faq/ask_name"]["recall"] == pytest.approx(0.5)
    assert report["faq/ask_age"]["precision"] == pytest.approx(0.5)
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert [e["text"] for e in _json(nlu_out / "response_selection_errors.json")] == [
        "your name please"
    ]


@pytest.mark.parametrize(
    "name",
    [
        "intent_confusion_matrix.png",
        "intent_histogram.png",
        "response_selection_confusion_matrix.png",
        "response_selection_histogram.png",
    ],
)
def test_pngs_decode(nlu_out: Path, name: str) -> None:
    path = nlu_out / name
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    with Image.open(path) as image:
        image.load()
        assert image.width > 300 and image.height > 200
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colors is not None and len(colors) > 10  # not a blank canvas


def test_confusion_matrix_of_many_labels(tmp_path: Path) -> None:
    labels = [f"intent_{i}" for i in range(40)]
    path = plots.confusion_matrix_png(labels, labels[1:] + labels[:1], tmp_path / "m.png", "t")
    with Image.open(path) as image:
        assert image.width > 1000  # grows with the labels; counts are not written


def test_no_plots_when_disabled(tmp_path: Path, evaluation: dict[str, Any]) -> None:
    written = write_nlu(evaluation, tmp_path, plot=False)
    assert written and all(p.suffix == ".json" for p in written)


def _core_report() -> dict[str, Any]:
    stories = [
        {
            "name": "happy",
            "file": "/nowhere/tests/t.yml",
            "line": 3,
            "passed": True,
            "steps": [
                {"kind": "user", "expected": "greet", "predicted": "greet", "correct": True},
                {
                    "kind": "action",
                    "expected": "utter_greet",
                    "predicted": "utter_greet",
                    "policy": "RulePolicy",
                    "confidence": 1.0,
                    "correct": True,
                },
            ],
        },
        {
            "name": "sad <b>",
            "file": "/nowhere/tests/t.yml",
            "line": 9,
            "passed": False,
            "steps": [
                {
                    "kind": "user",
                    "expected": "greet",
                    "predicted": "greet",
                    "text": "hi",
                    "correct": True,
                },
                {
                    "kind": "action",
                    "expected": "utter_greet",
                    "predicted": "utter_bye",
                    "policy": "TEDPolicy",
                    "confidence": 0.4,
                    "correct": False,
                },
            ],
        },
    ]
    actions = [
        {
            "action": "utter_greet",
            "predicted": "utter_greet",
            "policy": "RulePolicy",
            "confidence": 1.0,
        },
        {
            "action": "utter_greet",
            "predicted": "utter_bye",
            "policy": "TEDPolicy",
            "confidence": 0.4,
        },
    ]
    report = {
        "utter_greet": {"precision": 1.0, "recall": 0.5, "f1-score": 2 / 3, "support": 2},
        "conversation_accuracy": {"accuracy": 0.5, "correct": 1, "with_warnings": 0, "total": 2},
    }
    return {"stories": stories, "actions": actions, "report": report, "failed_stories": ["sad <b>"]}


def test_core_files(tmp_path: Path) -> None:
    written = write_core(_core_report(), tmp_path, Path("/nowhere"), plot=True)
    assert {p.name for p in written} == {
        "story_report.json",
        "failed_test_stories.yml",
        "story_confusion_matrix.png",
    }
    assert _json(tmp_path / "story_report.json")["conversation_accuracy"]["correct"] == 1
    failed = (tmp_path / "failed_test_stories.yml").read_text(encoding="utf-8")
    assert "# tests/t.yml:9" in failed
    assert "- action: utter_greet  # predicted: utter_bye (TEDPolicy 0.40)" in failed
    assert "happy" not in failed
    with Image.open(tmp_path / "story_confusion_matrix.png") as image:
        image.load()


@pytest.fixture(scope="module")
def quality_report(
    tmp_path_factory: pytest.TempPathFactory, evaluation: dict[str, Any]
) -> QualityReport:
    out = tmp_path_factory.mktemp("all")
    report = QualityReport(Path("/nowhere"), out, model="model.tar.gz")
    report.nlu = NLUSection(evaluation, "model", "test data", 12)
    report.core = _core_report()
    report.files += write_nlu(evaluation, out, plot=True)
    report.files += write_core(report.core, out, report.project, plot=True)
    report.files.append(write_html(report))
    return report


def test_html_page_is_self_contained_with_tables(quality_report: QualityReport) -> None:
    path = quality_report.file("report.html")
    assert path is not None
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert page.count("<table>") >= 6  # intents, errors, entities, entity errors, responses, ...
    assert "<th>precision</th>" in page and "<th>confused with</th>" in page
    assert "<td>greet</td>" in page and "<td>macro avg</td>" in page
    assert "see ya" in page  # an intent error
    assert "fly to [paris](city)" in page  # an entity error, annotated
    assert "<span class=fail>fail</span>" in page and "sad &lt;b&gt;" in page  # escaped
    assert "tests/t.yml:9" in page
    assert page.count("src='data:image/png;base64,") == 5
    assert "http://" not in page and "https://" not in page  # nothing to fetch


def test_summary_fits_one_screen(quality_report: QualityReport) -> None:
    lines = summary_lines(quality_report)
    assert len(lines) <= 24
    assert all(len(line) <= 100 for line in lines if not line.startswith("Reports:"))
    text = "\n".join(lines)
    assert "accuracy 0.833" in text
    assert "1 passed, 1 failed" in text
    assert "'sad <b>' (tests/t.yml:9): predicted utter_bye, expected utter_greet" in text
    assert "report.html" in text


def test_comparison_files_and_page(tmp_path: Path) -> None:
    comparison = Comparison([0, 50], examples=[40, 20], runs=2)
    comparison.f1 = {"a": [[0.9, 0.7], [0.8, 0.6]], "b": [[0.5, 0.4], [0.6, 0.5]]}
    written = write_comparison(comparison, tmp_path, plot=True)
    assert {p.name for p in written} == {
        "nlu_comparison_results.json",
        "nlu_model_comparison_graph.png",
    }
    assert _json(tmp_path / "nlu_comparison_results.json")["intent_f1"]["a"][1] == [0.8, 0.6]
    report = QualityReport(Path("."), tmp_path, comparison=comparison, files=written)
    page = render(report)
    assert "<td class='num warn'>0.850</td>" in page  # mean of a at 40 examples
    assert "F1 by training examples" in page
