"""Result rows as every backend gives them (`normalise_rows`, a column at a time) and as harness.run.memo keeps
them (a copy that shares only what cannot change)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from harness.backends.base import QueryResult, normalise_rows, normalise_value
from harness.run import memo

TYPES = ["string", "long", "int", "real", "bool", "datetime", "timespan", "dynamic", "guid", "decimal"]
RAW = [
    ("a", 1, 2, 1.5, True, datetime(2025, 6, 1, 12), 10_000_000, '{"k": [1, 2]}', "0f8c", Decimal("1.5")),
    (None, None, None, None, None, None, None, None, None, None),
    ("", 3.0, 4.0, 2.0, 0, "2025-06-01T12:00:00Z", 5.0, "not json", "", Decimal("0")),
    ("b", 5, 6, 0.0, False, datetime(2025, 6, 1, 12, tzinfo=UTC), timedelta(seconds=3), [1, {"x": 2}], None, None),
]


def test_rows_are_normalised_as_cell_by_cell():
    expected = [tuple(normalise_value(v, t) for v, t in zip(row, TYPES, strict=True)) for row in RAW]
    assert normalise_rows(RAW, TYPES) == expected
    assert normalise_rows([(7, *row) for row in RAW], ["long", *TYPES], start=1) == expected
    assert normalise_rows([(1,), (2,)], ["long"], start=1) == [(), ()]
    assert normalise_rows([], TYPES) == []


def test_a_kept_result_is_not_changed_by_what_a_caller_does_with_its_copy():
    memo._RESULTS.clear()
    result = QueryResult(["s", "d", "t"], ["string", "dynamic", "datetime"],
                         [("x", {"k": [1, 2]}, datetime(2025, 6, 1, tzinfo=UTC)), ("y", [3], None)])
    memo.keep("k", result)
    result.rows[0][1]["k"].append(99)  # the caller's own object, changed after keeping
    result.rows.append(("z", None, None))
    first = memo.recall("k")
    assert first.rows == [("x", {"k": [1, 2]}, datetime(2025, 6, 1, tzinfo=UTC)), ("y", [3], None)]
    first.rows[1][1].append(4)
    first.columns.append("extra")
    second = memo.recall("k")
    assert second.rows[1] == ("y", [3], None) and second.columns == ["s", "d", "t"]
    assert second.rows[0][0] is first.rows[0][0]  # strings are shared, not copied
    memo._RESULTS.clear()
