"""`ingestion_time()` on the embedded engine (issues 16 and 17): the `ingestion time` desugaring reads each
row's ingestion time from the table's ingestion-time view, on the plain engine (load_parts + set_ingestion),
per scope, and in scheduled runs (one by one and batched in one statement)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.errors import DataError
from harness.kql.desugar import desugar
from harness.run.schedule import Schedule
from harness.run.windowed import WindowedEngine

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
NAMES = ["late.example", "ontime.example"]
PATTERN = "DnsEvents | where TimeGenerated > ago(2d) | where ingestion_time() > ago(90m) | project Name"


def naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def stamps(*times: datetime) -> pa.Array:
    return pa.array([naive(t) for t in times], pa.timestamp("us"))


@pytest.mark.parametrize(("query", "text"), [
    ("DnsEvents | extend i = ingestion_time()",
     "__harness_ingested__DnsEvents | extend i = __IngestionTime | project-away __IngestionTime"),
    (PATTERN, "__harness_ingested__DnsEvents | where TimeGenerated > ago(2d) | where __IngestionTime > ago(90m) "
              "| project-away __IngestionTime | project Name"),
    ("DnsEvents | join (DnsEvents | extend j = ingestion_time()) on Name",
     "DnsEvents | join (__harness_ingested__DnsEvents | extend j = __IngestionTime | project-away __IngestionTime) "
     "on Name"),
])
def test_ingestion_time_reads_the_tables_ingestion_time_view(query, text):
    sugar = desugar(query)
    assert sugar.text == text and sugar.names == ["ingestion time"]


@pytest.mark.parametrize(("query", "why"), [
    ("DnsEvents | extend ingestion_time()", "its result schema differs"),  # the column would be named otherwise
    ("DnsEvents | where * has 'x' | extend i = ingestion_time()", None),  # `*` would see the extra column
    ("DnsEvents | extend b = pack_all(), i = ingestion_time()", None),
    ("DnsEvents | summarize by Name | extend i = ingestion_time()", None),  # no longer the table's records
    ("print i = ingestion_time()", None),
])
def test_where_the_view_could_change_a_result_the_rule_is_left_as_written(query, why):
    sugar = desugar(query)
    assert sugar.text == query and not sugar.applied
    assert any(why in d for d in sugar.declined) if why else not sugar.declined


def test_a_table_loaded_whole_is_ingested_when_generated():
    backend = EmbeddedBackend()
    backend.load({"DnsEvents": pa.table({"TimeGenerated": stamps(NOW - 3 * H, NOW - H), "Name": ["a", "b"]})})
    rows = backend.query("DnsEvents | extend i = ingestion_time() | project Name, i, TimeGenerated", now=NOW).rows
    assert sorted(rows) == [("a", NOW - 3 * H, NOW - 3 * H), ("b", NOW - H, NOW - H)]
    backend.close()


@pytest.fixture
def late() -> EmbeddedBackend:
    """`late.example` generated 30 h ago and ingested 1 h ago (case c1); `ontime.example` 2 h ago (case c2)."""
    backend = EmbeddedBackend()
    generated = stamps(NOW - 30 * H, NOW - 2 * H)
    backend.load_parts({"DnsEvents": pa.table({"TimeGenerated": generated, "Name": NAMES})},
                       {"DnsEvents": ["c1", "c2"]})
    backend.set_ingestion("DnsEvents", generated, stamps(NOW - H, NOW - 2 * H))
    yield backend
    backend.close()


def test_the_plain_engine_reads_each_rows_ingestion_time(late):
    rows = late.query("DnsEvents | extend i = ingestion_time() | project Name, i", now=NOW).rows
    assert sorted(rows) == [("late.example", NOW - H), ("ontime.example", NOW - 2 * H)]
    assert late.query(PATTERN, now=NOW).rows == [("late.example",)]
    late.scope(["c2"])
    assert late.query(PATTERN, now=NOW).rows == []
    late.scope(None)
    scoped = late.query_scopes(PATTERN, [("c1",), ("c2",), None], now=NOW)
    assert [r.rows for r in scoped] == [[("late.example",)], [], [("late.example",)]]


def test_ingestion_times_for_rows_not_where_they_were_loaded_are_refused():
    backend = EmbeddedBackend()
    backend.load_parts({"DnsEvents": pa.table({"TimeGenerated": stamps(NOW - H), "Name": ["a"]})}, {"DnsEvents": ["c"]})
    with pytest.raises(DataError, match="not where they were loaded"):
        backend.set_ingestion("DnsEvents", stamps(NOW - 2 * H), stamps(NOW))
    backend.close()


def test_the_windowed_engine_refuses_ingestion_times_for_rows_not_where_they_were_loaded():
    backend = EmbeddedBackend()
    backend.load_parts({"DnsEvents": pa.table({"TimeGenerated": stamps(NOW - H), "Name": ["a"]})}, {"DnsEvents": ["c"]})
    windowed = WindowedEngine(backend)
    try:
        with pytest.raises(DataError, match="not where they were loaded"):
            windowed.set_ingestion("DnsEvents", stamps(NOW - 2 * H), stamps(NOW))
        windowed.set_ingestion("DnsEvents", stamps(NOW - H), stamps(NOW))  # where it was loaded: kept
    finally:
        windowed.close()
        backend.close()


def test_scheduled_runs_see_a_late_row_by_its_ingestion_time():
    """Hourly runs over two days with Microsoft's pattern: the row generated 30 h ago and ingested at 11:00 is in
    the runs (executing at 11:05 and 12:05) whose last 90 minutes of ingestion hold it; the row ingested at 10:00
    only in the 11:05 run; one by one and in one statement alike."""
    backend = EmbeddedBackend()
    engine = WindowedEngine(backend)
    try:
        generated = stamps(NOW - 30 * H, NOW - 2 * H)
        backend.load_parts({"DnsEvents": pa.table({"TimeGenerated": generated, "Name": NAMES})},
                           {"DnsEvents": ["c1", "c2"]})
        engine.set_ingestion("DnsEvents", generated, stamps(NOW - H, NOW - 2 * H))
        prepared = engine.prepare(PATTERN, now=NOW)
        schedule = Schedule.of("Scheduled", NOW, frequency=H, period=48 * H)
        runs = [schedule.run(k) for k in range(4)]  # as of 12:00, 11:00, 10:00, 09:00
        one_by_one = [sorted(engine.run(prepared, r).rows) for r in runs]
        assert one_by_one == [[("late.example",)], [("late.example",), ("ontime.example",)], [], []]
        assert [sorted(r.rows) for r in engine.run_many(prepared, runs)] == one_by_one
    finally:
        engine.close()
        backend.close()


def test_a_stage_trace_reads_late_rows_ingestion_times():
    """explain_case (a must-fire miss, `atomic-harness explain`) loads the case's rows alone: given their delays
    its `ingestion_time()` stage keeps the row ingested late, as the run's engine does; without, it would not."""
    from harness.run.explain import explain_case

    rows = {"DnsEvents": [{"TimeGenerated": naive(NOW - 30 * H), "Name": "late.example"},
                          {"TimeGenerated": naive(NOW - 2 * H), "Name": "ontime.example"}]}

    def per_stage(delays: dict | None) -> list[int | None]:
        why = explain_case(PATTERN, rows, now=NOW, delays=delays)
        return [s["rows"] for s in why["pipelines"][0]["stages"]]

    assert per_stage({"DnsEvents": [29 * H, None]}) == [2, 2, 1, 1]
    assert per_stage(None) == [2, 2, 0, None]  # nothing left: the last stage is not run
