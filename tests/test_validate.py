"""`atomic-harness validate`: findings located in the YAML file, text and SARIF output, exit codes."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from harness.checks.sarif import Finding, to_sarif
from harness.checks.validate import validate
from harness.cli import main
from harness.config import load_config
from harness.errors import QueryLimitExceeded
from harness.kql.analyzer import ANALYZER_VERSION
from harness.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]

RULE = """\
id: 11111111-2222-3333-4444-555555555555
name: test rule
kind: Scheduled
queryFrequency: 1h
queryPeriod: 1h
triggerOperator: gt
triggerThreshold: 0
query: |
  EmailEvents
  | where TimeGenerated > ago(1d)
  | where DeliveryAction == "Quarantined" and Subjekt has "x"
  | project SenderFromAddress, Subject
entityMappings:
  - entityType: Account
    fieldMappings:
      - identifier: FullName
        columnName: RecipientEmailAddress
severity: Medium
"""


def run(argv: list[str], monkeypatch: pytest.MonkeyPatch, cwd: Path = ROOT) -> int:
    monkeypatch.chdir(cwd)
    return main(["validate", *argv])


def validate_paths(paths: list[Path], project: Path | None = None):
    """Validate *paths* against *project*'s suite (default: a folder with no project: they stand alone)."""
    return validate(load_suite(load_config(project or paths[0].parent)), paths)


def test_seed_rule_reports_delivered_to_junk(monkeypatch, capsys):
    assert run(["detections/"], monkeypatch) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "DeliveredToJunk" in x)
    assert line.startswith("detections/T1608.005/link_target_email.yaml:")
    assert (
        ": warning: `DeliveredToJunk` is not a documented EmailEvents.DeliveryAction value; did you mean `Junked`?"
        in line
    )
    assert run(["detections/", "--warnings-as-errors"], monkeypatch) == 1


def test_rule_findings_located_in_file(tmp_path):
    rule = tmp_path / "r.yaml"
    rule.write_text(RULE)
    found = {(f.rule, f.severity, f.line, f.column) for f in validate_paths([rule]).findings if f.severity != "note"}
    assert ("KS142", "error", 11, 47) in found  # Subjekt: query line 3 col 45, + 2 spaces of indent
    assert ("enum-value", "warning", 11, 29) in found  # "Quarantined"
    assert ("query-period", "warning", 10, 27) in found  # ago(1d) vs queryPeriod 1h
    assert ("entity-mapping", "error", 17, 9) in found  # RecipientEmailAddress is projected away


def test_exit_codes(tmp_path, monkeypatch, capsys):
    rule = tmp_path / "r.yaml"
    rule.write_text(RULE)
    assert run([str(rule)], monkeypatch) == 1
    assert run([str(tmp_path / "missing.yaml")], monkeypatch) == 2
    good = tmp_path / "good.yaml"
    good.write_text("id: x\nname: ok\nquery: EmailEvents | take 1\n")
    assert run([str(good)], monkeypatch) == 0


def test_broken_files_fail_closed(tmp_path):
    (tmp_path / "bad.yaml").write_text("id: x\nname: n\nquery: [1, 2\n")
    (tmp_path / "noquery.yaml").write_text("foo: bar\n")
    findings = validate_paths([tmp_path]).findings
    assert {(Path(f.file).name, f.rule, f.severity) for f in findings} == {
        ("bad.yaml", "format", "error"),
        ("noquery.yaml", "format", "error"),
    }
    assert all(f.line for f in findings)


def test_expected_file_must_name_existing_detection_and_atomic(tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text("detection: no_such_rule\ncases:\n  T1608.005-99:\n    fires: true\n")
    findings = validate_paths([exp], ROOT).findings
    messages = sorted((f.line, f.message) for f in findings)
    assert messages[0] == (1, "names detection 'no_such_rule', which no detection file defines")
    assert messages[1][0] == 3 and "T1608.005-99" in messages[1][1]


def test_shipped_atomics_and_expected_are_clean():
    result = validate_paths([ROOT / "atomics", ROOT / "expected"], ROOT)
    assert result.files > 4 and result.errors == []


def test_sarif_validates_against_schema(tmp_path, monkeypatch):
    rule = tmp_path / "r.yaml"
    rule.write_text(RULE)
    out = tmp_path / "out.sarif"
    assert run([str(rule), "--format", "sarif", "-o", str(out), "--show-notes"], monkeypatch) == 1
    log = json.loads(out.read_text())
    schema = json.loads((resources.files("harness") / "data/formats/sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(log)
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} >= {"KS142", "enum-value", "entity-mapping"}
    region = next(r for r in results if r["ruleId"] == "KS142")["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 11, "startColumn": 47}
    (analyzer,) = log["runs"][0]["tool"]["extensions"]
    assert (analyzer["name"], analyzer["version"]) == ("Kusto.Language", ANALYZER_VERSION)
    # and a log the schema must reject, so the check above is not vacuous
    bad = to_sarif([Finding("f", "format", "error", "m", 1, 1)])
    bad["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(bad)


def one_line_rule(tmp_path: Path, query: str, extra: str = "") -> Path:
    rule = tmp_path / "one.yaml"
    header = "id: one-line\nname: one line\nkind: Scheduled\nseverity: Low\nqueryFrequency: 1d\nqueryPeriod: 1d\n"
    rule.write_text(f"{header}triggerOperator: gt\ntriggerThreshold: 0\nquery: {query}\n{extra}")
    return rule


@pytest.mark.parametrize(
    ("query", "code", "column", "words"),
    [
        ("DnsEvents | where Name > 5", "KS106", 24, "'>' is not defined for the operand types string and long"),
        ("DnsEvents | extend n = strlen(ClientIP, 1)", "KS119", 24, "'strlen' expects 1 argument"),
        ("DnsEvents | summarize count() by bin(Name, 1h)", "KS127", 34, "'bin' is not compatible"),
        ("DnsEvents | mv-expand Name", "KS141", 23, "must have the type dynamic"),
        ("DnsEvents | where isnotempty(Name) and Name", "KS106", 36, "'and' is not defined for the operand types"),
        ("DnsEvents | extend d = datetime_diff('hour', TimeGenerated)", "KS119", 24, "expects 3 arguments"),
        ("DnsEvents | where parse_ipv4(ClientIP) contains '10.'", "KS106", 40, "'contains' is not defined"),
    ],
)
def test_issue_examples_are_errors_at_their_place_in_the_file(tmp_path, query, code, column, words):
    """The seven one-line rules on DnsEvents the hand-written resolver passed: each is Microsoft's
    error, with its code, at the rule file's line:column (the query starts on line 9, column 8)."""
    findings = validate_paths([one_line_rule(tmp_path, query)]).findings
    errors = [(f.rule, f.severity, f.line, f.column) for f in findings if f.severity == "error"]
    assert errors == [(code, "error", 9, 7 + column)]
    assert words in next(f.message for f in findings if f.rule == code)


def test_promoted_warnings_by_default_and_the_rest_on_request(tmp_path, monkeypatch, capsys):
    query = "let Name = 'x'; DnsEvents | join (DnsEvents) on ClientIP | where Name == Name"
    rule = one_line_rule(tmp_path, query)
    found = {(f.rule, f.severity) for f in validate_paths([rule]).findings}
    assert found == {("KS510", "warning")}  # a column silently replaces the let: promoted
    suite = load_suite(load_config(tmp_path))
    more = {(f.rule, f.severity) for f in validate(suite, [rule], kql_warnings=True).findings}
    assert more == {("KS510", "warning"), ("KS508", "warning")}  # join without kind: on request
    assert run([str(rule), "--kql-warnings"], monkeypatch) == 0
    assert "[KS508]" in capsys.readouterr().out


def test_todynamic_of_a_dynamic_value_is_accepted_with_a_note(tmp_path):
    query = "let d = toscalar(DnsEvents | summarize make_set(Name)); DnsEvents | where Name in (todynamic(d))"
    findings = validate_paths([one_line_rule(tmp_path, query)]).findings
    assert [(f.rule, f.severity) for f in findings] == [("KS107", "note")]
    assert "accepted: todynamic()/parse_json() of a dynamic value" in findings[0].message
    bad = validate_paths([one_line_rule(tmp_path, "DnsEvents | where Name in (todynamic(5))")]).findings
    assert [(f.rule, f.severity) for f in bad] == [("KS107", "error")]  # a long is not accepted


def test_output_columns_are_checked_with_exact_case(tmp_path):
    """Sentinel's AccountUPN-vs-AccountUpn class of bug: the mapping names a column whose case differs."""
    extra = """entityMappings:
  - entityType: Account
    fieldMappings:
      - identifier: FullName
        columnName: clientIP
customDetails:
  Lookups: Name
  Where: Computer
alertDetailsOverride:
  alertDisplayNameFormat: "Lookup of {{Name}} from {{ ClientIp }}"
  alertSeverityColumnName: Severity
"""
    rule = one_line_rule(tmp_path, "DnsEvents | project Name, ClientIP", extra)
    found = sorted((f.line, f.column, f.message) for f in validate_paths([rule]).findings)
    assert found == [
        (14, 9, "entityMappings column 'clientIP' is not in the query's output, which has 'ClientIP' "
                "(column names are case-sensitive)"),
        (17, 3, "customDetails 'Where': column 'Computer' is not in the query's output"),
        (19, 3, "alertDetailsOverride.alertDisplayNameFormat placeholder 'ClientIp' is not in the query's output, "
                "which has 'ClientIP' (column names are case-sensitive)"),
        (20, 3, "alertDetailsOverride.alertSeverityColumnName 'Severity' is not in the query's output"),
    ]


def test_a_query_past_the_nesting_bound_is_refused_at_its_place(tmp_path):
    from harness.kql.guard import refuse_query
    from harness.kql.limits import MAX_NESTING

    query = "DnsEvents | where " + "(" * 100 + "Name == 'x'" + ")" * 100
    with pytest.raises(QueryLimitExceeded):  # before the analyzer or any engine sees it
        refuse_query(query)
    (finding,) = validate_paths([one_line_rule(tmp_path, query)]).findings
    assert (finding.rule, finding.severity, finding.line) == ("kql-limit", "error", 9)
    assert finding.column == 7 + len("DnsEvents | where ") + MAX_NESTING + 1
    assert f"more than {MAX_NESTING} levels" in finding.message
