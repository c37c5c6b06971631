"""The embedded engine: real schemas, KQL term semantics, pinned clock, and errors that say where."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.config import parse_now
from harness.errors import HarnessError, QueryTimeout, UnsupportedConstruct
from harness.workspace.tables import SchemaRegistry

NOW = parse_now("2025-06-01T12:00:00Z")


@pytest.fixture(scope="module")
def engine():
    backend = EmbeddedBackend()
    hosts = ["bit.ly", "x.bit.ly", "rabbit.ly", "bit.ly.evil.com", "BIT.LY", "bit.lyx.com"]
    backend.load({
        "EmailUrlInfo": pa.table({
            "TimeGenerated": pa.array(
                [datetime(2025, 6, 1, 11), datetime(2025, 5, 30)] + [datetime(2025, 6, 1, 10)] * 4,
                type=pa.timestamp("us"),
            ),
            "Url": [f"https://{h}/a" for h in hosts],
            "UrlDomain": hosts,
            "NetworkMessageId": [f"m{i}" for i in range(len(hosts))],
        })
    })
    yield backend
    backend.close()


def run(engine, kql: str) -> list[tuple]:
    return engine.query(kql, now=NOW).rows


@pytest.mark.parametrize(
    ("host", "matches"),
    [("bit.ly", True), ("x.bit.ly", True), ("rabbit.ly", False), ("bit.ly.evil.com", True), ("BIT.LY", True),
     ("bit.lyx.com", False)],
)
def test_has_is_a_whole_term_match(engine, host: str, matches: bool) -> None:
    rows = run(engine, f'EmailUrlInfo | where UrlDomain == "{host}" | extend m = UrlDomain has "bit.ly" | project m')
    assert rows == [(matches,)]


def test_has_any_over_a_let_bound_list(engine) -> None:
    kql = 'let L = dynamic(["bit.ly", "tinyurl.com"]); EmailUrlInfo | where UrlDomain has_any (L) | project UrlDomain'
    assert sorted(r[0] for r in run(engine, kql)) == ["BIT.LY", "bit.ly", "bit.ly.evil.com", "x.bit.ly"]


def test_every_schema_column_exists_with_its_kusto_type(engine) -> None:
    result = engine.query("EmailEvents | take 1", now=NOW)
    schema = SchemaRegistry()["EmailEvents"]
    assert result.columns == schema.names
    assert dict(zip(result.columns, result.types, strict=False))["DeliveryAction"] == "string"
    assert dict(zip(result.columns, result.types, strict=False))["AttachmentCount"] == "int"


def test_missing_strings_load_as_empty_not_null(engine) -> None:
    # Kusto has no null strings: `== ""` must match a column the data did not give.
    rows = run(engine, 'EmailUrlInfo | where UrlLocation == "" | count')
    assert rows == [(6,)]


def test_clock_is_pinned(engine) -> None:
    # Only the row from 2025-05-30 is older than a day before the pinned clock.
    assert run(engine, "EmailUrlInfo | where TimeGenerated > ago(1d) | count") == [(5,)]
    assert run(engine, "print t = now()") == [(NOW,)]


def test_unknown_column_is_reported_with_its_position(engine) -> None:
    with pytest.raises(HarnessError) as info:
        engine.query("EmailUrlInfo\n| where NoSuchColumn == 1", now=NOW)
    assert info.value.reason == "unknown column 'NoSuchColumn'"
    assert (info.value.line, info.value.column) == (2, 9)


def test_unknown_table_is_reported(engine) -> None:
    with pytest.raises(HarnessError) as info:
        engine.query("NoSuchTable | take 1", now=NOW)
    assert "unknown table 'NoSuchTable'" in info.value.reason
    assert info.value.line == 1


def test_syntax_error_names_the_position(engine) -> None:
    with pytest.raises(HarnessError) as info:
        engine.query("EmailUrlInfo | where", now=NOW)
    assert info.value.kind == "syntax"
    assert info.value.line == 1


def test_unsupported_construct_is_refused_not_guessed(engine) -> None:
    with pytest.raises(UnsupportedConstruct) as info:
        engine.query("EmailUrlInfo\n| extend u = url_decode(Url)", now=NOW)
    assert info.value.kind == "unsupported"
    assert "url_decode" in info.value.reason
    assert info.value.line == 2
    # the refused construct and its place in the query are typed fields, not text to parse back
    assert info.value.construct == "function:url_decode" and info.value.span[0] == 2


def test_query_timeout_interrupts_the_engine() -> None:
    backend = EmbeddedBackend()
    backend.load({"EmailUrlInfo": pa.table({"Url": [f"https://x/{i}" for i in range(3000)]})})
    kql = ("EmailUrlInfo | extend k=1 | join kind=inner (EmailUrlInfo | extend k=1) on k "
           "| join kind=inner (EmailUrlInfo | extend k=1) on k | summarize count()")
    with pytest.raises(QueryTimeout):
        backend.query(kql, now=NOW, timeout=0.5)
    backend.close()


def test_loading_an_unknown_column_fails(engine) -> None:
    with pytest.raises(HarnessError, match="no column"):
        EmbeddedBackend().load({"EmailUrlInfo": pa.table({"Bogus": ["x"]})})
