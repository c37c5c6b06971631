"""Issue 14, "a green is proof": attribution cannot be wrong silently, nothing under detections/ is skipped,
and content mistakes are one-line errors of their own cells (each test here failed before the fix)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checks.validate import validate
from harness.cli import main
from harness.config import load_config
from harness.run.runner import Runner
from harness.suite import load_suite
from tests.conftest import keep_only

#: DNS lookups link_target_dns flags (a pinning API), written by a `rows` step.
PINATA_ROWS = """\
case: benign.{name}
technique: T1608.005
description: Lookups of a pinning API, attributed by the client address.
time: {time}
steps:
  - kind: rows
    table: DnsEvents
    identifiers: [{ident}]
    rows:
      - {{ClientIP: "{ip}", Name: api.pinata.cloud, SubType: LookupQuery}}
"""


def write_case(project: Path, name: str, *, ident: str = "ClientIP", ip: str = "172.16.40.1",
               time: str = "-3h") -> Path:
    path = project / f"synthetic/templates/benign.{name}.yaml"
    path.write_text(PINATA_ROWS.format(name=name, ident=ident, ip=ip, time=time))
    return path


def run(project: Path, **overrides):
    """The run of link_target_dns, the rule these cases are written for (the tests read its cells)."""
    suite = load_suite(load_config(project, {"background": 50, **overrides}))
    return Runner(suite.narrowed(detections={"link_target_dns"})).run()


@pytest.mark.heavy
def test_an_identifier_typo_errors_the_case_with_the_closest_name_in_run_and_validate(project_copy: Path) -> None:
    # Before: `ClientIp` matched no cell, the case's firing rows counted as background, and the cell passed.
    path = write_case(project_copy, "typo", ident="ClientIp")
    suite = load_suite(load_config(project_copy, {"background": 50}))
    [problem] = suite.case_problems["benign.typo"]
    assert "has no column 'ClientIp'; did you mean 'ClientIP'?" in problem.reason
    assert (problem.file, problem.line) == (str(path), 8)
    cell = Runner(suite.narrowed(detections={"link_target_dns"})).run().verdict("benign.typo", "link_target_dns")
    assert cell.status == "error" and "did you mean 'ClientIP'" in cell.message
    findings = [f for f in validate(suite).errors if "ClientIp" in f.message]
    assert len(findings) == 1 and findings[0].line == 8


@pytest.mark.heavy
def test_a_shared_identifier_errors_both_cases_naming_each_others_template(project_copy: Path) -> None:
    # Before: only the second case was flagged; the first lost its rows to it (owners[ident] = cid) and passed.
    first = write_case(project_copy, "first", ip="172.16.40.7")
    second = write_case(project_copy, "second", ip="172.16.40.7", time="-4h")
    result = run(project_copy)
    a = result.verdict("benign.first", "link_target_dns")
    b = result.verdict("benign.second", "link_target_dns")
    assert a.status == b.status == "error"
    assert "benign.second" in a.message and str(second) in a.message
    assert "benign.first" in b.message and str(first) in b.message
    assert "172.16.40.7" not in result.dataset.owners


@pytest.mark.heavy
def test_a_row_without_an_identifier_of_its_case_is_an_error(project_copy: Path) -> None:
    path = write_case(project_copy, "bare")
    path.write_text(path.read_text().replace("    identifiers: [ClientIP]\n", ""))
    cell = run(project_copy).verdict("benign.bare", "link_target_dns")
    assert cell.status == "error" and "carries none of the case's identifiers" in cell.message


def test_rules_saved_as_yml_or_upper_case_yaml_are_loaded(project_copy: Path) -> None:
    folder = project_copy / "detections/T1608.005"
    (folder / "link_target_dns.yaml").rename(folder / "link_target_dns.yml")
    (folder / "link_target_proxy.yaml").rename(folder / "link_target_proxy.YAML")
    suite = load_suite(load_config(project_copy))
    keys = {d.key for d in suite.detections}
    assert {"link_target_dns", "link_target_proxy"} <= keys
    assert not suite.problems and all(not d.problems for d in suite.detections)


def test_a_yaml_file_under_detections_that_is_not_a_rule_is_an_error(project_copy: Path) -> None:
    notes = project_copy / "detections/T1608.005/notes.yml"
    notes.write_text("owner: soc\nreviewed: 2025-05-01\n")
    suite = load_suite(load_config(project_copy))
    [problem] = suite.problems
    assert problem.file == str(notes) and problem.reason.startswith("not a rule")
    assert "notes" not in {d.key for d in suite.detections}


@pytest.mark.heavy
def test_an_out_of_range_datetime_from_the_engine_errors_the_cells_without_a_traceback(
    project_copy: Path, monkeypatch, capsys
) -> None:
    """The rule that breaks and one other (the seed rule): the other's cells show the error stays in its rule."""
    keep_only(project_copy, "link_target_dns", "link_target_email")
    path = project_copy / "detections/T1608.005/link_target_dns.yaml"
    text = path.read_text()
    path.write_text(text.replace("  | sort by FirstSeen asc\n", "  | sort by FirstSeen asc\n"
                                 "  | extend Later = datetime_add('year', 100000, FirstSeen)\n", 1))
    monkeypatch.chdir(project_copy)
    code = main(["run", "--quiet", "--background", "50", "--report-dir", str(project_copy / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    report = json.loads((project_copy / "out/coverage.json").read_text())
    cells = [c for c in report["cells"] if c["detection"] == "link_target_dns"]
    assert cells and all(c["status"] == "error" and "cannot hold" in c["message"] for c in cells)
    others = [c for c in report["cells"] if c["detection"] != "link_target_dns"]
    assert others and all(c["status"] != "error" for c in others)


def test_a_broken_atomics_file_is_named_as_the_cause_of_its_templates_errors(project_copy: Path) -> None:
    # Before: the templates linked to its tests said only "no atomic test has auto_generated_guid ...".
    atomics = project_copy / "atomics/T1608.005/T1608.005.yaml"
    atomics.write_text(atomics.read_text().replace("atomic_tests:", "atomic_tests: [", 1))
    suite = load_suite(load_config(project_copy))
    follow = [p for p in suite.problems if "auto_generated_guid" in p.reason]
    assert follow and all(str(atomics) in p.reason and "fix that file first" in p.reason for p in follow)
    assert any(p.file == str(atomics) for p in suite.problems)
    assert any(c.id.startswith("benign.") for c in suite.cases)  # the rest still loads and runs
