"""One timespan parser for every spelling the harness reads (rule files, KQL, templates, the Kusto wire)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from harness.timespan import format_timespan, parse_timespan


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5m", timedelta(minutes=5)),  # rule YAML
        ("PT5H", timedelta(hours=5)),  # ARM
        ("P1D", timedelta(days=1)),
        ("1.5h", timedelta(hours=1.5)),  # KQL literals
        ("30min", timedelta(minutes=30)),
        ("100ms", timedelta(milliseconds=100)),
        ("10ticks", timedelta(microseconds=1)),
        ("time(1.00:00:00)", timedelta(days=1)),
        ("time(2)", timedelta(days=2)),
        ("-2h", timedelta(hours=-2)),  # template offsets
        ("+ 5m", timedelta(minutes=5)),
        ("-0.23:59:55.0000000", timedelta(days=-1, seconds=5)),  # the Kusto wire
        ("00:00:01.5", timedelta(seconds=1.5)),
    ],
)
def test_every_spelling(text: str, expected: timedelta) -> None:
    assert parse_timespan(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "5 parsecs", "P", "1:2:3:4"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a timespan"):
        parse_timespan(text)


def test_format_uses_the_largest_whole_unit() -> None:
    assert [format_timespan(timedelta(seconds=s)) for s in (86400 * 14, 5400, 45)] == ["14d", "90m", "45s"]
