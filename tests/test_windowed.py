"""Scheduled runs on the real embedded engine (duckdb-kql over DuckDB): each run sees its window
only, `now()` is the run's, late rows wait for their ingestion time, and the hidden ingestion
column is invisible to queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.errors import HarnessError
from harness.model import Detection
from harness.run.alerts import ALERT_CAP, AlertRule, simulate
from harness.run.schedule import Event, Schedule, plan_runs
from harness.run.windowed import INGESTION_COLUMN, WindowedEngine, ingestion_times

CLOCK = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)

LOOKUPS = "DnsEvents | summarize Lookups = count() by Name, ClientIP | where Lookups > 3"


def naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def dns(rows: list[tuple[datetime, str, str]], delays: list[timedelta | None] | None = None) -> pa.Table:
    table = pa.table({
        "TimeGenerated": pa.array([naive(t) for t, _, _ in rows], pa.timestamp("us")),
        "Name": [n for _, n, _ in rows],
        "ClientIP": [c for _, _, c in rows],
    })
    return ingestion_times(table, delays or [None] * len(rows))


@pytest.fixture
def engine():
    backend = EmbeddedBackend()
    eng = WindowedEngine(backend)
    yield eng
    eng.close()
    backend.close()


def detection(query: str, frequency: timedelta, period: timedelta, **raw) -> Detection:
    return Detection(key="rule", id="1", name="rule", path="rule.yaml", kind="Scheduled", query=query,
                     query_frequency=frequency, query_period=period, trigger_operator="gt", trigger_threshold=0,
                     entity_mappings=raw.pop("entityMappings", []), raw=raw)


def alerts_for(engine: WindowedEngine, det: Detection, events: list[Event]):
    schedule = Schedule.of(det.kind, CLOCK, frequency=det.query_frequency, period=det.query_period)
    prepared = engine.prepare(det.query, now=CLOCK)
    plan = plan_runs(schedule, events)
    outcomes = simulate(AlertRule.from_detection(det), plan.runs, lambda run: engine.run(prepared, run))
    return [a for o in outcomes for a in o.alerts]


def test_four_lookups_70_minutes_apart_never_alert_four_within_a_minute_do(engine):
    spread = [(CLOCK - timedelta(minutes=300 - 70 * i), "spread.example", "10.0.0.1") for i in range(4)]
    burst = [(CLOCK - timedelta(minutes=30) + timedelta(seconds=15 * i), "burst.example", "10.0.0.2")
             for i in range(4)]
    engine.load({"DnsEvents": dns(spread + burst)})
    det = detection(LOOKUPS, H, H, entityMappings=[
        {"entityType": "IP", "fieldMappings": [{"identifier": "Address", "columnName": "ClientIP"}]},
        {"entityType": "DNS", "fieldMappings": [{"identifier": "DomainName", "columnName": "Name"}]}])
    # run once over all the data, as the harness did, both "fire"
    assert sorted(r[0] for r in engine.backend.query(LOOKUPS, now=CLOCK).rows) == ["burst.example", "spread.example"]
    # on Sentinel's schedule only the burst does
    assert alerts_for(engine, det, [Event(t) for t, _, _ in spread]) == []
    [alert] = alerts_for(engine, det, [Event(t) for t, _, _ in burst])
    assert alert.rows == [{"Name": "burst.example", "ClientIP": "10.0.0.2", "Lookups": 4}]
    assert [e.as_dict() for e in alert.entities] == [{"type": "IP", "Address": "10.0.0.2"},
                                                    {"type": "DNS", "DomainName": "burst.example"}]
    assert alert.problems == [] and alert.run.scheduled == CLOCK


def test_a_late_event_is_missed_by_a_short_window_and_caught_by_a_long_one(engine):
    happened = CLOCK - timedelta(minutes=62)
    engine.load({"DnsEvents": dns([(happened, "late.example", "10.0.0.3"), (happened, "ontime.example", "10.0.0.3")],
                                  [timedelta(minutes=8), None])})
    query = 'DnsEvents | where Name == "late.example"'
    events = [Event(happened, happened + timedelta(minutes=8))]
    assert alerts_for(engine, detection(query, 5 * M, 5 * M), events) == []
    caught = alerts_for(engine, detection(query, 5 * M, 15 * M), events)
    assert caught and caught[0].rows[0]["Name"] == "late.example"
    # the run whose 5-minute window holds the event really ran: it saw the row ingested on time, not the late one
    short = Schedule.of("Scheduled", CLOCK, frequency=5 * M, period=5 * M)
    holding = next(short.run(k) for k in range(40) if happened in short.run(k).generated)
    names = engine.prepare("DnsEvents | project Name", now=CLOCK)
    assert engine.run(names, holding).rows == [("ontime.example",)]


def test_each_run_reads_its_own_clock(engine):
    engine.load({"DnsEvents": dns([(CLOCK - timedelta(minutes=100), "a.example", "10.0.0.4")])})
    schedule = Schedule.of("Scheduled", CLOCK, frequency=H, period=3 * H)
    clock = engine.prepare("print Now = now()", now=CLOCK)
    assert clock.rebinds_clock
    for k in (0, 1, 2):
        assert engine.run(clock, schedule.run(k)).rows == [(CLOCK - k * H,)]
    recent = engine.prepare("DnsEvents | where TimeGenerated > ago(90m)", now=CLOCK)  # the row is at 10:20
    assert engine.run(recent, schedule.run(0)).rows == []  # the window holds it, ago(90m) from 12:00 does not
    assert len(engine.run(recent, schedule.run(1)).rows) == 1  # ago(90m) from 11:00 does


def test_the_hidden_ingestion_column_is_invisible(engine):
    engine.load({"DnsEvents": dns([(CLOCK - M, "a.example", "10.0.0.5")], [timedelta(minutes=3)])})
    backend = engine.backend
    run = Schedule.of("Scheduled", CLOCK, frequency=5 * M, period=5 * M).run(0)
    for query in ("DnsEvents", "DnsEvents | project-away Name", "union DnsEvents, DnsEvents",
                  "DnsEvents | getschema"):
        plain = backend.query(query, now=CLOCK)
        windowed = engine.run(engine.prepare(query, now=CLOCK), run)
        assert windowed.columns == plain.columns, query
        assert windowed.rows == plain.rows, query
        assert INGESTION_COLUMN not in plain.columns and "__IngestionTime" not in str(plain.rows)
    assert INGESTION_COLUMN not in [c[0] for c in backend.execute_sql("DESCRIBE \"DnsEvents\"")]


def test_rows_on_empty_input_is_checked_once_per_rule(engine):
    engine.load({"DnsEvents": dns([(CLOCK - M, "a.example", "10.0.0.6")])})
    assert engine.prepare("DnsEvents | count", now=CLOCK).rows_on_empty
    assert engine.prepare("print x = 1", now=CLOCK).rows_on_empty
    assert engine.prepare('DnsEvents | summarize count() by Name', now=CLOCK).empty_safe
    assert engine.prepare('DnsEvents | where Name == "a.example"', now=CLOCK).empty_safe


def test_the_watchlist_table_is_not_windowed(engine):
    old = naive(CLOCK - timedelta(days=30))
    engine.load({
        "Watchlist": pa.table({"TimeGenerated": pa.array([old], pa.timestamp("us")), "WatchlistAlias": ["vip"],
                               "SearchKey": ["10.0.0.7"]}),
        "DnsEvents": dns([(CLOCK - timedelta(days=30), "old.example", "10.0.0.7")]),
    })
    assert "Watchlist" in engine.unwindowed and "AADSignInEventsBeta" in engine.unwindowed
    run = Schedule.of("Scheduled", CLOCK, frequency=H, period=H).run(0)
    keys = engine.prepare("Watchlist | project SearchKey", now=CLOCK)
    assert engine.run(keys, run).rows == [("10.0.0.7",)]
    assert engine.run(engine.prepare("DnsEvents", now=CLOCK), run).rows == []  # a month old: outside
    assert keys.rows_on_empty  # the watchlist alone gives rows, so empty windows cannot be skipped


def test_appended_rows_keep_their_ingestion_times(engine):
    engine.load({"DnsEvents": dns([(CLOCK - 10 * M, "first.example", "10.0.0.8")])})
    engine.append({"DnsEvents": dns([(CLOCK - 10 * M, "second.example", "10.0.0.8"),
                                     (CLOCK - 9 * M, "third.example", "10.0.0.8")],
                                    [timedelta(minutes=20), None])})
    run = Schedule.of("Scheduled", CLOCK, frequency=5 * M, period=15 * M).run(0)  # executes 12:05
    names = engine.prepare("DnsEvents | project Name", now=CLOCK)
    assert sorted(r[0] for r in engine.run(names, run).rows) == ["first.example", "third.example"]


def test_nrt_runs_read_ingestion_time_not_time_generated(engine):
    generated = CLOCK - 3 * H
    engine.load({"DnsEvents": dns([(generated, "nrt.example", "10.0.0.9")], [3 * H - timedelta(seconds=30)])})
    schedule = Schedule.of("NRT", CLOCK)
    names = engine.prepare("DnsEvents | project Name", now=CLOCK)
    event = Event(generated, CLOCK - timedelta(seconds=30))
    [k] = list(schedule.visible_ticks(event))
    assert engine.run(names, schedule.run(k)).rows == [("nrt.example",)]
    assert engine.run(names, schedule.run(k + 1)).rows == []


def test_a_query_engine_error_is_a_harness_error(engine):
    engine.load({"DnsEvents": dns([(CLOCK - M, "a.example", "10.0.0.1")])})
    with pytest.raises(HarnessError):
        engine.prepare("DnsEvents | where NoSuchColumn == 1", now=CLOCK)


def test_a_pack_rule_on_its_schedule_over_the_suites_own_data():
    """link_target_dns (hourly over a day, an alert per result) on the cases' generated rows: it raises
    alerts, and each carries its DNS and IP entities and its custom detail, with no contract problem."""
    from pathlib import Path

    from harness.config import load_config
    from harness.suite import load_suite

    suite = load_suite(load_config(Path(__file__).resolve().parent.parent, {"background": 0}))
    tables = suite.dataset().tables
    det = suite.detection("link_target_dns").detection
    backend = EmbeddedBackend(registry=suite.context.registry, functions=suite.context.stored_functions())
    engine = WindowedEngine(backend)
    try:
        engine.load(dict(tables))
        times = [t for name in ("DnsEvents", "ASimDnsActivityLogs") if name in tables
                 for t in tables[name].column("TimeGenerated").to_pylist()]
        schedule = Schedule.of(det.kind, suite.now, frequency=det.query_frequency, period=det.query_period)
        prepared = engine.prepare(det.query, now=suite.now)
        plan = plan_runs(schedule, [Event(t.replace(tzinfo=UTC)) for t in times])
        outcomes = simulate(AlertRule.from_detection(det), plan.runs, lambda run: engine.run(prepared, run))
    finally:
        engine.close()
        backend.close()
    alerts = [a for o in outcomes for a in o.alerts]
    # One alert per result, up to Sentinel's cap: a run with more results (T1608.005-8's dnstwist sweep) puts the
    # rest in its last alert.
    single = [a for o in outcomes for a in (o.alerts[:-1] if len(o.alerts) == ALERT_CAP[det.kind] else o.alerts)]
    assert alerts and single and all(len(a.rows) == 1 for a in single)
    assert any(len(o.alerts) == ALERT_CAP[det.kind] and len(o.alerts[-1].rows) > 1 for o in outcomes)
    for alert in alerts:
        assert alert.problems == [], alert.problems
        assert sorted(set(e.type for e in alert.entities)) == ["DNS", "IP"]
    for alert in single:
        assert sorted(e.type for e in alert.entities) == ["DNS", "IP"]
        assert alert.custom_details["DnsCategory"] == [alert.rows[0]["Category"]]


def test_runs_happen_on_the_sealed_engine(engine):
    """A windowed run is held to the backend's seal: no file access, no setting, no more loading."""
    engine.load({"DnsEvents": dns([(CLOCK - M, "a.example", "10.0.0.1")])})
    engine.prepare("DnsEvents | count", now=CLOCK)
    assert engine.backend.sealed
    with pytest.raises(Exception, match="(?i)external|disabled|permission"):
        engine.cursor.execute("SELECT * FROM read_csv('/etc/hostname')").fetchall()
    with pytest.raises(Exception, match="(?i)lock"):
        engine.cursor.execute("SET enable_external_access = true")
    with pytest.raises(HarnessError, match="sealed"):
        engine.load({"DnsEvents": dns([(CLOCK - M, "b.example", "10.0.0.1")])})


def test_a_run_past_its_timeout_is_interrupted_and_the_engine_still_serves(engine):
    """DuckDB has no statement timeout: the watchdog interrupts a scheduled run (one run, and a batch of
    runs) past its limit as a QueryTimeout, and the next statement on the same cursor still runs."""
    from harness.errors import QueryTimeout

    rows = [(CLOCK - timedelta(minutes=1 + i % 50), f"h{i}.example", "10.0.0.4") for i in range(3000)]
    engine.load({"DnsEvents": dns(rows)})
    engine.timeout = 0.5
    cross = engine.prepare("DnsEvents | extend k=1 | join kind=inner (DnsEvents | extend k=1) on k "
                           "| join kind=inner (DnsEvents | extend k=1) on k | summarize count()", now=CLOCK)
    schedule = Schedule.of("Scheduled", CLOCK, frequency=H, period=H)
    with pytest.raises(QueryTimeout, match="0.5 s timeout"):
        engine.run(cross, schedule.run(0))
    with pytest.raises(QueryTimeout, match="0.5 s timeout"):
        engine.run_many(cross, [schedule.run(0), schedule.run(1)])
    engine.timeout = 60.0
    count = engine.prepare("DnsEvents | count", now=CLOCK)
    assert engine.run(count, schedule.run(0)).rows == [(3000,)]
