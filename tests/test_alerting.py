"""Alerts as Sentinel raises them, through the whole run on the real engine (issue 16, part 2): the
schedule decides `fires`, alert expectations are judged, the alert contract is checked on real rows."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from harness.cli import main

GUID = "3c6d8e2a-5b4f-4c1d-9e7a-2f0b1a3c5d7e"
ATOMIC = f"""\
attack_technique: T1071.004
display_name: 'Application Layer Protocol: DNS'
atomic_tests:
- name: Repeated lookups of one name
  auto_generated_guid: {GUID}
  description: Looks up one name several times in a row.
  supported_platforms: [windows]
  executor:
    name: powershell
    command: 1..4 | ForEach-Object {{ Resolve-DnsName beacon.example }}
"""


def _detection(frequency: str = "1h", period: str = "1h", mappings: str | None = None) -> str:
    mappings = mappings or """\
        entityMappings:
          - entityType: IP
            fieldMappings:
              - identifier: Address
                columnName: ClientIP
          - entityType: DNS
            fieldMappings:
              - identifier: DomainName
                columnName: Name
        customDetails:
          Lookups: Lookups
        alertDetailsOverride:
          alertDisplayNameFormat: "{{Lookups}} lookups of {{Name}}"
        """
    return textwrap.dedent(f"""\
        id: 5e2b7c1d-8a4f-4b3e-9d6c-1a2b3c4d5e6f
        name: Repeated lookups of one name
        description: More than 3 lookups of one name by one client.
        severity: Medium
        queryFrequency: {frequency}
        queryPeriod: {period}
        triggerOperator: gt
        triggerThreshold: 0
        tactics: [CommandAndControl]
        relevantTechniques: [T1071.004]
        kind: Scheduled
        version: 1.0.0
        query: |
          DnsEvents
          | where SubType == "LookupQuery"
          | summarize Lookups = count() by ClientIP, Name
          | where Lookups > 3
        """) + textwrap.dedent(mappings)


def _template(head: str, count: int, every: str, at: str = "-6h", delay: str | None = None) -> str:
    return textwrap.dedent(f"""\
        {head}
        time: {at}
        entities:
          ip: {{fake: lab_ipv4}}
        steps:
          - kind: rows
            table: DnsEvents
            count: {count}
            every: {every}
            identifiers: [ClientIP]
            rows:
              - {{ClientIP: "{{ip}}", Name: beacon.example, SubType: LookupQuery}}
        """)


def _project(tmp_path: Path, expected: str, detection: str | None = None) -> Path:
    (tmp_path / "atomics/T1071.004").mkdir(parents=True)
    (tmp_path / "atomics/T1071.004/T1071.004.yaml").write_text(ATOMIC)
    (tmp_path / "detections").mkdir()
    (tmp_path / "detections/repeated_lookups.yaml").write_text(detection or _detection())
    (tmp_path / "templates").mkdir()
    # four lookups within a minute, four lookups 70 minutes apart, two lookups (the near-miss)
    (tmp_path / "templates/T1071.004-1.yaml").write_text(_template(f"atomic: {GUID}", 4, "15s"))
    (tmp_path / "templates/benign.spread.yaml").write_text(_template("case: benign.spread", 4, "70m"))
    (tmp_path / "templates/benign.twice.yaml").write_text(_template("case: benign.twice", 2, "15s"))
    (tmp_path / "expected").mkdir()
    (tmp_path / "expected/repeated_lookups.yaml").write_text(textwrap.dedent(expected))
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.atomic-harness]
        atomics = "atomics"
        detections = "detections"
        expected = "expected"
        templates = "templates"
        background = 0
        """))
    return tmp_path


EXPECTED = """\
    detection: repeated_lookups
    cases:
      T1071.004-1:
        fires: true
        rows: 1
        alerts: 1
        detected_within: 70m
        entities:
          DNS: {DomainName: beacon.example}
        custom_details: {Lookups: 4}
        alert_name: 4 lookups of beacon.example
      benign.spread:
        fires: false
      benign.twice:
        fires: false
        stopped_by: where Lookups > 3
    """


def _cells(root: Path) -> dict[str, dict]:
    report = json.loads((root / "out/coverage.json").read_text())
    return {c["case"]: c for c in report["cells"]}


def test_four_lookups_70_minutes_apart_do_not_alert_four_within_a_minute_do(tmp_path, monkeypatch):
    """The issue's example: queryFrequency 1h, queryPeriod 1h, more than 3 lookups. Over all the data both
    cases return a row; on Sentinel's schedule only the burst puts four lookups in one window."""
    root = _project(tmp_path, EXPECTED)
    monkeypatch.chdir(root)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 0
    cells = _cells(root)
    burst = cells["T1071.004-1"]
    assert burst["status"] == "passed" and burst["alerts"]["count"] == 1
    item = burst["alerts"]["items"][0]
    assert item["name"] == "4 lookups of beacon.example"
    assert {e["type"] for e in item["entities"]} == {"IP", "DNS"}
    assert cells["benign.spread"]["status"] == "passed" and cells["benign.spread"]["alerts"]["count"] == 0


def test_a_rule_whose_window_covers_the_spread_alerts_on_it(tmp_path, monkeypatch):
    """The same spread lookups with a 6-hour lookback: one window holds all four, so it alerts (and the
    expected file saying it does not fails)."""
    root = _project(tmp_path, EXPECTED, _detection("1h", "6h"))
    monkeypatch.chdir(root)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 1
    spread = _cells(root)["benign.spread"]
    assert spread["status"] == "failed" and spread["alerts"]["count"] > 0
    assert "expected no alert" in spread["message"]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("alerts", "2", "expected 2 alert(s), got 1"),
    ("detected_within", "1m", "expected the first alert within 1m"),
    ("entities", "{DNS: {DomainName: other.example}}",
     "to carry DNS DomainName=other.example; they carry DomainName=beacon"),
    ("custom_details", "{Lookups: 5}", "expected custom detail Lookups = 5"),
    ("alert_name", "something else", "expected the alert name 'something else'"),
])
def test_each_alert_expectation_can_fail(tmp_path, monkeypatch, key, value, message):
    if key == "entities":
        expected = EXPECTED.replace("DNS: {DomainName: beacon.example}", "DNS: {DomainName: other.example}")
    else:
        expected = re.sub(rf"(?m)^        {key}: .*$", f"        {key}: {value}", EXPECTED)
    root = _project(tmp_path, expected)
    monkeypatch.chdir(root)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 1
    cell = _cells(root)["T1071.004-1"]
    assert cell["status"] == "failed" and message in cell["message"], cell["message"]


def test_an_entity_from_a_missing_column_fails_the_cell_naming_the_mapping(tmp_path, monkeypatch):
    mappings = """\
        entityMappings:
          - entityType: IP
            fieldMappings:
              - identifier: Address
                columnName: clientip
        """
    root = _project(tmp_path, EXPECTED.replace("        custom_details: {Lookups: 4}\n", "")
                    .replace("        alert_name: 4 lookups of beacon.example\n", "")
                    .replace("          DNS: {DomainName: beacon.example}\n", "          IP: []\n")
                    .replace("        entities:\n          IP: []\n", ""),
                    _detection(mappings=mappings))
    monkeypatch.chdir(root)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 1
    cell = _cells(root)["T1071.004-1"]
    assert cell["status"] == "failed"
    assert "entityMappings[0] IP.Address <- column 'clientip'" in cell["message"]
    assert "not 'clientip' (column names are case-sensitive)" in cell["message"]


LATE_DETECTION = """\
id: 7a3c9e1b-2d4f-4e6a-8b0c-1d2e3f4a5b6c
name: Lookup of a known beacon name
description: Any lookup of beacon.example.
severity: High
queryFrequency: 1h
queryPeriod: {period}
triggerOperator: gt
triggerThreshold: 0
tactics: [CommandAndControl]
relevantTechniques: [T1071.004]
kind: Scheduled
version: 1.0.0
query: |
  DnsEvents
  | where Name == "beacon.example"
  | project TimeGenerated, ClientIP, Name
entityMappings:
  - entityType: IP
    fieldMappings:
      - identifier: Address
        columnName: ClientIP
"""


def _late_project(tmp_path: Path, period: str) -> Path:
    """One lookup at 10:58 that reaches the workspace 20 minutes late (11:18): the 11:00 run executes at
    11:05, before it arrives, and the 12:00 run's one-hour window [11:00, 12:00) no longer holds it."""
    root = _project(tmp_path, """\
        detection: beacon_lookup
        cases:
          T1071.004-1:
            fires: true
            alerts: 1
            entities:
              IP: []
          benign.other-name:
            fires: false
            stopped_by: where Name == "beacon.example"
        """.replace("            entities:\n              IP: []\n", ""), LATE_DETECTION.format(period=period))
    (root / "detections/repeated_lookups.yaml").rename(root / "detections/beacon_lookup.yaml")
    (root / "expected/repeated_lookups.yaml").rename(root / "expected/beacon_lookup.yaml")
    for name in ("benign.spread", "benign.twice"):
        (root / f"templates/{name}.yaml").unlink()
    (root / "templates/T1071.004-1.yaml").write_text(textwrap.dedent(f"""\
        atomic: {GUID}
        time: -62m
        entities:
          ip: {{fake: lab_ipv4}}
        steps:
          - kind: rows
            table: DnsEvents
            ingestion_delay: 20m
            identifiers: [ClientIP]
            rows:
              - {{ClientIP: "{{ip}}", Name: beacon.example, SubType: LookupQuery}}
        """))
    (root / "templates/benign.other-name.yaml").write_text(
        _template("case: benign.other-name", 1, "1m").replace("beacon.example", "docs.example"))
    return root


def test_a_late_event_is_missed_by_a_window_too_short_and_caught_by_one_covering_the_delay(tmp_path, monkeypatch):
    short = _late_project(tmp_path / "short", "1h")
    monkeypatch.chdir(short)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 1
    cell = _cells(short)["T1071.004-1"]
    assert cell["status"] == "failed" and cell["alerts"]["count"] == 0
    assert "expected an alert, but the rule raised none" in cell["message"]
    covering = _late_project(tmp_path / "covering", "2h")
    monkeypatch.chdir(covering)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 0
    cell = _cells(covering)["T1071.004-1"]
    assert cell["status"] == "passed" and cell["alerts"]["count"] == 1
    assert cell["alerts"]["detected_after"] == "1h7m"  # the 12:00 run executes at 12:05; the lookup was at 10:58


def test_a_burst_a_window_boundary_can_split_is_reported_phase_sensitive(tmp_path, monkeypatch):
    """Four lookups 3 minutes apart (10:25 to 10:34): on the pinned hourly grid one window holds them all and the
    rule alerts; at a phase whose boundary falls among them no window holds four. The cell passes (judged at the
    pinned phase) and says it is phase-sensitive; the spread case alerts at no phase."""
    root = _project(tmp_path, EXPECTED)
    (root / "templates/T1071.004-1.yaml").write_text(_template(f"atomic: {GUID}", 4, "3m", at="-95m"))
    monkeypatch.chdir(root)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 0
    cells = _cells(root)
    burst = cells["T1071.004-1"]["alerts"]
    assert burst["phase_sensitive"] is True
    assert set(burst["phases"].values()) == {True, False} and burst["phases"]["0s"] is True
    spread = cells["benign.spread"]["alerts"]
    assert spread["phase_sensitive"] is False and not any(spread["phases"].values())
    assert "phase-sensitive" in (root / "out/coverage.md").read_text()


def test_an_nrt_rule_alerts_once_on_a_late_row_by_its_ingestion_time(tmp_path, monkeypatch):
    """NRT rules run every minute over the rows ingested in the minute before (two minutes' delay): a row 20
    minutes late raises one alert, about 21 minutes after it happened, where a 1h/1h scheduled rule misses it."""
    root = _late_project(tmp_path, "1h")
    path = root / "detections/beacon_lookup.yaml"
    text = path.read_text().replace("queryFrequency: 1h\n", "").replace("queryPeriod: 1h\n", "")
    path.write_text(text.replace("kind: Scheduled", "kind: NRT"))
    monkeypatch.chdir(root)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 0
    cell = _cells(root)["T1071.004-1"]
    assert cell["status"] == "passed" and cell["alerts"]["count"] == 1
    assert cell["alerts"]["detected_after"] == "23m"  # ingested 11:18, seen by the 11:19 run, raised at 11:21


def test_mutants_are_judged_by_their_alerts(tmp_path, monkeypatch):
    """`mutate` judges a Scheduled rule's mutants as `run` judges the rule: by the alerts of its simulated
    schedule. Over all the data at once the spread lookups return a row, so a one-run judging would fail the
    unedited rule (and skip the detection); on the schedule it passes, and an edit that only changes what one
    window holds is caught."""
    root = _project(tmp_path, EXPECTED)
    monkeypatch.chdir(root)
    assert main(["mutate", "--quiet", "--jobs", "1", "--report-dir", "out", "--json"]) in (0, 1)
    report = json.loads((root / "out/coverage.json").read_text())["mutation"]
    [score] = report["detections"]
    assert score["skipped"] is None, score["skipped"]
    outcomes = {m["name"]: m for m in score["mutants_detail"]}
    # more than 2 in a window: the spread case (one lookup per window) still never alerts, the burst does
    # (no case puts exactly three lookups in one window)
    raised = outcomes["number at 17:21: 3 -> 2"]
    assert raised["outcome"] == "survived", raised
    # more than 4: the burst of four no longer alerts
    lowered = outcomes["number at 17:21: 3 -> 4"]
    assert lowered["outcome"] == "killed" and lowered["killed_by"].startswith("T1071.004-1:"), lowered
    # no filter at all: each hourly run over the spread case holds one lookup, and alerts
    dropped = outcomes["drop-where at 17:5: | where Lookups > 3 -> (dropped)"]
    assert dropped["outcome"] == "killed", dropped


AGGREGATE = """\
    detection: repeated_lookups
    cases:
      T1071.004-1:
        fires: true
        alerts: 1
        custom_details: {Lookups: 4}
      benign.other-name:
        fires: false
        stopped_by: where Name == "beacon.example"
    """


def test_an_aggregate_row_without_identifiers_is_told_apart_by_the_background_alone(tmp_path, monkeypatch):
    """Five lookups 15 s apart across a window boundary (10:59:45 and four from 11:00:00): the 12:00 run holds four.
    The rule counts them with no column naming the case, and its row there ({Lookups: 4}) is no row of the run over
    all the data ({Lookups: 5}); the same run over the background alone does not return it, so it is the effect of
    the one case the window holds, and the case alerts."""
    detection = _detection(mappings="customDetails:\n  Lookups: Lookups\n").replace(
        '| where SubType == "LookupQuery"', '| where Name == "beacon.example"').replace(
        "| summarize Lookups = count() by ClientIP, Name", "| summarize Lookups = count()")
    root = _project(tmp_path, AGGREGATE, detection)
    for name in ("benign.spread", "benign.twice"):
        (root / f"templates/{name}.yaml").unlink()
    (root / "templates/benign.other-name.yaml").write_text(
        _template("case: benign.other-name", 4, "15s").replace("beacon.example", "docs.example"))
    (root / "templates/T1071.004-1.yaml").write_text(_template(f"atomic: {GUID}", 5, "15s", at="-3615s"))
    monkeypatch.chdir(root)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 0, (root / "out/coverage.md").read_text()
    cells = _cells(root)
    burst = cells["T1071.004-1"]
    assert burst["status"] == "passed" and burst["alerts"]["count"] == 1
    assert "limits" not in burst["alerts"]


def test_a_time_span_survivor_of_a_scheduled_rule_is_told_what_the_schedule_shows() -> None:
    """On Sentinel's schedule a case older than a rule's lookback was alerted on by the runs of its own time, so a
    survivor's hint for a time span says what can tell the spans apart there."""
    from harness.mutate.hints import needs
    from harness.mutate.model import Mutant, Operator

    mutant = Mutant("M001", "rule", Operator.TIMESPAN, 1, 2, "1d", "2d", "T | where TimeGenerated > ago(2d)")
    plain = needs(mutant)
    scheduled = needs(mutant, scheduled_window="1d")
    assert scheduled.startswith(plain) and "ingestion_delay" in scheduled and "last 1d of TimeGenerated" in scheduled
    assert needs(mutant, scheduled_window=None) == plain


def test_runs_batched_in_chunks_give_what_one_statement_gives(tmp_path, monkeypatch):
    """More runs than one statement's row budget allows are batched in chunks, each checked against the plain
    run: the alerts (phases included) are those of the runs in one statement."""
    import harness.run.alerting as alerting
    from harness.run import memo
    from harness.run.windowed import WindowedEngine

    sizes: list[int] = []
    many = WindowedEngine.run_many

    def counted(self, prepared, runs, **kwargs):
        if kwargs.get("scopes") is None:  # not the statement that also gives the scopes (Alerting.prefetch)
            sizes.append(len(runs))
        return many(self, prepared, runs, **kwargs)

    monkeypatch.setattr(WindowedEngine, "run_many", counted)
    cells = []
    for budget in (alerting.ROW_BUDGET, 30):  # the project's DnsEvents holds 10 rows: 30 is 2 runs and the check
        sizes.clear()
        memo._RESULTS.clear()  # the same rows in both projects: no result from the first reused
        root = _project(tmp_path / str(budget), EXPECTED)
        (root / "templates/T1071.004-1.yaml").write_text(_template(f"atomic: {GUID}", 4, "3m", at="-95m"))
        monkeypatch.chdir(root)
        monkeypatch.setattr(alerting, "ROW_BUDGET", budget)
        assert main(["run", "--quiet", "--report-dir", "out"]) == 0
        cells.append({k: c["alerts"] for k, c in _cells(root).items()})
        if budget == 30:
            assert sizes and max(sizes) <= 3 and sizes.count(3) >= 2, sizes  # several chunks of 2 runs + check
    assert cells[0] == cells[1]
    assert cells[0]["T1071.004-1"]["phase_sensitive"] is True


def test_microsofts_late_data_pattern_reads_each_rows_ingestion_time(tmp_path, monkeypatch):
    """Microsoft's documented fix for late data: widen the lookback by the delay and keep each event in one
    window by its ingestion time (`where TimeGenerated > ago(3h) | where ingestion_time() > ago(1h)`). The
    lookup at 09:58 reaches the workspace at 10:18: a 3h window alone holds it in the 11:00 and 12:00 runs (two
    alerts); with `ingestion_time()` only the 11:00 run, the first after it arrived, does (one alert). The
    engine runs the rule in its `ingestion time` desugared form, listed on the detection."""
    def project(name: str, pattern: bool) -> Path:
        root = _late_project(tmp_path / name, "3h")
        template = root / "templates/T1071.004-1.yaml"
        template.write_text(template.read_text().replace("time: -62m", "time: -122m"))
        if pattern:
            path = root / "detections/beacon_lookup.yaml"
            lines = "  DnsEvents\n  | where TimeGenerated > ago(3h)\n  | where ingestion_time() > ago(1h)\n"
            path.write_text(path.read_text().replace("  DnsEvents\n", lines))
            expected = root / "expected/beacon_lookup.yaml"  # the benign lookup, 6 hours ago, stops at the lookback
            expected.write_text(expected.read_text().replace('where Name == "beacon.example"',
                                                             "where TimeGenerated > ago(3h)"))
        monkeypatch.chdir(root)
        return root

    widened = project("widened", pattern=False)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 1  # expected one alert, raised two
    assert _cells(widened)["T1071.004-1"]["alerts"]["count"] == 2
    pattern = project("pattern", pattern=True)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 0
    cell = _cells(pattern)["T1071.004-1"]
    assert cell["status"] == "passed" and cell["alerts"]["count"] == 1
    assert cell["alerts"]["detected_after"] == "1h7m"  # the 11:00 run (at 11:05) is the first after 10:18
    report = json.loads((pattern / "out/coverage.json").read_text())
    # listed at the call's place in the rule file
    assert [d["desugarings"] for d in report["detections"]] == [["ingestion time at 16:11"]]
