"""The run uses the workspace context: watchlists reach the embedded engine through `_GetWatchlist`,
the ASIM parsers and the user's functions reach it too, and every detection is checked statically
(unknown tables, columns, functions) before the engine runs it."""

from __future__ import annotations

from pathlib import Path

from harness.backends import engine_options
from harness.config import load_config
from harness.model import Detection
from harness.run.preflight import preflight
from harness.run.runner import Runner
from harness.suite import load_suite

RULE = """id: 0e4a1c52-7d3b-4f0e-9a61-1608005e0f01
name: Link Target - DNS lookups of link-staging APIs listed in a watchlist
description: DNS lookups of the hosts in the staging_apis watchlist.
severity: Medium
requiredDataConnectors: []
queryFrequency: 1h
queryPeriod: 1d
triggerOperator: gt
triggerThreshold: 0
tactics:
  - ResourceDevelopment
relevantTechniques:
  - T1608.005
query: |-
  let Staging = _GetWatchlist('staging_apis') | project Name = SearchKey, Operator, WatchlistAlias;
  DnsEvents
  | join kind=inner (Staging) on Name
  | project TimeGenerated, Computer, ClientIP, Name, Operator, WatchlistAlias
"""

EXPECTED = """detection: watchlist_staging_api
cases:
  T1608.005-2:
    fires: true
    rows: 1
    values: {Name: api.pinata.cloud, Operator: Pinata, WatchlistAlias: staging_apis}
  T1608.005-2.glued-keyword:
    fires: true
    rows: 1
    values: {Name: api.pinata.cloud, Operator: Pinata}
  T1608.005-2.pin-by-hash:
    fires: true
    rows: 1
    values: {Name: api.pinata.cloud, Operator: Pinata}
  T1608.005-2.cidv0-subdomain:
    fires: true
    rows: 1
    values: {Name: api.pinata.cloud, Operator: Pinata}
  T1608.005-2.native-links:
    fires: true
    rows: 1
    values: {Name: api.pinata.cloud, Operator: Pinata}
  T1608.005-2.day-old:
    fires: true
    rows: 1
    values: {Name: api.pinata.cloud, Operator: Pinata}
"""


def _project(root: Path, query_from: str = "", query_to: str = "") -> Path:
    wl = root / "watchlists"
    wl.mkdir()
    # A second watchlist with other columns: the shim returns the union, "" where a list lacks one.
    (wl / "staging_apis.csv").write_text("Host,Operator\napi.pinata.cloud,Pinata\n")
    (wl / "vip users.csv").write_text("Upn,Tier\nalice@contoso.com,1\n")
    rule = root / "detections/T1608.005/watchlist_staging_api.yaml"
    rule.write_text(RULE.replace(query_from, query_to) if query_from else RULE)
    (root / "expected/watchlist_staging_api.yaml").write_text(EXPECTED)
    return rule


def _runner(root: Path) -> Runner:
    """The runner on the watchlist rule alone (the pack's context, cases and data; the tests read its cells)."""
    config = load_config(root, {"watchlists": ["watchlists"], "background": 0, "report_dir": root / "out"})
    return Runner(load_suite(config).narrowed(detections={"watchlist_staging_api"}))


def test_get_watchlist_runs_on_the_embedded_engine(project_copy: Path) -> None:
    _project(project_copy)
    runner = _runner(project_copy)
    functions = engine_options("embedded", runner.suite.config, runner.suite.context)["functions"]
    assert any("_Im_Dns" in f for f in functions)  # the ASIM parsers reach the engine
    assert any("function _GetWatchlist(watchlistAlias:string)" in f for f in functions)
    result = runner.run()
    run = result.runs["watchlist_staging_api"]
    assert run.error is None, run.error
    assert run.columns == ["TimeGenerated", "Computer", "ClientIP", "Name", "Operator", "WatchlistAlias"]
    cells = [v for v in result.verdicts if v.detection_key == "watchlist_staging_api"]
    assert cells and all(v.status == "passed" for v in cells), [v.message for v in cells if v.status != "passed"]
    assert result.verdict("T1608.005-2", "watchlist_staging_api").fired


def test_unknown_watchlist_column_is_a_schema_error_in_the_rule_file(project_copy: Path) -> None:
    rule = _project(project_copy, "SearchKey, Operator,", "SearchKey, Operatr,")
    result = _runner(project_copy).run()
    cells = [v for v in result.verdicts if v.detection_key == "watchlist_staging_api"]
    assert cells and all(v.status == "error" for v in cells)
    err = cells[0].error
    assert err["kind"] == "schema" and err["reason"].startswith("The name 'Operatr' does not refer to any known column")
    assert "does not refer to any known column, table, variable or function. [KS142]" in err["reason"]
    assert "watchlist_staging_api.yaml" in cells[0].message
    assert "Operatr" in rule.read_text().splitlines()[err["line"] - 1]
    line = rule.read_text().splitlines()[err["line"] - 1]
    assert line[err["column"] - 1 :].startswith("Operatr")


def test_unknown_watchlist_alias_is_a_schema_error(project_copy: Path) -> None:
    _project(project_copy, "_GetWatchlist('staging_apis')", "_GetWatchlist('staging_api')")
    result = _runner(project_copy).run()
    err = result.detection_error("watchlist_staging_api")
    assert err.kind == "schema" and "unknown watchlist 'staging_api'" in err.reason


def test_preflight_reports_what_kusto_would_refuse(project_copy: Path) -> None:
    context = load_suite(load_config(project_copy)).context
    det = Detection(
        key="k",
        id="",
        name="k",
        path=str(project_copy / "nowhere.yaml"),
        kind="Scheduled",
        query="EmailEvents | where Subjectt has 'x' | join (NoSuchTable) on NetworkMessageId",
    )
    err = preflight(det, context)
    assert err is not None and err.kind == "schema"
    assert err.reason.startswith("The name 'Subjectt' does not refer to any known column")
    assert "'NoSuchTable'" in err.reason
    assert (err.line, err.column) == (1, 21)
    # Without configured watchlists nobody can know a watchlist's columns: no pre-flight error.
    det.query = "_GetWatchlist('vip') | project Upn"
    assert preflight(det, context) is None
    det.query = "NoSuchFunction(3) | count"
    assert "The name 'NoSuchFunction' does not refer to any known function. [KS211]" == preflight(det, context).reason
    det.query = "DnsEvents | where Name > 5"  # a type error Kusto refuses, which the engine would run
    assert preflight(det, context).reason.startswith("The operator '>' is not defined for the operand types")
    det.query = "DnsEvents | where Name == 'x' |"
    err = preflight(det, context)
    assert (err.kind, err.line, err.column, err.reason) == ("syntax", 1, 32, "Query operator expected. [KS176]")
