"""Verdict logic: attribution of rows to cases, the rule's own trigger, values, strict known gaps."""

from __future__ import annotations

import pytest

from harness.model import Detection, Expectation
from harness.run.verdict import attribute_rows, judge, trigger_holds


def det(op: str = "gt", threshold: int = 0, kind: str = "Scheduled") -> Detection:
    return Detection(key="d", id="1", name="d", path="d.yaml", kind=kind, query="T", trigger_operator=op,
                     trigger_threshold=threshold)


@pytest.mark.parametrize(
    ("op", "threshold", "count", "fires"),
    [("gt", 0, 0, False), ("gt", 0, 1, True), ("gt", 2, 2, False), ("gt", 2, 3, True), ("lt", 1, 0, True),
     ("lt", 1, 1, False), ("eq", 2, 2, True), ("ne", 2, 2, False)],
)
def test_trigger(op: str, threshold: int, count: int, fires: bool) -> None:
    assert trigger_holds(det(op, threshold), count) is fires


def test_hunting_queries_fire_on_any_row() -> None:
    assert trigger_holds(det(kind="hunting"), 1) and not trigger_holds(det(kind="hunting"), 0)


def test_rows_are_attributed_by_identifier_including_inside_lists() -> None:
    rows = [{"Url": "https://bit.ly/a"}, {"Urls": '["https://x/1", "https://bit.ly/b"]'}, {"Url": "https://bg/1"}]
    per_case, background = attribute_rows(rows, {"https://bit.ly/a": "c1", "https://bit.ly/b": "c2"})
    assert per_case == {"c1": [0], "c2": [1]}
    assert background == [2]


def test_must_fire_passes_with_matching_values() -> None:
    exp = Expectation("c", "d", fires=True, rows=1, values=[{"LinkCategory": "URLShortener", "SuspicionScore": 1}])
    v = judge(det(), exp, [{"LinkCategory": "URLShortener", "SuspicionScore": 1}], ["LinkCategory", "SuspicionScore"])
    assert v.status == "passed"


def test_wrong_value_fails() -> None:
    exp = Expectation("c", "d", fires=True, values=[{"SuspicionScore": 2}])
    v = judge(det(), exp, [{"SuspicionScore": 1}], ["SuspicionScore"])
    assert v.status == "failed" and "values differ" in v.message


def test_row_count_is_checked() -> None:
    v = judge(det(), Expectation("c", "d", fires=True, rows=2), [{"a": 1}], ["a"])
    assert v.status == "failed" and "expected 2 row(s), got 1" in v.message


def test_missing_output_column_fails() -> None:
    v = judge(det(), Expectation("c", "d", fires=True, values=[{"Nope": 1}]), [{"a": 1}], ["a"])
    assert v.status == "failed" and "no column" in v.message


def test_must_not_fire_fails_when_it_fires() -> None:
    v = judge(det(), Expectation("c", "d", fires=False), [{"a": 1}], ["a"])
    assert v.status == "failed"


def test_threshold_below_trigger_is_not_firing() -> None:
    v = judge(det("gt", 3), Expectation("c", "d", fires=True), [{"a": 1}] * 3, ["a"])
    assert v.status == "failed" and "rows > 3" in v.message


def test_known_gap_stays_green_while_failing_and_turns_red_once_it_passes() -> None:
    exp = Expectation("c", "d", fires=True, known_gap="DeliveredToJunk never matches", path="e.yaml")
    assert judge(det(), exp, [], ["a"]).status == "known_gap"
    fixed = judge(det(), exp, [{"a": 1}], ["a"])
    assert fixed.status == "failed" and "remove the known_gap mark" in fixed.message
