"""The `rows` step for any table, end to end on the embedded engine, and its content errors."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.cli import main
from harness.errors import HarnessError
from harness.formats.limits import MAX_ROWS_PER_STEP
from harness.formats.templates import load_template
from harness.workspace.tables import SchemaRegistry
from synthetic.arrow import merge_tables
from synthetic.telemetry import TelemetryGenerator

REGISTRY = SchemaRegistry()
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
GUID = "7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

ATOMIC = f"""\
attack_technique: T1071.004
display_name: 'Application Layer Protocol: DNS'
atomic_tests:
- name: DNS lookups of many distinct subdomains
  auto_generated_guid: {GUID}
  description: Looks up many distinct subdomains of one domain, as DNS tunnelling does.
  supported_platforms: [windows]
  executor:
    name: powershell
    command: 1..30 | ForEach-Object {{ Resolve-DnsName "$(Get-Random).tunnel.example" }}
"""
DETECTION = """\
id: 0b6a4c2d-1e3f-4a5b-9c8d-7e6f5a4b3c2d
name: Many distinct DNS names from one client over 8 days
description: A client that looked up more than 20 distinct names in 8 days.
severity: Medium
queryFrequency: 1d
queryPeriod: 8d
triggerOperator: gt
triggerThreshold: 0
tactics: [CommandAndControl]
relevantTechniques: [T1071.004]
kind: Scheduled
version: 1.0.0
query: |
  DnsEvents
  | where TimeGenerated > ago(8d)
  | where SubType == "LookupQuery"
  | summarize Names = dcount(Name) by ClientIP
  | where Names > 20
"""


def _template(head: str, count: int, at: str = "-7d") -> str:
    return textwrap.dedent(f"""\
        {head}
        time: {at}
        entities:
          ip: {{fake: lab_ipv4}}
        steps:
          - kind: rows
            table: DnsEvents
            count: {count}
            every: 6h
            identifiers: [ClientIP]
            rows:
              - {{ClientIP: "{{ip}}", Name: "n{{index}}.tunnel.example", SubType: LookupQuery}}
        """)


@pytest.fixture
def dns_project(tmp_path: Path) -> Path:
    (tmp_path / "atomics/T1071.004").mkdir(parents=True)
    (tmp_path / "atomics/T1071.004/T1071.004.yaml").write_text(ATOMIC)
    (tmp_path / "detections").mkdir()
    (tmp_path / "detections/dns_many_names.yaml").write_text(DETECTION)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/T1071.004-1.yaml").write_text(_template(f"atomic: {GUID}", 24))
    (tmp_path / "templates/benign.few-names.yaml").write_text(_template("case: benign.few-names", 20))
    # 24 lookups, but the first 9 are not after the 8-day look-back: 15 distinct names in the window
    (tmp_path / "templates/benign.old-names.yaml").write_text(_template("case: benign.old-names", 24, at="-10d"))
    (tmp_path / "expected").mkdir()
    (tmp_path / "expected/dns_many_names.yaml").write_text(textwrap.dedent("""\
        detection: dns_many_names
        cases:
          T1071.004-1:
            fires: true
            rows: 1
            values: {Names: 24}
          benign.few-names:
            fires: false
            stopped_by: where Names > 20
          benign.old-names:
            # Over all the data at the clock its lookups are older than ago(8d), but on Sentinel's schedule
            # (the rule counts as enabled from the data's start) the daily runs 4 to 2 days ago saw all 24.
            fires: true
            alerts: 3
        """))
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.atomic-harness]
        atomics = "atomics"
        detections = "detections"
        expected = "expected"
        templates = "templates"
        background = 0
        """))
    return tmp_path


def test_distinct_count_threshold_over_spaced_rows_fires_and_below_it_does_not(
    dns_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(dns_project)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 0
    text = (dns_project / "out/coverage.md").read_text()
    assert "3 passed, 0 failed" in text
    # the must-fire case is what makes the pass meaningful: break the threshold and it must fail
    (dns_project / "templates/T1071.004-1.yaml").write_text(_template(f"atomic: {GUID}", 20))
    assert main(["run", "--quiet", "--report-dir", "out2"]) == 1


def _case(tmp_path: Path, steps: str, name: str = "benign.t"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"case: {name}\ntime: -1h\nentities:\n  ip: 172.16.5.9\nsteps:\n" + textwrap.indent(steps, "  "))
    return load_template(path, {})[0]


def _rows(tmp_path: Path, steps: str):
    return TelemetryGenerator(11, NOW, REGISTRY).case_telemetry(_case(tmp_path, steps))


def test_count_every_index_and_relative_times(tmp_path: Path) -> None:
    tel = _rows(tmp_path, """\
- kind: rows
  table: SigninLogs
  at: -30m
  count: 3
  every: 10m
  rows:
    - {UserPrincipalName: "u{index}@contoso.com", IPAddress: "{ip}"}
    - {UserPrincipalName: late@contoso.com, TimeGenerated: +5m, CreatedDateTime: -2h}
""")
    rows = tel.rows["SigninLogs"]
    base = datetime(2025, 6, 1, 10, 30)  # pinned clock - 1h (case) - 30m (step)
    assert [r["UserPrincipalName"] for r in rows][:3] == ["u0@contoso.com", "late@contoso.com", "u1@contoso.com"]
    assert [r["TimeGenerated"] for r in rows if r["UserPrincipalName"].startswith("u")] == [
        base, base + timedelta(minutes=10), base + timedelta(minutes=20)]
    late = [r for r in rows if r["UserPrincipalName"] == "late@contoso.com"]
    assert [r["TimeGenerated"] for r in late] == [base + timedelta(minutes=5 + 10 * k) for k in range(3)]
    assert late[0]["CreatedDateTime"] == base - timedelta(hours=2)
    assert all(r["AppDisplayName"] and r["UserAgent"] for r in rows)  # the rest is filled


def test_json_mapping_in_a_string_column_is_queryable_with_parse_json(tmp_path: Path) -> None:
    tel = _rows(tmp_path, """\
- kind: rows
  table: AzureActivity
  identifiers: [CallerIpAddress]
  rows:
    - OperationNameValue: MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE
      CallerIpAddress: "{ip}"
      ActivityStatusValue: Success
      Properties:
        json: {requestbody: {literal: '{"Id":"x"}'}, roleDefinitionId: "8e3af657", caller: "{ip}", "{{braces}}": 1}
""")
    row = tel.rows["AzureActivity"][0]
    assert json.loads(row["Properties"]) == {"requestbody": '{"Id":"x"}', "roleDefinitionId": "8e3af657",
                                             "caller": "172.16.5.9", "{braces}": 1}
    engine = EmbeddedBackend(REGISTRY)
    engine.load(merge_tables(REGISTRY, [tel.rows]))
    result = engine.query(
        "AzureActivity | extend p = parse_json(Properties) | project Role = tostring(p.roleDefinitionId), "
        "Caller = tostring(p.caller), Body = tostring(p.requestbody)", now=NOW.replace(tzinfo=None))
    assert result.rows == [("8e3af657", "172.16.5.9", '{"Id":"x"}')]
    engine.close()


def test_literal_values_are_never_placeholders(tmp_path: Path) -> None:
    tel = _rows(tmp_path, """\
- kind: rows
  table: Syslog
  rows:
    - {SyslogMessage: {literal: 'payload {"cmd": "{ip}"}'}, Computer: "host-{{ip}}"}
""")
    row = tel.rows["Syslog"][0]
    assert row["SyslogMessage"] == 'payload {"cmd": "{ip}"}'
    assert row["Computer"] == "host-{ip}"


def test_undocumented_opt_out_keeps_the_value_and_warns(tmp_path: Path) -> None:
    steps = """\
- kind: rows
  table: EmailEvents
  rows:
    - {DeliveryAction: %s, NetworkMessageId: 1b6f0a2e-7c1d-4e8f-9a0b-3c2d1e0f9a8b}
"""
    tel = _rows(tmp_path, steps % "{undocumented: DeliveredToJunk}")
    assert tel.rows["EmailEvents"][0]["DeliveryAction"] == "DeliveredToJunk"
    assert any("DeliveredToJunk" in n and "not a documented value" in n for n in tel.notes)
    with pytest.raises(HarnessError, match="DeliveredToJunk' is not a documented value") as info:
        _rows(tmp_path, steps % "DeliveredToJunk")
    assert info.value.line == 9  # the row's line in the template


def test_email_rows_keep_exact_times_unless_spacing_is_set(tmp_path: Path) -> None:
    step = """\
- kind: email
  sender: a@fabrikam.com
  recipients: [b@contoso.com, c@contoso.com]
  urls: [https://x.example/1, https://x.example/2]
  delivery_action: {undocumented: DeliveredToJunk}
"""
    tel = _rows(tmp_path, step)
    times = {r["TimeGenerated"] for t in ("EmailEvents", "EmailUrlInfo") for r in tel.rows[t]}
    assert times == {datetime(2025, 6, 1, 11, 0)}
    spaced = _rows(tmp_path, step + "  spacing: 2\n")
    assert sorted(r["TimeGenerated"].second for r in spaced.rows["EmailEvents"]) == [0, 2]


@pytest.mark.parametrize(("row", "message", "line"), [
    ("{Name: {a: 1}}", "rows.0.Name: Name is a string column, but the value is a mapping (a); write `{json:", 9),
    ("{QueryType: A, EventId: +5m}", "rows.0.EventId: EventId is an int column; '+5m' is not a whole number", 9),
    ("{Nmae: x}", "rows.0.Nmae: table DnsEvents has no column 'Nmae'; did you mean Name?", 9),
    ("{TimeGenerated: soon}", "rows.0.TimeGenerated: TimeGenerated is a datetime column; 'soon' is neither", 9),
    ('{Name: "{\\"a\\": 1}"}', "write {{ and }} for literal braces, `{literal: ...}`", None),
])
def test_content_mistakes_are_one_line_errors_with_file_line_and_field(
    tmp_path: Path, row: str, message: str, line: int | None
) -> None:
    with pytest.raises(HarnessError) as info:
        _rows(tmp_path, f"- kind: rows\n  table: DnsEvents\n  rows:\n    - {row}\n")
    err = info.value
    assert message in err.reason
    assert "\n" not in str(err) and err.file and err.file.endswith("benign.t.yaml")
    if line is not None:
        assert err.line == line


def test_row_count_is_capped(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=f"more than the {MAX_ROWS_PER_STEP:,} one step may emit"):
        _rows(tmp_path, f"- kind: rows\n  table: DnsEvents\n  count: {MAX_ROWS_PER_STEP + 1}\n")


def test_unknown_faker_provider_lists_close_names(tmp_path: Path) -> None:
    path = tmp_path / "benign.f.yaml"
    path.write_text("case: benign.f\nentities:\n  n: {fake: number}\nsteps:\n  - {kind: rows, table: DnsEvents}\n")
    with pytest.raises(HarnessError, match="unknown Faker provider 'number'; close: .*random_number"):
        TelemetryGenerator(1, NOW, REGISTRY).case_telemetry(load_template(path, {})[0])


def test_run_shows_undocumented_notes(dns_project: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A value kept with `undocumented:` is noted by generation; `run` shows the note on the terminal and in
    the reports (coverage.json `notes`, coverage.md "Generation notes")."""
    (dns_project / "templates/benign.junk-mail.yaml").write_text(textwrap.dedent("""\
        case: benign.junk-mail
        time: -1h
        steps:
          - kind: rows
            table: EmailEvents
            identifiers: [NetworkMessageId]
            rows:
              - DeliveryAction: {undocumented: DeliveredToJunk}
                NetworkMessageId: 1b6f0a2e-7c1d-4e8f-9a0b-3c2d1e0f9a8b
        """))
    monkeypatch.chdir(dns_project)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 0
    out = capsys.readouterr().out
    note = ("benign.junk-mail: warning: templates/benign.junk-mail.yaml: EmailEvents.DeliveryAction = "
            "'DeliveredToJunk' is not a documented value (written with `undocumented:`)")
    assert f"NOTE {note}" in out
    assert json.loads((dns_project / "out/coverage.json").read_text())["notes"] == [note]
    assert "## Generation notes" in (dns_project / "out/coverage.md").read_text()
