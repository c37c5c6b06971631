"""Background traffic: exact volume across all ten tables, documented values, the seed's benign
look-alike mix, no collision with case identifiers, schema-valid rows, and seed determinism."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from harness.config import load_config
from harness.suite import load_suite
from harness.workspace.tables import SchemaRegistry, row_json_schema
from synthetic.background import BACKGROUND_TABLES, background_email, background_tables
from synthetic.enums import enum_violation
from synthetic.export import json_rows
from synthetic.telemetry import TelemetryGenerator

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2025, 6, 1, 12, 0, 0)
REGISTRY = SchemaRegistry()


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return background_tables(1608005, NOW, 10_000)


def _digest(tables: dict[str, pa.Table]) -> str:
    h = hashlib.sha256()
    for name, t in sorted(tables.items()):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, t.schema) as writer:
            writer.write_table(t)
        h.update(name.encode() + sink.getvalue().to_pybytes())
    return h.hexdigest()


def test_exact_volume_over_every_table(tables: dict[str, pa.Table]) -> None:
    assert set(tables) == set(BACKGROUND_TABLES)
    assert sum(t.num_rows for t in tables.values()) == 10_000


def test_rows_fall_in_the_window_and_strings_are_never_null(tables: dict[str, pa.Table]) -> None:
    for name, t in tables.items():
        times = t.column("TimeGenerated")
        assert pc.min(times).as_py() > NOW - timedelta(hours=48), name
        assert pc.max(times).as_py() <= NOW, name
        for col in t.column_names:
            if REGISTRY[name].column(col).type == "string":
                assert t.column(col).null_count == 0, f"{name}.{col}"


def test_background_rows_are_schema_valid_and_documented(tables: dict[str, pa.Table]) -> None:
    for name, t in tables.items():
        validator = jsonschema.Draft202012Validator(row_json_schema(REGISTRY[name]))
        sample = t.slice(0, 80)
        for row in json_rows(sample, REGISTRY[name]):
            assert validator.is_valid(row), f"{name}: {next(validator.iter_errors(row)).message}"
        for row in sample.to_pylist():
            assert enum_violation(name, row) is None, name


def test_mix_has_legitimate_shorteners_paas_and_ipfs_in_small_shares(tables: dict[str, pa.Table]) -> None:
    hosts = tables["CommonSecurityLog"].column("DestinationHostName").cast(pa.string()).to_pylist()
    n = len(hosts)
    share = {
        "shortener": sum(h in ("bit.ly", "ow.ly", "tinyurl.com", "buff.ly", "aka.ms") for h in hosts) / n,
        "paas": sum(
            h.endswith((".azurewebsites.net", ".netlify.app", ".vercel.app", ".web.app", ".appspot.com", ".pages.dev"))
            for h in hosts
        )
        / n,
        "ipfs": sum(h in ("ipfs.io", "dweb.link", "cloudflare-ipfs.com") for h in hosts) / n,
        "corporate": sum("contoso" in h for h in hosts) / n,
    }
    assert 0.01 < share["shortener"] < 0.06
    assert 0.005 < share["paas"] < 0.05
    assert 0.0 < share["ipfs"] < 0.015
    assert share["corporate"] > 0.15


def test_web_sessions_resolve_before_connecting(tables: dict[str, pa.Table]) -> None:
    dns = tables["DnsEvents"].slice(0, 500).to_pylist()
    net = tables["DeviceNetworkEvents"].slice(0, 500).to_pylist()
    for d, c in zip(dns, net, strict=True):  # the same session in both tables
        assert d["Name"] == c["RemoteUrl"] and d["ClientIP"] == c["LocalIP"]
        assert d["TimeGenerated"] < c["TimeGenerated"]


def test_clicks_follow_delivery(tables: dict[str, pa.Table]) -> None:
    mail = {r["NetworkMessageId"]: r for r in tables["EmailEvents"].to_pylist()}
    for click in tables["UrlClickEvents"].to_pylist():
        m = mail[click["NetworkMessageId"]]
        assert m["DeliveryAction"] == "Delivered" and m["TimeGenerated"] < click["TimeGenerated"]
        assert m["RecipientEmailAddress"] == click["AccountUpn"]


def test_no_case_identifier_appears_in_the_background(tables: dict[str, pa.Table]) -> None:
    cases = load_suite(load_config(ROOT)).cases
    gen = TelemetryGenerator(1608005, NOW, REGISTRY)
    idents = set().union(*(gen.case_telemetry(c).identifiers for c in cases))
    for name, t in tables.items():
        for col in t.column_names:
            if pa.types.is_string(t.column(col).type) or pa.types.is_dictionary(t.column(col).type):
                values = set(pc.unique(t.column(col).cast(pa.string())).to_pylist())
                assert not values & idents, f"{name}.{col} holds case identifiers {sorted(values & idents)[:3]}"


def test_same_seed_same_tables() -> None:
    a = background_tables(42, NOW, 1_000)
    b = background_tables(42, NOW, 1_000)
    c = background_tables(43, NOW, 1_000)
    assert _digest(a) == _digest(b) != _digest(c)


def test_email_entry_point_kept() -> None:
    out = background_email(1, NOW, 100)
    assert out["EmailEvents"].num_rows == 100 and out["EmailUrlInfo"].num_rows == 200
    assert sum(out["EmailEvents"].column("UrlCount").to_pylist()) == 200
