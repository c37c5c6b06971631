"""compare_results: KQL result equality (bags unless sorted, types normalised), and
what counts as a sorted query. Pure functions, so plain values are the real inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harness.backends.base import QueryResult
from harness.run.compare import compare_results, query_sorts, render, sort_keys

T0 = datetime(2025, 6, 1, 12, tzinfo=UTC)


def result(rows: list[tuple], columns: tuple[str, ...] = ("Url", "Score", "TimeGenerated"), types=None) -> QueryResult:
    return QueryResult(list(columns), list(types or ("string", "long", "datetime")), rows)


def test_same_rows_in_another_order_agree_when_unsorted() -> None:
    a = result([("u1", 1, T0), ("u2", 2, T0)])
    b = result([("u2", 2, T0), ("u1", 1, T0)])
    assert compare_results(a, b, ordered=False) == []


def test_order_matters_when_the_query_sorts() -> None:
    a = result([("u1", 1, T0), ("u2", 2, T0)])
    b = result([("u2", 2, T0), ("u1", 1, T0)])
    found = compare_results(a, b, ordered=True, keys=["Score"])
    assert [d.kind for d in found] == ["order"]


def test_ties_on_the_sort_keys_may_come_in_any_order() -> None:
    a = result([("u1", 1, T0), ("u2", 1, T0)])
    b = result([("u2", 1, T0), ("u1", 1, T0)])
    assert compare_results(a, b, ordered=True, keys=["Score"]) == []
    assert [d.kind for d in compare_results(a, b, ordered=True)] == ["order"]  # keys unknown: whole rows


def test_rows_on_one_side_only() -> None:
    a = result([("u1", 1, T0), ("u1", 1, T0)])
    b = result([("u1", 1, T0), ("zz", 9, T0 + timedelta(days=9))])
    found = compare_results(a, b, ordered=False)
    assert sorted(d.kind for d in found) == ["only_left", "only_right"]  # duplicates count


def test_differing_values_are_paired_and_named() -> None:
    a = result([("u1", 1, T0), ("u2", 2, T0)])
    b = result([("u1", 1, T0), ("u2", 3, T0)])
    (d,) = compare_results(a, b, ordered=False)
    assert d.kind == "value" and d.columns == ["Score"]
    assert "Score: 2 vs 3" in d.detail
    assert "embedded row 2" in render([d], left="embedded", right="kusto")


def test_types_are_normalised() -> None:
    a = result([("", 1, T0)], types=("string", "int", "datetime"))
    b = result([("", 1.0, T0.replace(tzinfo=None))], types=("string", "long", "datetime"))
    assert compare_results(a, b, ordered=False) == []
    dyn_a = QueryResult(
        ["d", "r", "s"], ["dynamic", "real", "timespan"], [({"b": 1, "a": [1.0]}, 0.1 + 0.2, timedelta(1))]
    )
    dyn_b = QueryResult(["d", "r", "s"], ["dynamic", "real", "timespan"], [({"a": [1], "b": 1}, 0.3, timedelta(1))])
    assert compare_results(dyn_a, dyn_b, ordered=False) == []


def test_type_family_and_column_differences_are_reported() -> None:
    a = result([("u1", 1, T0)])
    b = QueryResult(["Url", "Score", "Extra"], ["string", "string", "string"], [("u1", "1", "x")])
    kinds = sorted(d.kind for d in compare_results(a, b, ordered=False))
    assert kinds[:2] == ["columns", "types"]


def test_no_disagreements_renders_plainly() -> None:
    assert render([]) == "no disagreements"


@pytest.mark.parametrize(
    ("kql", "sorts", "keys"),
    [
        ("T | sort by a desc, b asc", True, ["a", "b"]),
        ("T | order by a nulls last | project a, b | take 5", True, ["a"]),
        ("T | top 3 by tolower(a)", True, None),
        ("T | sort by a | summarize count() by b", False, None),
        ("T | join (U | sort by a) on a", False, None),
        ('T | where s has "| sort by x" // | sort by y', False, None),
        ("let x = T | sort by a;\nx | where b > 1", False, None),
        ("print 1", False, None),
    ],
)
def test_query_sorts(kql: str, sorts: bool, keys: list[str] | None) -> None:
    assert query_sorts(kql) is sorts
    assert sort_keys(kql) == keys
