"""Issue 19: a detection's scopes from one statement (EmbeddedBackend.query_scopes) give what scope() then
query() gives for each, and anything it cannot do exactly is an error the caller falls back on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from harness.backends import embedded
from harness.backends.embedded import EmbeddedBackend
from harness.config import load_config
from harness.errors import HarnessError
from harness.model import Status
from harness.run import explain, memo
from harness.run.explain import ScopedCounts
from harness.run.nearmiss import check_near_misses
from harness.run.runner import Runner
from harness.run.schedule import UNBOUNDED, Run
from harness.run.windowed import WindowedEngine
from harness.suite import load_suite
from tests.test_effect import add_case, add_rule
from tests.test_effect import run as run_rule

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
T = datetime(2025, 6, 1, 11, tzinfo=UTC)

QUERIES = [
    # plain filter; aggregation with and without keys (an empty scope still gives count() = 0); a join
    # of two tables in parts; arg_max by bin; distinct then count; take after sort; a union with itself.
    'DnsEvents | where Name has "evil"',
    "DnsEvents | summarize n = count()",
    "DnsEvents | summarize n = count(), earliest = min(TimeGenerated) by Computer",
    "DnsEvents | join kind=inner (DeviceNetworkEvents | project DeviceName, RemoteUrl) on "
    "$left.Computer == $right.DeviceName | project Computer, Name, RemoteUrl",
    "DnsEvents | summarize arg_max(Name, Computer) by bin(TimeGenerated, 1h)",
    "DnsEvents | distinct Computer | count",
    "DnsEvents | top 2 by Name desc | project Name",
    "union DnsEvents, (DnsEvents | where Name startswith 'b') | summarize count() by Name",
]


def _engine() -> EmbeddedBackend:
    engine = EmbeddedBackend()
    dns = pa.table({
        "TimeGenerated": [T] * 6,
        "Computer": ["h1", "h1", "h2", "h3", "h3", "h4"],
        "Name": ["a.example", "evil.test", "b.example", "evil.test", "c.example", "b.other"],
    })
    net = pa.table({"TimeGenerated": [T] * 3, "DeviceName": ["h1", "h3", "h4"],
                    "RemoteUrl": ["u1", "u3", "u4"]})
    engine.load_parts({"DnsEvents": dns, "DeviceNetworkEvents": net},
                      {"DnsEvents": ["", "a", "", "b", "b", "c"], "DeviceNetworkEvents": ["", "b", "c"]})
    return engine


SCOPES = [("",), ("", "a"), ("", "b"), ("", "c"), ("a",), ("nobody",), None]


@pytest.mark.parametrize("kql", QUERIES)
def test_one_statement_gives_each_scope_what_a_scoped_query_gives(kql: str) -> None:
    engine = _engine()
    try:
        together = engine.query_scopes(kql, SCOPES, now=NOW)
        for parts, got in zip(SCOPES, together, strict=True):
            engine.scope(parts)
            alone = engine.query(kql, now=NOW)
            assert got.columns == alone.columns
            assert got.types == alone.types
            assert sorted(map(repr, got.rows)) == sorted(map(repr, alone.rows)), parts
        engine.scope(None)
        assert engine.query("DnsEvents | count", now=NOW).rows == [(6,)]  # the views are back as they were
    finally:
        engine.close()


def test_a_table_read_around_the_scope_errors_rather_than_reading_every_row() -> None:
    """A reference that does not resolve to the scope's CTE (here a qualified name, as duckdb-kql writes
    `database("memory").T`) would read the view: while the statement runs, the view refuses to be read."""
    engine = _engine()
    try:
        engine.seal()
        sql, names = engine._lateral('SELECT * FROM "memory"."DnsEvents"', [("",), None])
        assert names == ["DnsEvents"]
        engine._show("DnsEvents", embedded._GUARD)
        with pytest.raises(Exception, match="read through a scope"):
            engine.execute_sql(sql)
        engine._show("DnsEvents", None)
        assert engine.query("DnsEvents | count", now=NOW).rows == [(6,)]
    finally:
        engine.close()


def test_past_the_row_budget_the_scopes_run_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine()
    try:
        monkeypatch.setattr(embedded, "SCOPES_ROW_BUDGET", 5)
        with pytest.raises(HarnessError, match="one by one"):
            engine.query_scopes("DnsEvents | count", [("",), ("", "b"), None], now=NOW)
        assert engine.query_scopes("DnsEvents | count", [("a",), ("c",)], now=NOW)[1].rows == [(1,)]
    finally:
        engine.close()


def _dns_rule(project: Path) -> None:
    add_case(project, "burst", "burst.tunnel.example", "172.16.50.1", count=3)
    add_case(project, "quiet", "quiet.tunnel.example", "172.16.50.2")
    add_rule(project, "dns_burst", 'DnsEvents | where Name endswith ".tunnel.example"\n'
             "| summarize Lookups = count() by Name | where Lookups > 2",
             "  benign.burst: {fires: true, rows: 1, values: {Lookups: 3}}\n  benign.quiet: {fires: false}\n")


def _without_dnstwist_sweep(project: Path) -> None:
    """T1608.005-8 resolves ~400 names into both DNS tables: with it, a DNS rule's phase check asks for so many
    runs that they pass the statement's row budget and run in statements of their own."""
    (project / "synthetic" / "templates" / "T1608.005-8.yaml").unlink()
    path = project / "expected" / "link_target_dns.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["cases"].pop("T1608.005-8")
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _cells(result: Any) -> list[tuple[str, str, str, str]]:
    return sorted((v.case_id, v.detection_key, v.status.value, v.message or "") for v in result.verdicts)


def test_the_runner_judges_every_scope_from_one_statement(project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Untimed: one plain run per detection (over everything) and one statement for all its scopes."""
    _dns_rule(project_copy)
    memo._RESULTS.clear()  # nothing known from an earlier test
    plain: list[str] = []
    original = EmbeddedBackend.query

    def counted(self: EmbeddedBackend, kql: str, **kw: Any) -> Any:
        plain.append(kql)
        return original(self, kql, **kw)

    monkeypatch.setattr(EmbeddedBackend, "query", counted)
    result = run_rule(project_copy, "dns_burst")
    assert result.verdict("benign.burst", "dns_burst").status == Status.PASSED
    assert result.verdict("benign.quiet", "dns_burst").status == Status.PASSED
    assert len(plain) == 1


def test_a_scheduled_rule_s_scopes_and_simulated_runs_come_from_one_statement(
        project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Untimed: a scheduled rule costs its plain run and one more statement: its scopes, the runs of its simulated
    schedule, the same runs over the background alone and the phase check's runs, checked together."""
    _dns_rule(project_copy)
    _without_dnstwist_sweep(project_copy)
    memo._RESULTS.clear()
    statements: list[str] = []
    original_scopes, original_many = EmbeddedBackend.query_scopes, WindowedEngine.run_many

    def scopes(self: EmbeddedBackend, kql: str, parts: Any, **kw: Any) -> Any:
        statements.append("query_scopes")
        return original_scopes(self, kql, parts, **kw)

    def many(self: WindowedEngine, prepared: Any, runs: Any, **kw: Any) -> Any:
        statements.append("run_many with scopes" if kw.get("scopes") is not None else "run_many")
        return original_many(self, prepared, runs, **kw)

    monkeypatch.setattr(EmbeddedBackend, "query_scopes", scopes)
    monkeypatch.setattr(WindowedEngine, "run_many", many)
    result = run_rule(project_copy, "dns_burst")
    assert result.verdict("benign.burst", "dns_burst").status == Status.PASSED
    assert statements == ["run_many with scopes"]
    assert result.one_statement == {"dns_burst"}
    alerts = result.runs["dns_burst"].alerts
    assert alerts is not None and alerts.background_exact and alerts.cases["benign.burst"].alerts


def test_phase_runs_past_the_row_budget_leave_the_rest_in_one_statement(
        project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With T1608.005-8's sweep the phase check's runs pass the statement's row budget: they run in statements of
    their own, and the scopes, the simulated runs and the background-alone runs still come from one."""
    _dns_rule(project_copy)
    memo._RESULTS.clear()
    statements: list[str] = []
    original_many = WindowedEngine.run_many

    def many(self: WindowedEngine, prepared: Any, runs: Any, **kw: Any) -> Any:
        out = original_many(self, prepared, runs, **kw)  # only statements that ran (one past the budget raises)
        statements.append("run_many with scopes" if kw.get("scopes") is not None else "run_many")
        return out

    monkeypatch.setattr(WindowedEngine, "run_many", many)
    result = run_rule(project_copy, "dns_burst")
    assert result.verdict("benign.burst", "dns_burst").status == Status.PASSED
    assert statements[0] == "run_many with scopes" and statements.count("run_many with scopes") == 1
    assert "run_many" in statements[1:]  # the phase check's own statements
    assert result.one_statement == {"dns_burst"}
    assert result.runs["dns_burst"].alerts.cases["benign.burst"].phases


@pytest.mark.parametrize("kql", QUERIES)
def test_scoped_runs_of_the_windowed_engine_give_what_query_scopes_gives(kql: str) -> None:
    """WindowedEngine.run_many with a scope per run (unbounded windows at the clock) gives each scope what
    EmbeddedBackend.query_scopes gives it."""
    engine = _engine()
    windowed = WindowedEngine(engine)
    try:
        at_clock = Run(-1, NOW, NOW, NOW, UNBOUNDED, UNBOUNDED)
        together = windowed.run_many(windowed.prepare(kql, now=NOW, check_empty=False), [at_clock] * len(SCOPES),
                                     scopes=SCOPES)
        expected = engine.query_scopes(kql, SCOPES, now=NOW)
        for got, want in zip(together, expected, strict=True):
            assert sorted(got.rows, key=repr) == sorted(want.rows, key=repr)
            assert got.columns == want.columns
    finally:
        windowed.close()
        engine.close()


@pytest.mark.heavy
def test_a_one_statement_result_that_disagrees_with_the_plain_run_is_not_used(
        project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The statement's run over every row must equal the plain run; here it does not, so every scope runs
    one by one and the cells are what they would have been."""
    _dns_rule(project_copy)
    expected = _cells(run_rule(project_copy, "dns_burst"))
    memo._RESULTS.clear()
    original = EmbeddedBackend.query_scopes

    def wrong(self: EmbeddedBackend, kql: str, scopes: Any, **kw: Any) -> Any:
        out = original(self, kql, scopes, **kw)
        out[-1].rows.append(out[-1].rows[0] if out[-1].rows else ("x",) * len(out[-1].columns))
        for res in out[:-1]:
            res.rows.clear()  # what a wrong flattening could give: nothing fires anywhere
        return out

    monkeypatch.setattr(EmbeddedBackend, "query_scopes", wrong)
    original_many = WindowedEngine.run_many

    def wrong_many(self: WindowedEngine, prepared: Any, runs: Any, **kw: Any) -> Any:
        out = original_many(self, prepared, runs, **kw)
        if kw.get("scopes") is not None:  # the statement that gives the scopes with the simulated runs
            out[-1].rows.append(out[-1].rows[0] if out[-1].rows else ("x",) * len(out[-1].columns))
            for res in out[:-1]:
                res.rows.clear()
        return out

    monkeypatch.setattr(WindowedEngine, "run_many", wrong_many)
    plain: list[str] = []
    original_query = EmbeddedBackend.query

    def counted(self: EmbeddedBackend, kql: str, **kw: Any) -> Any:
        plain.append(kql)
        return original_query(self, kql, **kw)

    monkeypatch.setattr(EmbeddedBackend, "query", counted)
    assert _cells(run_rule(project_copy, "dns_burst")) == expected
    assert len(plain) > 2  # the all-cases run, the background alone, each case


@pytest.mark.heavy
def test_traces_counted_together_are_the_traces_counted_one_by_one(project_copy: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The near-miss traces of a detection's listed must-not-fire cases: each stage prefix counted for every
    case in one statement gives what a scope per case gives (the pack's DNS rule: three such cases)."""
    def traces(together: bool) -> list[Any]:
        memo._RESULTS.clear()
        monkeypatch.setattr(ScopedCounts, "__init__", _forced(together))
        suite = load_suite(load_config(project_copy, {"background": 50})).narrowed(detections={"link_target_dns"})
        result = Runner(suite, after=check_near_misses).run()
        assert result.one_statement == {"link_target_dns"}
        return sorted((v.case_id, v.status.value, repr(v.near_miss)) for v in result.verdicts)

    batched, alone = traces(True), traces(False)
    assert batched == alone
    assert sum("'stopped_by': 'filter'" in t[2] for t in batched) >= 3


_INIT = ScopedCounts.__init__


def _forced(together: bool) -> Any:
    original = _INIT

    def init(self: ScopedCounts, backend: Any, cases: list[str], now: datetime, timeout: float, **_: Any) -> None:
        original(self, backend, cases, now, timeout, together=together)
        assert self.together is (together and len(cases) > 1)
    return init


@pytest.mark.heavy
def test_a_must_fire_miss_is_explained_on_the_loaded_engine_as_a_fresh_engine_explains_it(repo_root: Path) -> None:
    """The seed rule's junked variant (a must-fire known gap): check_near_misses traces it on the run's loaded
    engine with the near-miss cases' statements; explain_result then reads that trace, and it is the trace a
    fresh engine loaded with the case's rows alone gives."""
    explain._CACHE.clear()
    memo._RESULTS.clear()
    fresh_engines: list[int] = []
    original = explain._explain_case

    def counted(*args: Any, **kw: Any) -> Any:
        fresh_engines.append(1)
        return original(*args, **kw)

    suite = load_suite(load_config(repo_root)).narrowed(detections={"link_target_email"})
    result = Runner(suite, after=check_near_misses).run()
    try:
        explain._explain_case = counted
        loaded = explain.explain_result(result)
        assert fresh_engines == [] and ("T1608.005-3.junked", "link_target_email") in loaded
        explain._CACHE.clear()
        fresh = explain.explain_result(result)
        assert fresh_engines and fresh == loaded
    finally:
        explain._explain_case = original
