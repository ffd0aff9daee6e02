from __future__ import annotations

import logging

import pytest

from palaver.nlg.interpolation import interpolate, interpolate_text


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("Hello {name}!", {"name": "Ada"}, "Hello Ada!"),
        ("{a} and {b}", {"a": 1, "b": 2.5}, "1 and 2.5"),
        ("no placeholders", {}, "no placeholders"),
        ("{x}", {"x": None}, "None"),
        ("{x}", {"x": ["a", "b"]}, "['a', 'b']"),
        ("{name.with.dots}", {"name.with.dots": "ok"}, "ok"),
        ("escaped {{name}}", {"name": "Ada"}, "escaped {name}"),
        ("{{literal}} and {name}", {"name": "Ada"}, "{literal} and Ada"),
        ('json {{"k": 1}}', {}, 'json {"k": 1}'),
        ("a lone } brace", {}, "a lone } brace"),
    ],
)
def test_interpolate_text(template: str, values: dict[str, object], expected: str) -> None:
    assert interpolate_text(template, values) == expected


def test_unknown_placeholder_leaves_the_whole_template_untouched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert interpolate_text("Hi {name}, {missing}", {"name": "Ada"}) == "Hi {name}, {missing}"
    assert "missing" in caplog.text


def test_interpolate_recurses_into_dicts_and_lists_without_mutating() -> None:
    template = {
        "buttons": [{"title": "{city}", "payload": '/inform{{"city": "{city}"}}'}],
        "nested": {"deep": ["{city}", 3]},
    }
    result = interpolate(template, {"city": "Paris"})
    assert result == {
        "buttons": [{"title": "Paris", "payload": '/inform{"city": "Paris"}'}],
        "nested": {"deep": ["Paris", 3]},
    }
    assert template["nested"] == {"deep": ["{city}", 3]}
