"""The alert step's shortcuts (issue 19) give what the plain computations give: each test here compares a
shortcut with the definition it replaces, on the inputs where a shortcut could go wrong."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from harness.backends.base import QueryResult, normalise_rows, normalise_value
from harness.model import DetectionKind
from harness.run import alerting, memo
from harness.run.effect import RowKeys, row_key, value_index, writers_of
from harness.run.schedule import Event, Schedule
from synthetic.identifiers import cell_tokens, row_tokens

T = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
NAIVE = datetime(2025, 6, 1, 12, 0)
PLUS_ONE = timezone(timedelta(hours=1))
NEW_YORK = ZoneInfo("America/New_York")
AMBIGUOUS = datetime(2025, 11, 2, 1, 30, tzinfo=NEW_YORK)  # a local time that happens twice (fold 0 and 1)

#: Cells that are equal in Python but print differently as JSON, or print alike but differ in Python.
TRICKY = [
    1, 1.0, True, 0, 0.0, -0.0, False, None, "1", "true", "null", "", Decimal("1.0"), Decimal("1.00"),
    T, NAIVE, T.astimezone(PLUS_ONE), T.replace(tzinfo=timezone(timedelta(0), "Z")), str(T), NAIVE.replace(fold=1),
    AMBIGUOUS, AMBIGUOUS.replace(fold=1), timedelta(seconds=1), "0:00:01",
    {"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, {"a": 1.0, "b": [1, 2]}, [1, 2], (1, 2), float("nan"),
]


def _rows() -> list[dict]:
    """Rows of two columns over the tricky cells, and rows with the same items in another column order."""
    out = [{"a": x, "b": y} for x, y in itertools.product(TRICKY, repeat=2)]
    out += [{"b": y, "a": x} for x, y in itertools.product(TRICKY[:8], repeat=2)]
    out += [{1: "x"}, {True: "x"}, {"1": "x"}, {None: "x"}, {"null": "x"}]
    return out


def test_row_key_is_the_json_text_it_always_was():
    for row in _rows():
        assert row_key(row) == json.dumps(row, sort_keys=True, default=str)


def test_row_keys_equal_exactly_when_the_json_texts_do():
    keys = RowKeys()  # one cache for every row: a wrong hit would give a row another row's text
    rows = _rows()
    first = [keys(r) for r in rows]
    again = [keys(r) for r in reversed(rows)][::-1]  # now from the cache where a row was seen before
    assert first == again == [row_key(r) for r in rows]
    assert keys({"a": 1}) != keys({"a": 1.0}) != keys({"a": True})
    assert keys({"a": -0.0}) != keys({"a": 0.0})
    assert keys({"t": T}) == keys({"t": str(T)})  # as the JSON key: a time and its text print alike
    assert keys({"t": T}) != keys({"t": T.astimezone(PLUS_ONE)})  # one instant, another text
    assert keys({"t": AMBIGUOUS}) != keys({"t": AMBIGUOUS.replace(fold=1)})


def test_rows_alike_are_looked_up_alike_and_others_not():
    keys = RowKeys()
    ident, key = keys.find({"a": "x", "t": T})
    assert ident is not None and keys.find({"a": "x", "t": T}) == (ident, key)
    assert keys.find({"a": "x", "t": T.astimezone(PLUS_ONE)})[0] != ident
    assert keys.find({"a": {"k": 1}})[0] is None  # not plain: keyed afresh, never looked up
    assert keys.find({"a": 1.5})[0] is None


def _cell_tokens_as_it_was(value):
    if value is None:
        return []
    if isinstance(value, str):
        if value[:1] in "[{":
            try:
                return _cell_tokens_as_it_was(json.loads(value)) or [value]
            except ValueError:
                return [value]
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _cell_tokens_as_it_was(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _cell_tokens_as_it_was(v)]
    return []


class _Text(str):
    pass


def test_cell_tokens_are_the_uncached_ones_and_a_caller_cannot_change_them():
    cells = [*TRICKY, '["a", {"b": "c"}]', "[not json", "{}", "[]", '{"k": null}', _Text("x"), _Text('["y"]'),
             ["p", ["q", {"r": "s"}]], {"k": ('["t"]', 3)}]
    for cell in cells:
        assert cell_tokens(cell) == _cell_tokens_as_it_was(cell)
        assert cell_tokens(cell) == _cell_tokens_as_it_was(cell)  # the second time from the cache
    got = cell_tokens('["a", "b"]')
    got.append("changed")
    assert cell_tokens('["a", "b"]') == ["a", "b"]
    assert list(row_tokens(cells)) == [t for c in cells for t in _cell_tokens_as_it_was(c)]


def test_value_index_and_writers_read_cells_as_before():
    rows = {"c1": {"T": [{"x": '["id-1", "shared"]', "n": 1}, {"x": "id-1"}]},
            "c2": {"T": [{"x": "shared", "t": T}], "U": [{"y": {"z": "id-2"}}]}}
    index = value_index(rows)
    assert list(index) == ["id-1", "shared", "id-2"]
    assert index == {"id-1": {"c1"}, "shared": {"c1", "c2"}, "id-2": {"c2"}}
    assert writers_of({"a": "shared", "b": "id-2"}, index, {"c1", "c2"}) == {"c2"}


def _kept(rows):
    memo._RESULTS.clear()
    memo.keep("k", QueryResult(["a", "b"], ["string", "dynamic"], rows))
    return memo._RESULTS["k"][1]


def test_a_result_of_immutable_cells_is_copied_as_a_list_and_one_with_bags_deeply():
    try:
        assert _kept([("x", 1), ("y", T)]) is True
        assert _kept([("x", 1), ("y", {"k": [1]})]) is False  # one bag: every recall copies deeply
        assert _kept([("x", 1), ["y", 2]]) is False  # a row that is not a tuple
        assert _kept([]) is True
        rows = [("x", 1), ("y", {"k": [1]})]
        memo.keep("k", QueryResult(["a", "b"], ["string", "dynamic"], rows))
        rows[1][1]["k"].append(2)  # the caller's rows, changed after keeping
        first = memo.recall("k")
        first.rows[1][1]["k"].append(3)
        first.rows.append(("z", 0))
        first.types[0] = "long"
        second = memo.recall("k")
        assert second.rows == [("x", 1), ("y", {"k": [1]})] and second.types == ["string", "dynamic"]
        flat = [("x", 1), ("y", T)]
        memo.keep("f", QueryResult(["a", "b"], ["string", "datetime"], flat))
        flat.append(("later", 2))
        got = memo.recall("f")
        got.rows.append(("z", 0))
        got.columns.append("c")
        assert memo.recall("f").rows == [("x", 1), ("y", T)] and memo.recall("f").columns == ["a", "b"]
        assert memo.recall("f").rows[0] is got.rows[0]  # immutable rows are shared, not copied
        memo.keep("o", {"not": ["a result"]})
        other = memo.recall("o")
        other["not"].append("changed")
        assert memo.recall("o") == {"not": ["a result"]}
    finally:
        memo._RESULTS.clear()


def test_datetime_columns_are_normalised_as_cell_by_cell():
    column = [NAIVE, NAIVE, NAIVE.replace(fold=1), None, T, T.astimezone(PLUS_ONE), "2025-06-01T12:00:00Z",
              NAIVE + timedelta(microseconds=1), AMBIGUOUS, 17]
    got = [row[0] for row in normalise_rows([(v,) for v in column], ["datetime"])]
    want = [normalise_value(v, "datetime") for v in column]
    assert got == want
    for a, b in zip(got, want, strict=True):
        assert type(a) is type(b) and str(a) == str(b)
        if isinstance(a, datetime):
            assert (a.tzinfo, a.fold) == (b.tzinfo, b.fold)


def test_kept_types_are_normalised_as_cell_by_cell():
    raw = [(1, True, timedelta(seconds=3), 2.0, 1), (None, 1, 5.0, True, False), (3.5, 0, None, None, None)]
    types = ["long", "bool", "timespan", "int", "bool"]
    got = normalise_rows(raw, types)
    want = [tuple(normalise_value(v, t) for v, t in zip(row, types, strict=True)) for row in raw]
    assert got == want
    assert [[type(v) for v in row] for row in got] == [[type(v) for v in row] for row in want]


def test_the_cases_a_run_sees_are_read_as_event_by_event():
    clock = datetime(2025, 6, 1, tzinfo=UTC)
    schedule = Schedule.of(DetectionKind.SCHEDULED, clock, frequency=timedelta(hours=1), period=timedelta(hours=3))
    events = {"c1": [Event(clock - timedelta(hours=2)), Event(clock - timedelta(hours=2, minutes=5))],
              "c2": [Event(clock - timedelta(hours=7))], "c3": [], "c4": [Event(clock + timedelta(days=2))]}
    ticks = alerting._case_ticks(schedule, events)
    for index in range(-3, 12):
        run = schedule.run(index)
        want = {cid for cid, evs in events.items() if any(index in schedule.visible_ticks(e) for e in evs)}
        assert alerting._seen_by(ticks, run) == want


def test_value_index_from_kept_tokens_is_the_index_read_from_the_rows():
    rows = {"c1": {"T": [{"x": '["id-1", "shared"]'}, {"x": "id-1", "y": "z"}]}, "c2": {"T": [{"x": "shared"}]}}
    known: dict[str, list[str]] = {}
    first = value_index(rows, known)
    assert known == {"c1": ["id-1", "shared", "z"], "c2": ["shared"]}
    assert first == value_index(rows) and list(first) == list(value_index(rows))
    again = value_index({"c2": rows["c2"], "c1": rows["c1"]}, known)  # from what is kept, in the order asked
    assert again == value_index({"c2": rows["c2"], "c1": rows["c1"]})
    assert list(again) == list(value_index({"c2": rows["c2"], "c1": rows["c1"]}))


def test_a_sighting_asked_again_answers_alike_and_its_answer_cannot_be_changed():
    from harness.run.sightings import Sightings

    clock = datetime(2025, 6, 1, tzinfo=UTC)
    events = [Event(clock - timedelta(hours=h, minutes=7 * h)) for h in range(6)]
    schedule = Schedule.of(DetectionKind.SCHEDULED, clock, frequency=timedelta(hours=1), period=timedelta(hours=2))
    sight = Sightings(events)
    first = sight.runs(schedule)
    first.append((999, (0, 0, 0)))
    assert sight.runs(schedule) == Sightings(events).runs(schedule) == first[:-1]


def test_entity_values_checked_once_per_text_answer_as_checked_each_time():
    from harness.run.alerts import _identifier, _text
    from harness.run.entities import EntityType, check_identifier

    cells = ["10.0.0.1", "not an ip", "", "  ", None, 7, T, ["10.0.0.1"], [], {"a": 1}, True, _Text("10.0.0.2")]
    for kind, identifier in ((EntityType.IP, "Address"), (EntityType.HOST, "HostName")):
        for cell in cells * 2:  # the second time from what is kept
            text = _text(cell)
            assert _identifier(kind, identifier, cell) == (text, check_identifier(kind, identifier, cell)
                                                           if text is not None else None)
