"""Case telemetry: every row schema-valid, documented values only, and the seed's expected signals
consistent across tables (same host/user/IP, DNS before connection, delivery before click, App
Service creation before the first visit, the Pinata CID in the gateway path, the bit.ly link in the
email, the wget --mirror in process, DNS and proxy rows)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import jsonschema
import pyarrow as pa
import pytest

from harness.config import load_config
from harness.errors import HarnessError
from harness.model import Case
from harness.suite import load_suite
from harness.workspace.tables import SchemaRegistry, row_json_schema
from synthetic.arrow import rows_to_arrow
from synthetic.export import json_rows
from synthetic.telemetry import TelemetryGenerator

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2025, 6, 1, 12, 0, 0)
REGISTRY = SchemaRegistry()

# Tables each atomic test's "Expected signal" (seed, Testing Methodology) names.
EXPECTED_TABLES = {
    "T1608.005-1": {"Syslog", "DeviceProcessEvents", "DnsEvents", "ASimDnsActivityLogs", "CommonSecurityLog"},
    "T1608.005-2": {
        "DeviceProcessEvents",
        "DnsEvents",
        "ASimDnsActivityLogs",
        "DeviceNetworkEvents",
        "CommonSecurityLog",
        "EmailEvents",
        "EmailUrlInfo",
    },
    "T1608.005-3": {
        "DeviceProcessEvents",
        "DnsEvents",
        "ASimDnsActivityLogs",
        "DeviceNetworkEvents",
        "CommonSecurityLog",
        "EmailEvents",
        "EmailUrlInfo",
        "UrlClickEvents",
    },
    "T1608.005-4": {"AzureActivity", "EmailEvents", "EmailUrlInfo", "DeviceNetworkEvents"},
}


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return load_suite(load_config(ROOT)).cases


@pytest.fixture(scope="module")
def telemetry(cases: list[Case]) -> dict:
    gen = TelemetryGenerator(1608005, NOW, REGISTRY)
    return {c.id: gen.case_telemetry(c) for c in cases}


def _entities(cases: list[Case], case_id: str) -> dict:
    gen = TelemetryGenerator(1608005, NOW, REGISTRY)
    from synthetic.entities import make_faker

    case = next(c for c in cases if c.id == case_id)
    return gen._entities(case, make_faker(1608005, case.id))


def test_every_row_of_every_scenario_is_schema_valid(telemetry: dict) -> None:
    validators = {t: jsonschema.Draft202012Validator(row_json_schema(REGISTRY[t])) for t in REGISTRY.names()}
    checked = 0
    for case_id, tel in telemetry.items():
        for table, rows in tel.rows.items():
            for row in json_rows(rows_to_arrow(REGISTRY[table], rows), REGISTRY[table]):
                errors = list(validators[table].iter_errors(row))
                assert not errors, f"{case_id} {table}: {errors[0].message}"
                checked += 1
    assert checked > 150


def test_row_schema_rejects_wrong_types_and_unknown_columns() -> None:
    v = jsonschema.Draft202012Validator(row_json_schema(REGISTRY["DnsEvents"]))
    assert not v.is_valid({"Name": None})  # strings are never null
    assert not v.is_valid({"ResultCode": "0"})
    assert not v.is_valid({"NoSuchColumn": "x"})
    assert not v.is_valid({"TimeGenerated": "2025-06-01 10:00"})
    assert v.is_valid({"Name": "a.example", "ResultCode": 0, "TimeGenerated": "2025-06-01T10:00:00.000000Z"})


@pytest.mark.parametrize("case_id", sorted(EXPECTED_TABLES))
def test_atomic_tests_emit_every_table_their_expected_signal_names(telemetry: dict, case_id: str) -> None:
    assert EXPECTED_TABLES[case_id] <= set(telemetry[case_id].rows)


def test_same_host_user_ip_across_tables(telemetry: dict) -> None:
    rows = telemetry["T1608.005-1"].rows
    proc = rows["DeviceProcessEvents"][0]
    host, ip, device_id = proc["DeviceName"], rows["DeviceNetworkEvents"][0]["LocalIP"], proc["DeviceId"]
    assert {r["Computer"] for r in rows["Syslog"]} == {r["HostName"] for r in rows["Syslog"]} == {host}
    assert {r["HostIP"] for r in rows["Syslog"]} == {ip}
    assert {r["DeviceName"] for r in rows["DeviceNetworkEvents"]} == {host}
    assert {r["DeviceId"] for r in rows["DeviceNetworkEvents"]} == {device_id}
    assert {r["ClientIP"] for r in rows["DnsEvents"]} == {ip}
    assert {(r["SrcHostname"], r["SrcIpAddr"]) for r in rows["ASimDnsActivityLogs"]} == {(host, ip)}
    assert {(r["SourceHostName"], r["SourceIP"], r["SourceUserName"]) for r in rows["CommonSecurityLog"]} == {
        (host, ip, proc["AccountUpn"])
    }
    assert telemetry["T1608.005-1"].identifiers >= {host, ip, device_id}


@pytest.mark.parametrize("case_id", sorted(EXPECTED_TABLES))
def test_dns_query_precedes_the_connection_it_resolves(telemetry: dict, case_id: str) -> None:
    rows = telemetry[case_id].rows
    for conn in rows.get("DeviceNetworkEvents", []):
        lookups = [d for d in rows["DnsEvents"] if d["Name"] == conn["RemoteUrl"] and d["ClientIP"] == conn["LocalIP"]]
        assert lookups, f"no lookup of {conn['RemoteUrl']}"
        assert any(
            d["TimeGenerated"] < conn["TimeGenerated"] and conn["RemoteIP"] in d["IPAddresses"].split(",")
            for d in lookups
        )
        proxied = [
            p
            for p in rows["CommonSecurityLog"]
            if p["DestinationHostName"] == conn["RemoteUrl"] and p["SourceIP"] == conn["LocalIP"]
        ]
        assert proxied and all(p["TimeGenerated"] > conn["TimeGenerated"] for p in proxied)
        assert all(p["DestinationIP"] == conn["RemoteIP"] for p in proxied)


@pytest.mark.parametrize("case_id", ["T1608.005-2", "T1608.005-3", "T1608.005-3.junked", "T1608.005-4"])
def test_delivery_precedes_the_click(telemetry: dict, case_id: str) -> None:
    rows = telemetry[case_id].rows
    assert rows["UrlClickEvents"]
    for click in rows["UrlClickEvents"]:
        mails = [
            e
            for e in rows["EmailEvents"]
            if e["NetworkMessageId"] == click["NetworkMessageId"] and e["RecipientEmailAddress"] == click["AccountUpn"]
        ]
        assert mails and all(m["TimeGenerated"] < click["TimeGenerated"] for m in mails)
        assert any(
            u["Url"] == click["Url"] and u["NetworkMessageId"] == click["NetworkMessageId"]
            for u in rows["EmailUrlInfo"]
        )


def test_app_service_creation_precedes_first_visit(telemetry: dict) -> None:
    rows = telemetry["T1608.005-4"].rows
    created = [
        r
        for r in rows["AzureActivity"]
        if r["OperationNameValue"] == "Microsoft.Web/sites/write" and r["ActivityStatusValue"] == "Success"
    ]
    assert created and created[0]["ResourceProvider"] == "Microsoft.Web"
    site = created[0]["Resource"] + ".azurewebsites.net"
    visits = [r["TimeGenerated"] for r in rows["DeviceNetworkEvents"] if r["RemoteUrl"] == site]
    visits += [r["TimeGenerated"] for r in rows["DnsEvents"] if r["Name"] == site]
    visits += [r["TimeGenerated"] for r in rows["UrlClickEvents"] if site in r["Url"]]
    assert visits and min(visits) > created[0]["TimeGenerated"]
    assert any(
        "azurewebsites.net" in r["RemoteUrl"] and r["InitiatingProcessFileName"] == "msedge.exe"
        for r in rows["DeviceNetworkEvents"]
    )


def test_visit_before_app_service_creation_is_a_template_error(cases: list[Case]) -> None:
    case = next(c for c in cases if c.id == "T1608.005-4")
    steps = json.loads(json.dumps(case.steps))
    for step in steps:
        if step["kind"] == "azure_activity":
            step["at"] = "+2h"  # after the victim's visit
    broken = Case(**{**case.__dict__, "steps": steps})
    with pytest.raises(HarnessError, match="before its App Service was created") as info:
        TelemetryGenerator(1608005, NOW, REGISTRY).case_telemetry(broken)
    assert info.value.file == case.template_path


def test_pinata_cid_appears_in_gateway_path(cases: list[Case], telemetry: dict) -> None:
    cid = _entities(cases, "T1608.005-2")["cid"]
    rows = telemetry["T1608.005-2"].rows
    upload = [r for r in rows["CommonSecurityLog"] if r["DestinationHostName"] == "api.pinata.cloud"]
    gateway = [r for r in rows["CommonSecurityLog"] if f"/ipfs/{cid}/" in r["RequestURL"]]
    assert upload and upload[0]["RequestMethod"] == "POST"
    assert gateway and gateway[0]["DestinationHostName"] == "gateway.pinata.cloud"
    assert gateway[0]["TimeGenerated"] > upload[0]["TimeGenerated"]
    assert any(f"/ipfs/{cid}/" in u["Url"] for u in rows["EmailUrlInfo"])
    assert any(
        f"/ipfs/{cid}/" in p["ProcessCommandLine"] and p["FileName"] == "swaks" for p in rows["DeviceProcessEvents"]
    )
    assert any(r["DnsQuery"] == "api.pinata.cloud" for r in rows["ASimDnsActivityLogs"])


@pytest.mark.parametrize("case_id", ["T1608.005-3", "T1608.005-3.junked"])
def test_bitly_link_created_via_api_is_the_one_mailed(cases: list[Case], telemetry: dict, case_id: str) -> None:
    link = _entities(cases, case_id)["link"]
    rows = telemetry[case_id].rows
    api = [r for r in rows["CommonSecurityLog"] if r["RequestURL"].startswith("https://api-ssl.bitly.com/")]
    assert api and api[0]["RequestMethod"] == "POST"
    curl = [p for p in rows["DeviceProcessEvents"] if p["FileName"] == "curl"]
    assert curl and "api-ssl.bitly.com" in curl[0]["ProcessCommandLine"]
    swaks = [p for p in rows["DeviceProcessEvents"] if p["FileName"] == "swaks"]
    assert swaks and link in swaks[0]["ProcessCommandLine"]
    mailed = [u for u in rows["EmailUrlInfo"] if u["Url"] == link]
    assert mailed and mailed[0]["TimeGenerated"] > api[0]["TimeGenerated"]
    assert [c["Url"] for c in rows["UrlClickEvents"]] == [link]
    assert any(r["RequestURL"] == link for r in rows["CommonSecurityLog"])
    assert any(r["Name"] == "api-ssl.bitly.com" for r in rows["DnsEvents"])


def test_wget_mirror_in_process_dns_and_proxy(cases: list[Case], telemetry: dict) -> None:
    target = "https://your-test-domain.example.com/login"
    rows = telemetry["T1608.005-1"].rows
    proc = rows["DeviceProcessEvents"][0]
    assert proc["FileName"] == "wget" and "--mirror" in proc["ProcessCommandLine"]
    assert target in proc["ProcessCommandLine"]
    execve = [r["SyslogMessage"] for r in rows["Syslog"] if r["SyslogMessage"].startswith("type=EXECVE")]
    assert execve and 'a1="--mirror"' in execve[0] and f'"{target}"' in execve[0]
    assert [r["Name"] for r in rows["DnsEvents"]] == ["your-test-domain.example.com"]
    gets = [r for r in rows["CommonSecurityLog"] if r["RequestMethod"] == "GET"]
    assert gets[0]["RequestURL"] == target and len(gets) >= 3
    assert all(g["RequestClientApplication"] == "Mozilla/5.0 (X11; Linux x86_64)" for g in gets)
    assert rows["DnsEvents"][0]["TimeGenerated"] < proc["TimeGenerated"] + (
        gets[0]["TimeGenerated"] - proc["TimeGenerated"]
    )


def test_auditd_hex_encodes_arguments_with_spaces() -> None:
    from synthetic.steps.process import audit_arg

    assert audit_arg("--mirror") == '"--mirror"'
    assert audit_arg("a b") == "612062"


def test_undocumented_value_is_an_error_naming_the_template(cases: list[Case]) -> None:
    case = next(c for c in cases if c.id == "T1608.005-3")
    steps = json.loads(json.dumps(case.steps))
    steps[0]["delivery_action"] = "DeliveredToJunk"
    with pytest.raises(HarnessError, match="DeliveryAction = 'DeliveredToJunk' is not a documented value") as info:
        TelemetryGenerator(1608005, NOW, REGISTRY).case_telemetry(Case(**{**case.__dict__, "steps": steps}))
    assert info.value.file and info.value.file.endswith("T1608.005-3.yaml")


def test_click_without_delivery_is_an_error(cases: list[Case]) -> None:
    case = next(c for c in cases if c.id == "T1608.005-3")
    steps = [s for s in json.loads(json.dumps(case.steps)) if s["kind"] != "email"]
    with pytest.raises(HarnessError, match="no earlier email step delivered"):
        TelemetryGenerator(1608005, NOW, REGISTRY).case_telemetry(Case(**{**case.__dict__, "steps": steps}))


def _digest(telemetry: dict) -> str:
    h = hashlib.sha256()
    for case_id in sorted(telemetry):
        for table, rows in sorted(telemetry[case_id].rows.items()):
            t = rows_to_arrow(REGISTRY[table], rows)
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, t.schema) as writer:
                writer.write_table(t)
            h.update(case_id.encode() + table.encode() + sink.getvalue().to_pybytes())
    return h.hexdigest()


def test_same_seed_same_tables(cases: list[Case], telemetry: dict) -> None:
    again = {c.id: TelemetryGenerator(1608005, NOW, REGISTRY).case_telemetry(c) for c in cases}
    other = {c.id: TelemetryGenerator(7, NOW, REGISTRY).case_telemetry(c) for c in cases}
    assert _digest(telemetry) == _digest(again)
    assert _digest(telemetry) != _digest(other)
