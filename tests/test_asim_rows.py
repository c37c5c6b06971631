"""Templates write normalized rows straight into the ASim tables, and a rule reads them through an ASIM
unifying parser with its documented filtering parameters (named, as Sentinel rules pass them): the parser's
filter is applied on the engine, so rows it filters out do not fire."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from harness.cli import main

GUID = "3c2b1a0f-9e8d-4c7b-a6f5-e4d3c2b1a0f9"

ATOMIC = f"""\
attack_technique: T1568.002
display_name: 'Dynamic Resolution: Domain Generation Algorithms'
atomic_tests:
- name: Look up many generated domains that do not exist
  auto_generated_guid: {GUID}
  description: Resolves generated names, most of which return NXDOMAIN.
  supported_platforms: [windows]
  executor:
    name: powershell
    command: 1..10 | ForEach-Object {{ Resolve-DnsName "$(Get-Random).dga.example" }}
"""
DETECTION = """\
id: 6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d
name: Many NXDOMAIN responses for one client (ASIM)
description: A client that received more than 5 NXDOMAIN answers in a day, read through the ASIM DNS parser.
severity: Medium
queryFrequency: 1d
queryPeriod: 1d
triggerOperator: gt
triggerThreshold: 0
tactics: [CommandAndControl]
relevantTechniques: [T1568.002]
kind: Scheduled
version: 1.0.0
query: |
  _Im_Dns(starttime=ago(1d), responsecodename='NXDOMAIN')
  | summarize Failures = count() by SrcIpAddr
  | where Failures > 5
"""


def _template(head: str, count: int, code: int) -> str:
    return textwrap.dedent(f"""\
        {head}
        time: -2h
        entities:
          ip: {{fake: lab_ipv4}}
        steps:
          - kind: rows
            table: ASimDnsActivityLogs
            count: {count}
            every: 5m
            identifiers: [SrcIpAddr]
            rows:
              - {{SrcIpAddr: "{{ip}}", DnsQuery: "n{{index}}.dga.example", DnsResponseCode: {code},
                 EventType: Query}}
        """)


@pytest.fixture
def asim_project(tmp_path: Path) -> Path:
    (tmp_path / "atomics/T1568.002").mkdir(parents=True)
    (tmp_path / "atomics/T1568.002/T1568.002.yaml").write_text(ATOMIC)
    (tmp_path / "detections").mkdir()
    (tmp_path / "detections/asim_nxdomain.yaml").write_text(DETECTION)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/T1568.002-1.yaml").write_text(_template(f"atomic: {GUID}", 10, 3))
    (tmp_path / "templates/benign.few-failures.yaml").write_text(_template("case: benign.few-failures", 5, 3))
    # ten answers, all NOERROR: the parser's responsecodename filter keeps none of them
    (tmp_path / "templates/benign.resolved.yaml").write_text(_template("case: benign.resolved", 10, 0))
    (tmp_path / "expected").mkdir()
    (tmp_path / "expected/asim_nxdomain.yaml").write_text(textwrap.dedent("""\
        detection: asim_nxdomain
        cases:
          T1568.002-1:
            fires: true
            rows: 1
            values: {Failures: 10}
          benign.few-failures:
            fires: false
            stopped_by: where Failures > 5
          benign.resolved:
            fires: false
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


def test_normalized_rows_through_an_asim_parser_with_named_filters(asim_project: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(asim_project)
    assert main(["run", "--quiet", "--report-dir", "out"]) == 0
    assert "3 passed, 0 failed" in (asim_project / "out/coverage.md").read_text()
    # The parser's filter is what keeps benign.resolved quiet: expect it to fire and that cell must fail.
    expected = asim_project / "expected/asim_nxdomain.yaml"
    data = yaml.safe_load(expected.read_text())
    data["cases"]["benign.resolved"] = {"fires": True}
    expected.write_text(yaml.safe_dump(data))
    assert main(["run", "--quiet", "--report-dir", "out2"]) == 1
