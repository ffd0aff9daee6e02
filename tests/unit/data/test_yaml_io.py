from __future__ import annotations

from pathlib import Path

import pytest

from palaver.data.yaml_io import (
    YamlMap,
    YamlSeq,
    dump_yaml,
    error_at,
    line_of,
    read_yaml,
    read_yaml_file,
    to_plain,
    yaml_files_under,
)
from palaver.errors import ProjectDataError
from tests.unit.data.util import dedent


def test_scalars_follow_yaml_1_2_like_rasa() -> None:
    data = read_yaml(
        dedent(
            """
            a: yes
            b: off
            c: 010
            d: 10:30
            e: 0o17
            f: 2001-12-14
            g: true
            h: ~
            i: 1.5e3
            j: 0x1F
            k: .inf
            """
        )
    )
    assert data == {
        "a": "yes",
        "b": "off",
        "c": 10,
        "d": "10:30",
        "e": 15,
        "f": "2001-12-14",
        "g": True,
        "h": None,
        "i": 1500.0,
        "j": 31,
        "k": float("inf"),
    }


def test_containers_carry_file_and_lines() -> None:
    text = dedent(
        """
        top: 1
        block: |
          - first
          - second
        items:
          - one
          - two: 2
        """
    )
    data = read_yaml(text, "f.yml")
    assert isinstance(data, YamlMap)
    assert data.filename == "f.yml"
    assert data.key_lines == {"top": 1, "block": 2, "items": 5}
    assert data.value_lines["block"] == 3  # the content of a | block starts below
    items = data["items"]
    assert isinstance(items, YamlSeq)
    assert items.item_lines == [6, 7]
    assert line_of(items[1]) == 7
    error = error_at(items, "bad", index=1)
    assert (error.filename, error.line) == ("f.yml", 7)


def test_duplicate_key_is_an_error_with_its_line() -> None:
    with pytest.raises(ProjectDataError) as info:
        read_yaml("a: 1\nb: 2\na: 3\n", "dup.yml")
    assert (info.value.filename, info.value.line) == ("dup.yml", 3)
    assert "duplicate key 'a'" in str(info.value)


def test_merge_keys_may_be_overridden() -> None:
    data = read_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert data["other"] == {"x": 1, "y": 3}


def test_syntax_error_points_at_the_line() -> None:
    with pytest.raises(ProjectDataError) as info:
        read_yaml("ok: 1\nlist: [1, 2\nnext: 3\n", "bad.yml")
    assert info.value.filename == "bad.yml"
    assert info.value.line in (2, 3)
    assert "invalid YAML" in str(info.value)


def test_empty_document_is_none() -> None:
    assert read_yaml("") is None
    assert read_yaml("# only a comment\n") is None


def test_unicode_escapes_in_ascii_files_are_decoded_like_rasa() -> None:
    assert read_yaml("t: '\\U0001F600 hi'\n") == {"t": "\U0001f600 hi"}
    assert read_yaml("p: 'C:\\Users\\x'\n") == {"p": "C:\\Users\\x"}


def test_read_yaml_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ProjectDataError, match="cannot read file"):
        read_yaml_file(tmp_path / "missing.yml")
    bom = tmp_path / "bom.yml"
    bom.write_bytes("\ufeffa: 1\n".encode())
    assert read_yaml_file(bom) == {"a": 1}


def test_dump_reads_back_identically() -> None:
    values = ["1e5", "0o17", "yes", "no", "10:30", "2001-12-14", "null", "012", "x\ny", "", 1, 1.5]
    data = {"values": values, "nested": {"k": [True, None]}}
    assert read_yaml(dump_yaml(data)) == data


def test_to_plain_drops_location_types() -> None:
    data = read_yaml("a:\n  - b: 1\n")
    plain = to_plain(data)
    assert type(plain) is dict
    assert type(plain["a"]) is list
    assert type(plain["a"][0]) is dict


def test_yaml_files_under_is_recursive_sorted_and_skips_hidden(tmp_path: Path) -> None:
    for name in ("b.yml", "a/z.yaml", "a/y.yml", ".hidden/x.yml", "notes.txt", "c.YML"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a: 1\n")
    found = [p.relative_to(tmp_path).as_posix() for p in yaml_files_under(tmp_path)]
    assert found == ["a/y.yml", "a/z.yaml", "b.yml", "c.YML"]
