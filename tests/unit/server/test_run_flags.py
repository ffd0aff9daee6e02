"""``palaver run`` flags that become server settings."""

from __future__ import annotations

import pytest

from palaver.cli import build_parser
from palaver.commands import _settings_from_args


def test_tracker_cache_size_flag() -> None:
    parser = build_parser()
    assert _settings_from_args(parser.parse_args(["run"])).tracker_cache_size == 2000
    args = parser.parse_args(["run", "--tracker-cache-size", "0"])
    assert _settings_from_args(args).tracker_cache_size == 0


@pytest.mark.parametrize("value", ["-1", "many"])
def test_tracker_cache_size_must_be_a_non_negative_whole_number(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--tracker-cache-size", value])
    assert "--tracker-cache-size" in capsys.readouterr().err


def test_event_loop_flag() -> None:
    parser = build_parser()
    assert _settings_from_args(parser.parse_args(["run"])).event_loop == "asyncio"
    args = parser.parse_args(["run", "--event-loop", "uvloop"])
    assert _settings_from_args(args).event_loop == "uvloop"


def test_event_loop_must_be_a_known_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--event-loop", "trio"])
    err = capsys.readouterr().err
    assert "--event-loop" in err
    assert "asyncio" in err and "uvloop" in err
