"""The row filler on the real engine: every shipped table gets schema-typed rows that load and query."""

from __future__ import annotations

import json
from datetime import datetime

import jsonschema
import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.errors import HarnessError
from harness.workspace.tables import SchemaRegistry, row_json_schema
from synthetic.export import json_rows
from synthetic.filler import RowFiller, column_kind

REGISTRY = SchemaRegistry()
NOW = datetime(2025, 6, 1, 12)
START, END = datetime(2025, 6, 1, 10), datetime(2025, 6, 1, 11)
SHIPPED = REGISTRY.names()


@pytest.fixture(scope="module")
def loaded() -> tuple[EmbeddedBackend, dict]:
    filler = RowFiller(REGISTRY, seed=7)
    tables = {name: filler.table(name, 12, start=START, end=END, salt="test") for name in SHIPPED}
    engine = EmbeddedBackend(REGISTRY)
    engine.load({n: t for n, t in tables.items() if n not in engine.broken})
    yield engine, tables
    engine.close()


def test_all_shipped_tables_are_covered() -> None:
    assert len(SHIPPED) == 47


@pytest.mark.parametrize("table", SHIPPED)
def test_filled_rows_are_schema_typed_and_queryable(loaded: tuple, table: str) -> None:
    engine, tables = loaded
    schema = REGISTRY[table]
    validator = jsonschema.Draft202012Validator(row_json_schema(schema))
    for row in json_rows(tables[table], schema):
        validator.validate(row)  # only the table's columns, each of its Kusto type
    if table in engine.broken:
        pytest.skip(f"{table} cannot be created in DuckDB: {engine.broken[table]}")
    result = engine.query(f"{table} | take 10", now=NOW)
    assert len(result.rows) == 10
    row = dict(zip(result.columns, result.rows[0], strict=True))
    assert row.get("TimeGenerated", row.get("Timestamp")) is not None  # AADSignInEventsBeta has only Timestamp
    empty = [c.name for c in schema.columns if c.type == "string" and row.get(c.name) == ""]
    assert not empty, f"string columns left empty: {empty}"


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a = RowFiller(REGISTRY, seed=1).table("SigninLogs", 20, start=START, end=END, salt="s")
    b = RowFiller(REGISTRY, seed=1).table("SigninLogs", 20, start=START, end=END, salt="s")
    c = RowFiller(REGISTRY, seed=2).table("SigninLogs", 20, start=START, end=END, salt="s")
    assert a.equals(b)
    assert not a.equals(c)


def test_values_follow_column_meaning() -> None:
    filler = RowFiller(REGISTRY, seed=3)
    row = filler.row("DeviceProcessEvents", time=START, salt="m")
    assert row["DeviceId"] and len(row["DeviceId"]) == 40
    assert row["FolderPath"].endswith(row["FileName"])  # one binary per column prefix
    assert row["ProcessCommandLine"]
    assert "@" in row["AccountUpn"] and row["AccountUpn"].startswith(row["AccountName"])
    assert row["ActionType"] == "ProcessCreated"  # documented values (synthetic/pools/enums.json)
    net = filler.row("DeviceNetworkEvents", time=START, salt="m")
    assert net["RemotePort"] in (443, 80, 53, 445, 3389, 22, 8443, 389)
    assert net["LocalIP"].startswith("10.") and not net["RemoteIP"].startswith("10.")
    assert column_kind("DnsEvents", "Name") == "domain"
    assert column_kind("SigninLogs", "UserAgent") == "user_agent"


def test_given_values_are_kept_and_event_xml_is_built_from_the_row() -> None:
    filler = RowFiller(REGISTRY, seed=3)
    row = filler.row("SecurityEvent", {"EventID": 4688, "NewProcessName": r"C:\Tools\x & y.exe"}, time=START)
    assert row["EventID"] == 4688 and row["Activity"] == "4688 - A new process has been created."
    assert row["EventData"].startswith('<EventData xmlns="http://schemas.microsoft.com/win/2004/08/events/event">')
    assert r'<Data Name="NewProcessName">C:\Tools\x &amp; y.exe</Data>' in row["EventData"]
    assert f'<Data Name="SubjectUserName">{row["SubjectUserName"]}</Data>' in row["EventData"]
    windows = filler.row("WindowsEvent", {"EventID": 4624}, time=START)
    assert json.loads(windows["EventData"])["LogonType"]


def test_security_event_and_windows_event_union_runs_on_filled_rows(loaded: tuple) -> None:
    engine, _ = loaded
    result = engine.query(
        "union SecurityEvent, WindowsEvent | project EventID, EventData_string, EventData_dynamic", now=NOW)
    assert len(result.rows) == 24
    xml = [r[1] for r in result.rows if r[1]]
    bags = [r[2] for r in result.rows if r[2] is not None]
    assert len(xml) == 12 and all(x.startswith("<EventData") for x in xml)
    assert len(bags) == 12 and all(isinstance(b, dict) for b in bags)
    # the corpus shape (Sentinel 01f64465): each side parses its own EventData before the union
    per_side = engine.query(
        "union isfuzzy=true (SecurityEvent | extend Who = SubjectUserName), "
        "(WindowsEvent | extend Who = tostring(EventData.SubjectUserName)) | where isnotempty(Who) | count",
        now=NOW)
    with_subject = engine.query("WindowsEvent | where isnotempty(tostring(EventData.SubjectUserName)) | count",
                                now=NOW).rows[0][0]
    assert 0 < with_subject < 12  # some event ids (4634, 4776) have no subject
    assert per_side.rows[0][0] == 12 + with_subject


def test_union_without_type_conflict_is_unchanged(loaded: tuple) -> None:
    engine, _ = loaded
    result = engine.query("union SecurityEvent, WindowsEvent | summarize by Computer | count", now=NOW)
    assert result.rows[0][0] >= 1
    sql = engine.translate("union DnsEvents, DnsEvents | take 1", now=NOW)
    assert "RENAME" not in sql


def test_merged_name_is_gone_after_a_type_conflict(loaded: tuple) -> None:
    engine, _ = loaded  # as in Kusto: the column exists only as EventData_string and EventData_dynamic
    with pytest.raises(HarnessError):
        engine.query("union SecurityEvent, WindowsEvent | project EventData", now=NOW)


def test_fakers_sharing_the_ip_networks_draw_what_a_fresh_faker_draws() -> None:
    """make_faker hands every new Faker the IPv4 networks one worked out (synthetic.entities._share_network_cache):
    the draws are those of a Faker that works them out itself, for every kind of address."""
    from faker import Faker

    from synthetic.entities import SecurityTelemetryProvider, make_faker, stable_seed

    def draws(fake: Faker) -> list[str]:
        return ([fake.ipv4_public() for _ in range(40)] + [fake.ipv4_private() for _ in range(10)]
                + [fake.ipv4() for _ in range(10)] + [fake.ipv4_public(address_class="b") for _ in range(5)]
                + [fake.ipv4(network=True) for _ in range(5)])

    make_faker(0, "warm")  # the networks are worked out now, if no Faker of this process did yet
    for parts in [(1, "x"), (1608005, "filler-pools")]:
        fresh = Faker("en_US")
        fresh.add_provider(SecurityTelemetryProvider)
        fresh.seed_instance(stable_seed(*parts))
        assert draws(make_faker(*parts)) == draws(fresh)
