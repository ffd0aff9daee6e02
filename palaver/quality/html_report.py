"""``report.html``: one self-contained page with every result of a ``palaver test`` run.

No external assets: styles are inline and charts are embedded as base64 PNGs,
so the file can be attached to a CI run and opened anywhere. Tables put the
problems first (lowest F1, failed stories, confident mistakes).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from palaver import __version__
from palaver.core.story_writer import format_message
from palaver.quality.failed_stories import stories_yaml
from palaver.quality.issues import relative
from palaver.quality.reports import (
    COMPARISON_GRAPH,
    STORY_CONFUSION_MATRIX,
    NLUSection,
    QualityReport,
    macro_f1,
    step_problem,
)

REPORT_FILE = "report.html"
MAX_ERROR_ROWS = 200
_AVERAGES = ("accuracy", "micro avg", "macro avg", "weighted avg")

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;
background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid
#d0d7de;padding-bottom:4px}h3{font-size:15px;margin:20px 0 6px}
.meta{color:#59636e;margin-bottom:16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border:1px solid #d0d7de;
border-radius:8px;padding:12px 16px;min-width:150px}.card b{display:block;font-size:22px}
.card span{color:#59636e;font-size:12px}
table{border-collapse:collapse;background:#fff;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.avg td{background:#f6f8fa;font-weight:600}
.good{color:#1a7f37}.bad{color:#cf222e}.warn{color:#9a6700}
.pass{background:#dafbe1;color:#1a7f37;border-radius:4px;padding:0 6px}
.fail{background:#ffebe9;color:#cf222e;border-radius:4px;padding:0 6px}
img{max-width:100%;background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:6px 8px 6px 0}
pre{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px;overflow:auto;
font-size:12px}
.note{color:#59636e}
"""


def render(report: QualityReport) -> str:
    """The whole page."""
    body = [_header(report), _cards(report)]
    if report.nlu is not None:
        body.append(_nlu_section(report.nlu, report))
    if report.comparison is not None:
        body.append(_comparison_section(report))
    if report.core is not None:
        body.append(_core_section(report.core, report))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>Palaver test report: {escape(report.project.resolve().name)}</title>"
        f"<style>{_STYLE}</style></head><body><main>{''.join(body)}</main></body></html>\n"
    )


def write_html(report: QualityReport) -> Path:
    """Write ``report.html`` into the report's output directory."""
    path = report.out_dir / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path


# --- building blocks ----------------------------------------------------------------------


def _header(report: QualityReport) -> str:
    parts = [f"project <b>{escape(str(report.project.resolve()))}</b>"]
    if report.model:
        parts.append(f"model <b>{escape(report.model)}</b>")
    parts.append(time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    parts.append(f"palaver {escape(__version__)}")
    if report.seconds:
        took = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in report.seconds.items())
        parts.append(escape(took))
    return f"<h1>Palaver test report</h1><div class=meta>{' · '.join(parts)}</div>"


def _card(value: str, label: str, css: str = "") -> str:
    return f"<div class=card><b class='{css}'>{escape(value)}</b><span>{escape(label)}</span></div>"


def _score_class(value: float | None) -> str:
    if value is None:
        return ""
    return "good" if value >= 0.9 else ("warn" if value >= 0.7 else "bad")


def _cards(report: QualityReport) -> str:
    cards = []
    if report.nlu is not None:
        intents = report.nlu.evaluation.get("intent_evaluation")
        if isinstance(intents, Mapping):
            accuracy = float(intents.get("accuracy", 0.0))
            cards.append(_card(f"{accuracy:.3f}", "intent accuracy", _score_class(accuracy)))
            macro = macro_f1(intents)
            if macro is not None:
                cards.append(_card(f"{macro:.3f}", "intent macro F1", _score_class(macro)))
    if report.core is not None:
        stories = report.core.get("stories", [])
        failed = sum(1 for s in stories if not s.get("passed", True))
        cards.append(
            _card(
                f"{len(stories) - failed}/{len(stories)}",
                "test stories passed",
                "good" if not failed else "bad",
            )
        )
        actions = _action_accuracy(report.core.get("actions", []))
        if actions is not None:
            cards.append(_card(f"{actions:.3f}", "action accuracy", _score_class(actions)))
    return f"<div class=cards>{''.join(cards)}</div>"


def _action_accuracy(actions: Sequence[Mapping[str, Any]]) -> float | None:
    if not actions:
        return None
    return sum(1 for a in actions if a.get("action") == a.get("predicted")) / len(actions)


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"<td class='num {_score_class(value)}'>{value:.3f}</td>"
    return f"<td class=num>{escape(str(value))}</td>"


def _table(headers: Sequence[str], rows: Iterable[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _image(path: Path | None, alt: str) -> str:
    if path is None or not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{data}'>"


def _images(report: QualityReport, names: Sequence[tuple[str, str]]) -> str:
    """The charts of this run (a file left in the directory by another run is not shown)."""
    found = "".join(_image(report.file(name), alt) for name, alt in names)
    return f"<div>{found}</div>" if found else ""


def _label_table(report: Mapping[str, Any]) -> str:
    """Per-label precision/recall/F1 (worst F1 first), then the averages."""
    labels = [
        (name, entry)
        for name, entry in report.items()
        if isinstance(entry, Mapping) and "support" in entry and name not in _AVERAGES
    ]
    labels.sort(key=lambda item: (float(item[1].get("f1-score", 0.0)), item[0]))
    rows = [_label_row(name, entry) for name, entry in labels]
    for name in _AVERAGES:
        entry = report.get(name)
        if isinstance(entry, Mapping):
            rows.append(_label_row(name, entry, css="avg"))
        elif isinstance(entry, int | float):
            rows.append(
                f"<tr class=avg><td>{name}</td>{_num(float(entry))}<td></td><td></td>"
                "<td></td><td></td></tr>"
            )
    headers = ["label", "precision", "recall", "F1", "support", "confused with"]
    return _table(headers, rows)


def _label_row(name: str, entry: Mapping[str, Any], css: str = "") -> str:
    confused = entry.get("confused_with") or {}
    shown = ", ".join(f"{escape(str(k))} ({v})" for k, v in confused.items())
    cells = "".join(_num(float(entry.get(key, 0.0))) for key in ("precision", "recall", "f1-score"))
    return (
        f"<tr class='{css}'><td>{escape(name)}</td>{cells}{_num(entry.get('support', ''))}"
        f"<td>{shown}</td></tr>"
    )


# --- NLU --------------------------------------------------------------------------------------


def _nlu_section(section: NLUSection, report: QualityReport) -> str:
    evaluation = section.evaluation
    how = f"{section.folds}-fold cross-validation" if section.folds else section.source
    parts = [
        "<h2>NLU</h2>",
        f"<p class=note>{section.examples} examples · {escape(how)}</p>",
    ]
    intents = evaluation.get("intent_evaluation")
    if isinstance(intents, Mapping):
        parts += [
            "<h3>Intents</h3>",
            _label_table(intents.get("report") or {}),
            _images(
                report,
                [
                    ("intent_confusion_matrix.png", "intent confusion matrix"),
                    ("intent_histogram.png", "intent confidence histogram"),
                ],
            ),
            _intent_errors(intents.get("errors", [])),
        ]
    parts.append(_entity_part(evaluation.get("entity_evaluation") or {}))
    responses = evaluation.get("response_selection_evaluation")
    if isinstance(responses, Mapping):
        parts += [
            "<h3>Response selection</h3>",
            _label_table(responses.get("report") or {}),
            _images(
                report,
                [
                    ("response_selection_confusion_matrix.png", "response confusion matrix"),
                    ("response_selection_histogram.png", "response confidence histogram"),
                ],
            ),
            _response_errors(responses.get("errors", [])),
        ]
    return "".join(parts)


def _confidence(prediction: Mapping[str, Any]) -> float:
    value = prediction.get("confidence")
    return float(value) if isinstance(value, int | float) else 0.0


def _intent_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    if not errors:
        return "<p class=good>No intent errors.</p>"
    ordered = sorted(errors, key=lambda e: -_confidence(e.get("intent_prediction") or {}))
    rows = [
        f"<tr><td>{escape(str(e.get('text')))}</td><td>{escape(str(e.get('intent')))}</td>"
        f"<td class=bad>{escape(str((e.get('intent_prediction') or {}).get('name')))}</td>"
        f"{_num(_confidence(e.get('intent_prediction') or {}))}</tr>"
        for e in ordered[:MAX_ERROR_ROWS]
    ]
    title = f"<h3>Intent errors ({len(errors)}, most confident first)</h3>"
    return title + _table(["text", "expected", "predicted", "confidence"], rows)


def _response_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    if not errors:
        return "<p class=good>No response selection errors.</p>"
    rows = []
    for error in errors[:MAX_ERROR_ROWS]:
        prediction = error.get("intent_response_key_prediction") or {}
        rows.append(
            f"<tr><td>{escape(str(error.get('text')))}</td>"
            f"<td>{escape(str(error.get('intent_response_key_target')))}</td>"
            f"<td class=bad>{escape(str(prediction.get('name')))}</td>"
            f"{_num(_confidence(prediction))}</tr>"
        )
    title = f"<h3>Response selection errors ({len(errors)})</h3>"
    return title + _table(["text", "expected", "predicted", "confidence"], rows)


def _entity_part(entities: Mapping[str, Any]) -> str:
    parts = []
    for extractor, result in entities.items():
        if not result.get("report"):
            continue
        parts += [f"<h3>Entities: {escape(extractor)}</h3>", _label_table(result["report"])]
        errors = result.get("errors") or []
        if errors:
            rows = [_entity_error_row(e) for e in errors[:MAX_ERROR_ROWS]]
            parts += [
                f"<p>{len(errors)} example(s) with wrong entities:</p>",
                _table(["expected", "predicted"], rows),
            ]
    return "".join(parts)


def _entity_error_row(error: Mapping[str, Any]) -> str:
    expected = format_message(error["text"], error.get("entities", []))
    predicted = format_message(error["text"], error.get("predicted_entities", []))
    return f"<tr><td>{escape(expected)}</td><td class=bad>{escape(predicted)}</td></tr>"


# --- comparison -------------------------------------------------------------------------------


def _comparison_section(report: QualityReport) -> str:
    comparison = report.comparison
    assert comparison is not None
    headers = ["config", *(f"{n} examples" for n in comparison.examples)]
    rows = []
    for name, runs in comparison.f1.items():
        means = [sum(column) / len(column) for column in zip(*runs, strict=True)]
        rows.append(f"<tr><td>{escape(name)}</td>{''.join(_num(m) for m in means)}</tr>")
    return (
        "<h2>NLU configuration comparison</h2>"
        f"<p class=note>Mean weighted intent F1 over {comparison.runs} run(s).</p>"
        + _table(headers, rows)
        + _images(report, [(COMPARISON_GRAPH, "F1 by training examples")])
    )


# --- core -------------------------------------------------------------------------------------


def _core_section(core: Mapping[str, Any], report: QualityReport) -> str:
    stories: Sequence[Mapping[str, Any]] = core.get("stories", [])
    ordered = sorted(stories, key=lambda s: (bool(s.get("passed", True)), str(s.get("name"))))
    rows = [_story_row(story, report.project) for story in ordered]
    failed = [s for s in stories if not s.get("passed", True)]
    parts = [
        "<h2>Stories</h2>",
        _table(["result", "story", "where", "first problem"], rows),
    ]
    if failed:
        parts += [
            "<h3>Failed stories (as in failed_test_stories.yml)</h3>",
            f"<pre>{escape(stories_yaml(failed, report.project))}</pre>",
        ]
    parts += [
        "<h3>Actions</h3>",
        _label_table(core.get("report") or {}),
        _images(report, [(STORY_CONFUSION_MATRIX, "action confusion matrix")]),
    ]
    return "".join(parts)


def _story_row(story: Mapping[str, Any], root: Path) -> str:
    passed = story.get("passed", True)
    badge = "<span class=pass>pass</span>" if passed else "<span class=fail>fail</span>"
    where = ""
    if story.get("file"):
        where = f"{relative(str(story['file']), root)}:{story.get('line')}"
    step = next((s for s in story.get("steps", []) if not s.get("correct", True)), None)
    problem = step_problem(step) if step else ""
    return (
        f"<tr><td>{badge}</td><td>{escape(str(story.get('name')))}</td>"
        f"<td>{escape(where)}</td><td>{escape(problem)}</td></tr>"
    )
