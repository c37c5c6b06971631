"""Issue 18: mutation testing. `mutate` on a small detection whose kills are known, equivalents from the
expected file, the Sigma and KQL generators, and the gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import load_config
from harness.kql.analyzer import analyze
from harness.mutate.campaign import mutate_suite
from harness.mutate.kql import query_mutants
from harness.mutate.model import Operator
from harness.run.nearmiss import check_near_misses
from harness.run.runner import Runner
from harness.suite import load_suite
from tests.test_effect import add_case, add_rule

KEY = "dns_threshold"
CASES = {"benign.three", "benign.two"}


def small(project: Path, equivalent: str = "") -> None:
    """A rule that alerts on more than two lookups of one name; a case of three lookups (must fire) and one
    of two (stopped by the trigger)."""
    add_case(project, "three", "burst.tunnel.example", "172.16.51.1", count=3)
    add_case(project, "two", "burst.tunnel.example", "172.16.51.2", count=2, time="-6h")
    add_rule(project, KEY, 'DnsEvents | where Name == "burst.tunnel.example"', (
        "  benign.three: {fires: true, rows: 3}\n  benign.two: {fires: false, stopped_by: trigger}\n" + equivalent))
    path = project / f"detections/T1608.005/{KEY}.yaml"
    path.write_text(path.read_text().replace("triggerThreshold: 0", "triggerThreshold: 2"))


def mutate(project: Path, jobs: int = 1):
    suite = load_suite(load_config(project, {"background": 50})).narrowed(detections={KEY}, cases=CASES)
    found = {}

    def after(result, backend):
        check_near_misses(result, backend)
        found["run"] = mutate_suite(result, backend, jobs=jobs, min_score=0.9)

    result = Runner(suite, after=after).run()
    assert result.ok
    return found["run"]


EQUIVALENT = ("equivalent_mutants:\n  - mutant: 'comparison at 13:26: Name == \"burst.tunnel.example\" -> "
              "Name =~ \"burst.tunnel.example\"'\n    reason: DNS names are logged in lower case by this server.\n")


def test_the_kills_of_a_small_detection_are_the_known_ones(project_copy: Path) -> None:
    small(project_copy, EQUIVALENT)
    run = mutate(project_copy)
    [score] = run.detections
    outcomes = {r.mutant.name: r.outcome.value for r in score.results}
    assert outcomes == {
        'comparison at 13:26: Name == "burst.tunnel.example" -> Name != "burst.tunnel.example"': "killed",
        'comparison at 13:26: Name == "burst.tunnel.example" -> Name =~ "burst.tunnel.example"': "equivalent",
        'negation at 13:21: where Name == "burst.tunnel.example" -> where not(Name == "burst.tunnel.example")':
            "killed",
        'drop-where at 13:15: | where Name == "burst.tunnel.example" -> (dropped)': "survived",
        "trigger: triggerOperator: gt, triggerThreshold: 2 -> triggerOperator: gt, triggerThreshold: 3": "killed",
        "trigger: triggerOperator: gt, triggerThreshold: 2 -> triggerOperator: gt, triggerThreshold: 1": "killed",
        "trigger: triggerOperator: gt, triggerThreshold: 2 -> triggerOperator: lt, triggerThreshold: 2": "killed",
        "trigger: triggerOperator: gt, triggerThreshold: 2 -> triggerOperator: eq, triggerThreshold: 2": "killed",
        "trigger: triggerOperator: gt, triggerThreshold: 2 -> triggerOperator: ne, triggerThreshold: 2": "survived",
    }
    assert [r.mutant.id for r in score.results] == sorted(r.mutant.id for r in score.results)
    assert score.count("equivalent") == 1 and score.scored == 8 and score.score == 6 / 8
    survivor = next(r for r in score.results if r.mutant.operator == Operator.DROP_WHERE)
    assert "near-miss" in survivor.needs and survivor.mutant.diff().startswith("@@ line 13 @@")
    assert run.below() == [score]  # 75 % is under the 90 % floor


def test_a_mutant_that_moves_where_a_near_miss_stops_is_killed(project_copy: Path) -> None:
    # benign.other's rows must stop at the name filter (stopped_by); dropping that filter leaves them stopped by
    # the address filter: every cell still passes, but `run` would fail the near-miss, so the mutant is killed.
    # Editing the named filter where its rows still stop there (== to =~) is not caught for its changed text.
    add_case(project_copy, "three", "burst.tunnel.example", "172.16.51.1", count=3)
    add_case(project_copy, "other", "quiet.tunnel.example", "172.16.51.2")
    query = 'DnsEvents | where Name == "burst.tunnel.example" | where ClientIP startswith "172.16.51.1"'
    add_rule(project_copy, KEY, query,
             '  benign.three: {fires: true, rows: 3}\n'
             '  benign.other: {fires: false, stopped_by: \'where Name == "burst.tunnel.example"\'}\n')
    suite = load_suite(load_config(project_copy, {"background": 50})).narrowed(
        detections={KEY}, cases={"benign.three", "benign.other"})
    found = {}

    def after(result, backend):
        check_near_misses(result, backend)
        found["run"] = mutate_suite(result, backend, jobs=1)

    assert Runner(suite, after=after).run().ok
    [score] = found["run"].detections
    assert not score.skipped, score.skipped  # the rule itself passes the recheck
    outcomes = {r.mutant.name: r for r in score.results}
    dropped = outcomes['drop-where at 13:15: | where Name == "burst.tunnel.example" -> (dropped)']
    assert dropped.outcome.value == "killed"
    assert dropped.killed_by.startswith("benign.other: expected its rows to be stopped by")
    assert "ClientIP" in dropped.killed_by
    edited = outcomes['comparison at 13:26: Name == "burst.tunnel.example" -> Name =~ "burst.tunnel.example"']
    assert edited.outcome.value == "survived"


def test_workers_give_the_same_result_as_one_process(project_copy: Path) -> None:
    small(project_copy)
    one, two = mutate(project_copy, jobs=1), mutate(project_copy, jobs=2)
    assert json.dumps(one.as_dict(), default=str) == json.dumps(two.as_dict(), default=str)


def test_a_mutant_the_analyzer_rejects_is_not_generated() -> None:
    # `in ("a")` minus its one item would be `in ()`: a syntax error, so no list-item mutant of a one-item list
    a = analyze('DnsEvents | where Name in ("a", "b") | where ClientIP has_any ("c")', tree=True)
    items = [m for m in query_mutants(a) if m.operator == Operator.LIST_ITEM]
    assert [m.before for m in items] == ['"a"', '"b"']
    assert all(not analyze(m.apply(a.text)).errors for m in query_mutants(a))


def test_the_cli_prints_the_table_and_trips_the_gate(project_copy: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    small(project_copy)
    monkeypatch.chdir(project_copy)
    code = main(["mutate", "-q", "-k", KEY, "--jobs", "1", "--min-score", "90", "--report-dir", "out"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "SURVIVED dns_threshold" in out and "below (dns_threshold)" in out
    doc = json.loads((project_copy / "out/coverage.json").read_text())
    entry = next(d for d in doc["detections"] if d["key"] == KEY)
    assert 0 < entry["mutation_score"] < 0.9 and doc["mutation"]["detections"][0]["detection"] == KEY
    assert "Mutation score" in (project_copy / "out/coverage.html").read_text()
    assert "## Mutation score" in (project_copy / "out/coverage.md").read_text()
