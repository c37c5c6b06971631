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
    assert ("unknown-column", "error", 11, 47) in found  # Subjekt: query line 3 col 45, + 2 spaces of indent
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
    assert {r["ruleId"] for r in results} >= {"unknown-column", "enum-value", "entity-mapping"}
    region = next(r for r in results if r["ruleId"] == "unknown-column")["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 11, "startColumn": 47}
    # and a log the schema must reject, so the check above is not vacuous
    bad = to_sarif([Finding("f", "format", "error", "m", 1, 1)])
    bad["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(bad)
