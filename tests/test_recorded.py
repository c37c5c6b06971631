"""Recorded telemetry: Log Analytics exports (tests/data/samples) typed by the schema, portal headers and
date formats, BOM, unknown columns reported, timestamps rebased with their spacing kept."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.model import Case
from harness.workspace.tables import SchemaRegistry
from synthetic.recorded import load_recorded, parse_datetime, rebase, recorded_tables
from synthetic.telemetry import TelemetryGenerator

SAMPLES = Path(__file__).resolve().parent / "data" / "samples"
REGISTRY = SchemaRegistry()
NOW = datetime(2025, 6, 1, 12, 0, 0)
TABLE_OF = {
    "CiscoSEG.csv": "CommonSecurityLog",
    "Forcepoint Cloud Security Gateway.csv": "CommonSecurityLog",
    "wirex_sample_DNS.csv": "CommonSecurityLog",
    "wirex_sample_dataHttp.csv": "CommonSecurityLog",
    "InfobloxCloudDataConnector-sampledata.csv": "CommonSecurityLog",
    "PaloAltoCDLEvent.json": "CommonSecurityLog",
    "FireEyeNX.json": "CommonSecurityLog",
    "SonicWallFirewall_Query_Data.csv": "CommonSecurityLog",
    "Fortigate.json": "CommonSecurityLog",
    "ZScaler.json": "CommonSecurityLog",
    "InfobloxNIOS.json": "Syslog",
    "CiscoWSA.json": "Syslog",
    "SymantecProxySG.json": "Syslog",
    "CiscoMeraki.json": "Syslog",
    "WatchGuardFireBoxV.csv": "Syslog",
}


@pytest.mark.parametrize("name", sorted(TABLE_OF))
def test_every_sample_loads_typed(name: str) -> None:
    rec = load_recorded(SAMPLES / name, REGISTRY, TABLE_OF[name])
    assert rec.rows, name
    schema = REGISTRY[rec.table]
    for row in rec.rows:
        for col, value in row.items():
            kind = schema.column(col).type
            if kind == "string":
                assert isinstance(value, str)
            elif kind == "datetime":
                assert value is None or isinstance(value, datetime)
            elif kind in ("int", "long"):
                assert value is None or isinstance(value, int)


def test_portal_headers_bom_and_dates() -> None:
    rec = load_recorded(SAMPLES / "WatchGuardFireBoxV.csv", REGISTRY)  # BOM, "TimeGenerated [UTC]"
    assert rec.table == "Syslog" and not rec.unknown_columns
    first = rec.rows[0]
    assert first["TimeGenerated"] == datetime(2022, 7, 7, 20, 55, 10, 130000)
    assert first["EventTime"] == datetime(2022, 7, 7, 22, 55, 10)
    assert first["ProcessID"] is None and first["Facility"] == "local1"
    assert parse_datetime("3/30/2022, 10:52:35.857 AM") == datetime(2022, 3, 30, 10, 52, 35, 857000)
    assert parse_datetime("2022-03-30T10:52:35.1234567Z") == datetime(2022, 3, 30, 10, 52, 35, 123456)


def test_zone_in_header_is_converted_to_utc() -> None:
    rec = load_recorded(SAMPLES / "InfobloxCloudDataConnector-sampledata.csv", REGISTRY, "CommonSecurityLog")
    assert any(c.startswith("InfobloxB1") for c in rec.unknown_columns)  # reported, not loaded
    assert "TimeGenerated" in rec.rows[0] and rec.rows[0]["TimeGenerated"] is not None
    assert "not in CommonSecurityLog were dropped" in rec.note()


def test_json_numbers_become_schema_strings() -> None:
    rec = load_recorded(SAMPLES / "Fortigate.json", REGISTRY)
    assert rec.table == "CommonSecurityLog"
    assert rec.rows[0]["DeviceEventClassID"] == "28704" and rec.rows[0]["DestinationPort"] == 3389


def test_rebase_keeps_spacing() -> None:
    rec = load_recorded(SAMPLES / "CiscoWSA.json", REGISTRY)
    before = sorted(r["TimeGenerated"] for r in rec.rows)
    moved = rebase(rec.rows, REGISTRY["Syslog"], NOW - timedelta(minutes=5))
    after = sorted(r["TimeGenerated"] for r in moved)
    assert after[-1] == NOW - timedelta(minutes=5)
    assert [b - before[0] for b in before] == [a - after[0] for a in after]
    assert moved[0]["EventTime"] - moved[0]["TimeGenerated"] == rec.rows[0]["EventTime"] - rec.rows[0]["TimeGenerated"]


def test_recorded_background_tables() -> None:
    tables, notes = recorded_tables([SAMPLES / "ZScaler.json", SAMPLES / "CiscoWSA.json"], REGISTRY, NOW)
    assert tables["CommonSecurityLog"].num_rows == 2 and tables["Syslog"].num_rows == 36
    assert notes == []


def test_unknown_table_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "rows.json"
    bad.write_text('[{"Foo": 1}]', encoding="utf-8")
    with pytest.raises(HarnessError, match="cannot tell which table"):
        load_recorded(bad, REGISTRY)


def test_recorded_step_in_a_case(tmp_path: Path) -> None:
    (tmp_path / "proxy.json").write_bytes((SAMPLES / "ZScaler.json").read_bytes())
    case = Case(
        id="benign.recorded",
        kind="benign",
        description="",
        template_path=str(tmp_path / "t.yaml"),
        steps=[{"kind": "recorded", "file": "proxy.json", "at": "+10m", "identifiers": ["RequestURL"]}],
        time="-1h",
    )
    tel = TelemetryGenerator(1, NOW, REGISTRY).case_telemetry(case)
    rows = tel.rows["CommonSecurityLog"]
    assert len(rows) == 2 and max(r["TimeGenerated"] for r in rows) == NOW - timedelta(minutes=50)
    assert "http://dayvidmarketingdireto.com.br/shii/office-RD117/" in tel.identifiers
