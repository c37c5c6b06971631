"""Issue 14: a case is judged by its effect (its rows plus the background, against the background alone),
and the all-cases run must agree; each test here was a false green before."""

from __future__ import annotations

from pathlib import Path

from harness.config import load_config
from harness.run.effect import Effect, effect, reconcile
from harness.run.runner import Runner
from harness.suite import load_suite

RULE = """\
id: {id}
name: {key}
description: A test rule.
severity: Low
kind: Scheduled
queryFrequency: 1d
queryPeriod: 1d
triggerOperator: gt
triggerThreshold: 0
tactics: [ResourceDevelopment]
relevantTechniques: [T1608.005]
query: |
{query}
"""

CASE = """\
case: benign.{name}
technique: T1608.005
description: DNS lookups written by a rows step.
time: {time}
steps:
  - kind: rows
    table: DnsEvents
    identifiers: [ClientIP]
    count: {count}
    rows:
      - {{ClientIP: "{ip}", Name: {host}, SubType: LookupQuery}}
"""


def add_rule(project: Path, key: str, query: str, expected: str, n: int = 1) -> None:
    body = "\n".join("  " + line for line in query.strip().splitlines())
    (project / f"detections/T1608.005/{key}.yaml").write_text(
        RULE.format(id=f"00000000-0000-4000-8000-00000000000{n}", key=key, query=body))
    (project / f"expected/{key}.yaml").write_text(f"detection: {key}\ncases:\n{expected}")


def add_case(project: Path, name: str, host: str, ip: str, *, time: str = "-3h", count: int = 1) -> None:
    (project / f"synthetic/templates/benign.{name}.yaml").write_text(
        CASE.format(name=name, host=host, ip=ip, time=time, count=count))


def run(project: Path, key: str):
    """The rule under test alone against every case (the pack's rules are not what is tested here)."""
    return Runner(load_suite(load_config(project, {"background": 50})).narrowed(detections={key})).run()


def test_an_aggregate_without_identifiers_is_judged_by_its_effect(project_copy: Path) -> None:
    # Before: the aggregated row carried no identifier, so it was background and the must-fire failed;
    # with the threshold broken the other way it would have been a background false positive and a pass.
    add_case(project_copy, "burst", "burst.tunnel.example", "172.16.50.1", count=3)
    add_rule(project_copy, "dns_burst", 'DnsEvents | where Name == "burst.tunnel.example"\n'
             "| summarize Lookups = count() by bin(TimeGenerated, 1d)",
             "  benign.burst: {fires: true, rows: 1, values: {Lookups: 3}}\n")
    result = run(project_copy, "dns_burst")
    cell = result.verdict("benign.burst", "dns_burst")
    assert cell.status == "passed", cell.message
    assert result.runs["dns_burst"].background_rows == 0
    others = [v for v in result.verdicts if v.detection_key == "dns_burst" and v.case_id != "benign.burst"]
    assert others and all(v.status == "passed" and not v.fired for v in others)


def test_rows_only_the_cases_together_return_are_an_interference_error_not_background(project_copy: Path) -> None:
    # Two cases that look up one name: each alone stays under the threshold, together they cross it. Before:
    # the row carried neither case's identifier, was counted as background and both cells passed.
    add_case(project_copy, "share-a", "shared.tunnel.example", "172.16.50.2")
    add_case(project_copy, "share-b", "shared.tunnel.example", "172.16.50.3", time="-4h")
    add_case(project_copy, "twice", "twice.tunnel.example", "172.16.50.6", count=2)
    add_rule(project_copy, "dns_shared", 'DnsEvents | where Name endswith ".tunnel.example"\n'
             "| summarize n = count() by Name | where n > 1",
             "  benign.twice: {fires: true, rows: 1}\n")
    result = run(project_copy, "dns_shared")
    run_ = result.runs["dns_shared"]
    assert run_.unexplained_rows == 1 and run_.background_rows == 0
    for name, other in (("benign.share-a", "benign.share-b"), ("benign.share-b", "benign.share-a")):
        cell = result.verdict(name, "dns_shared")
        assert cell.status == "error" and cell.error["kind"] == "interference", cell.message
        assert "neither a case alone nor the background explains" in cell.message and other in cell.message
    assert result.verdict("benign.twice", "dns_shared").status == "passed"
    assert not result.ok


def test_a_case_whose_row_another_case_hides_is_an_interference_error(project_copy: Path) -> None:
    # arg_min keeps one row per name: with both cases loaded only the earlier case's lookup survives, so a
    # must-not-fire case that fires alone passed by luck on which row was kept. Now its cell errors.
    add_case(project_copy, "early", "dedup.tunnel.example", "172.16.50.4", time="-5h")
    add_case(project_copy, "late", "dedup.tunnel.example", "172.16.50.5", time="-1h")
    add_rule(project_copy, "dns_first", 'DnsEvents | where Name == "dedup.tunnel.example"\n'
             "| summarize arg_min(TimeGenerated, ClientIP) by Name",
             "  benign.early: {fires: true, rows: 1}\n")
    result = run(project_copy, "dns_first")
    assert result.verdict("benign.early", "dns_first").status == "passed"
    late = result.verdict("benign.late", "dns_first")
    assert late.status == "error" and "the all-cases run lacks" in late.message, late.message


def test_reconcile_finds_what_the_all_cases_run_adds_or_lacks() -> None:
    bg = [{"n": 50, "k": "bin"}]
    a = effect([{"n": 53, "k": "bin"}], bg)
    assert a.added == [{"n": 53, "k": "bin"}] and a.removed == bg
    assert reconcile([{"n": 53, "k": "bin"}], bg, {"a": a}, {}).agrees
    b = effect([{"n": 52, "k": "bin"}], bg)
    clash = reconcile([{"n": 55, "k": "bin"}], bg, {"a": a, "b": b}, {})
    assert clash.unexplained == [{"n": 55, "k": "bin"}] and len(clash.missing) == 2
    assert set(clash.cases) == {"a", "b"}
    marked = reconcile([{"ip": "10.9.9.9"}], [], {"a": Effect(), "b": Effect()}, {"10.9.9.9": "b"})
    assert set(marked.cases) == {"b"}


def test_an_engine_without_scopes_reloads_per_scope_and_judges_the_same(project_copy: Path) -> None:
    # The REST backend (here duckdb-kql's own server) has no scopes: each scope's rows are loaded again.
    from tests.test_kusto_backend import start_server, stop_server

    add_case(project_copy, "early", "dedup.tunnel.example", "172.16.50.4", time="-5h")
    add_case(project_copy, "late", "dedup.tunnel.example", "172.16.50.5", time="-1h")
    add_rule(project_copy, "dns_first", 'DnsEvents | where Name == "dedup.tunnel.example"\n'
             "| summarize arg_min(TimeGenerated, ClientIP) by Name",
             "  benign.early: {fires: true, rows: 1}\n")
    proc, url = start_server("--allow-write")
    try:
        config = load_config(project_copy, {"background": 20, "backend": "kusto", "kusto_url": url})
        # A load per scope over REST: the two cases under test and two pack cases that write DnsEvents too
        # (every case would be 56 loads and tell nothing more).
        cases = {"benign.early", "benign.late", "T1608.005-2", "benign.dns-zone-audit"}
        result = Runner(load_suite(config).narrowed(detections={"dns_first"}, cases=cases)).run()
    finally:
        stop_server(proc)
    assert {v.case_id for v in result.verdicts} == cases
    assert result.verdict("benign.early", "dns_first").status == "passed"
    assert result.verdict("benign.late", "dns_first").status == "error"
    assert all(v.status == "passed" for v in result.verdicts if v.case_id not in ("benign.early", "benign.late"))


def test_a_scoped_result_is_reused_only_for_the_same_rows() -> None:
    import pyarrow as pa

    from harness.run import memo

    tables = {"T": pa.table({"a": ["x", "y"]})}
    labels = {"T": ["c1", "c2"]}
    background = {"T": pa.table({"a": ["bg"]})}
    one = memo.scope_digests(tables, labels, background, ["T"], ("", "c1"))
    assert one == memo.scope_digests(tables, labels, background, ["T"], ("", "c1"))
    assert one != memo.scope_digests(tables, labels, background, ["T"], ("", "c2"))
    changed = {"T": pa.table({"a": ["x2", "y"]})}
    assert one != memo.scope_digests(changed, labels, background, ["T"], ("", "c1"))
    assert one != memo.scope_digests(tables, labels, {"T": pa.table({"a": ["bg2"]})}, ["T"], ("", "c1"))
