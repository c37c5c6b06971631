"""The Kusto REST backend against a real `duckdb-kql serve` on 127.0.0.1.

The server is a real subprocess speaking the Kusto REST API; the differential check
runs the seed detection on it and on the embedded engine and must find nothing.
Only what that server cannot produce (a refused token, a partial failure inside an
HTTP 200) is served by a small local HTTP stub.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from harness.backends import make_backend
from harness.backends.embedded import EmbeddedBackend
from harness.backends.kusto import KustoBackend, literal, parse_v2
from harness.errors import HarnessError
from harness.run.compare import compare_results, query_sorts, render, sort_keys
from harness.timespan import parse_timespan
from harness.workspace.tables import SchemaRegistry

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


# -- fixtures: a real REST server -------------------------------------------------


def start_server(*extra: str) -> tuple[subprocess.Popen[str], str]:
    """`python -m duckdb_kql serve -p 0` (a free port) and the URL it prints."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "duckdb_kql", "serve", "-p", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        m = re.search(r"http://127\.0\.0\.1:\d+", line)
        if m:
            # keep draining its output so the server never blocks on a full pipe
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, m.group(0)
    proc.wait(timeout=10)
    pytest.fail(f"duckdb-kql serve did not start: {''.join(seen)}")


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    proc, url = start_server("--allow-write")
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry()


@pytest.fixture
def kusto(server_url: str, registry: SchemaRegistry) -> Iterator[KustoBackend]:
    backend = KustoBackend(server_url, registry=registry, timeout=30)
    try:
        yield backend
    finally:
        backend.close()


# -- realistic data: what the seed detection reads ------------------------------------


def seed_query() -> str:
    text = (ROOT / "tests/data/seed/T1608.005-link-target-sentinel-kql.txt").read_text(encoding="utf-8")
    start = text.index("let UrlShortenerDomains")
    end_marker = "| sort by SuspicionScore desc, TimeGenerated desc"
    return text[start : text.index(end_marker) + len(end_marker)]


def typed(registry: SchemaRegistry, table: str, columns: dict[str, list[Any]]) -> pa.Table:
    schema = registry[table].arrow_schema()
    return pa.table({name: pa.array(values, schema.field(name).type) for name, values in columns.items()})


def seed_tables(registry: SchemaRegistry) -> dict[str, pa.Table]:
    """Rows for every branch of the seed query, plus rows it must drop."""
    t = [NOW - timedelta(hours=h) for h in (1, 2, 3, 4, 5, 6, 7, 30)]
    t = [x.replace(tzinfo=None) for x in t]
    urls = typed(
        registry,
        "EmailUrlInfo",
        {
            "TimeGenerated": t,
            "NetworkMessageId": ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"],
            "Url": [
                "https://bit.ly/3xLogin",  # shortener + credential keyword
                "https://gateway.pinata.cloud/ipfs/bafybeigdyrzt5",  # IPFS gateway
                "https://contoso-login.azurewebsites.net/signin",  # PaaS + keyword
                "https://x.rabbit.ly/promo",  # "rabbit.ly" has no "bit.ly" term: dropped
                "https://example.org/ipfs/QmHash",  # IPFS path
                "https://tinyurl.com/abc",  # junked: no sender after the join filter? kept (Junked not in list)
                "https://nftstorage.link/ipfs/xyz",  # no matching email event: dropped
                "https://bit.ly/old",  # older than 24h: dropped
            ],
            "UrlDomain": [
                "bit.ly",
                "gateway.pinata.cloud",
                "contoso-login.azurewebsites.net",
                "x.rabbit.ly",
                "example.org",
                "tinyurl.com",
                "nftstorage.link",
                "bit.ly",
            ],
            "UrlLocation": ["Body"] * 8,
        },
    )
    events = typed(
        registry,
        "EmailEvents",
        {
            "TimeGenerated": t[:6] + [t[7], t[7]],
            "NetworkMessageId": ["m1", "m2", "m3", "m4", "m5", "m6", "m8", "m9"],
            "SenderFromAddress": [
                "a@evil.test",
                "b@evil.test",
                "c@evil.test",
                "d@x.test",
                "e@x.test",
                "f@x.test",
                "h@x.test",
                None,
            ],  # fmt: skip
            "SenderMailFromDomain": [
                "evil.test",
                "evil.test",
                "evil.test",
                "x.test",
                "x.test",
                "x.test",
                "x.test",
                None,
            ],
            "RecipientEmailAddress": ["u1@corp.test"] * 8,
            "Subject": ['Your "account" is locked', "Invoice\nattached", "Ré: sign-in", "promo", None, "x", "y", "z"],
            "DeliveryAction": [
                "Delivered",
                "Delivered",
                "Delivered",
                "Delivered",
                "Delivered",
                "Junked",
                "Delivered",
                "Blocked",
            ],  # fmt: skip
            "ThreatNames": [None] * 8,
            "EmailDirection": ["Inbound"] * 8,
            "LatestDeliveryLocation": ["Inbox/folder"] * 8,
            "AttachmentCount": [0, 1, None, 0, 0, 0, 0, 0],
            "EmailClusterId": [1 << 40, None, 3, 4, 5, 6, 7, 8],
            "_BilledSize": [1.5, None, 2.25, 0.0, 1.0, 1.0, 1.0, 1.0],
            "AdditionalFields": ['{"k": ["v", 1]}', None, "{}", None, None, None, None, None],
        },
    )
    return {"EmailUrlInfo": urls, "EmailEvents": events}


# -- the differential check on the seed detection ----------------------------------------


def test_seed_detection_agrees_with_embedded(kusto: KustoBackend, registry: SchemaRegistry) -> None:
    tables = seed_tables(registry)
    kusto.load(tables)
    embedded = EmbeddedBackend(registry)
    try:
        embedded.load(tables)
        query = seed_query()
        left = embedded.query(query, now=NOW)
        right = kusto.query(query, now=NOW)
    finally:
        embedded.close()
    # Not vacuous: each branch of the detection fires, and the dropped rows stay dropped.
    assert sorted(r["Url"] for r in right.records()) == sorted(
        [
            "https://bit.ly/3xLogin",
            "https://gateway.pinata.cloud/ipfs/bafybeigdyrzt5",
            "https://contoso-login.azurewebsites.net/signin",
            "https://example.org/ipfs/QmHash",
        ]
    )
    assert {r["LinkCategory"] for r in right.records()} == {"URLShortener", "IPFS_Gateway", "SuspiciousPaaS"}
    assert query_sorts(query) and sort_keys(query) == ["SuspicionScore", "TimeGenerated"]
    disagreements = compare_results(left, right, ordered=query_sorts(query), keys=sort_keys(query))
    assert disagreements == [], render(disagreements, left="embedded", right="kusto")


def test_differential_check_reports_a_real_difference(kusto: KustoBackend, registry: SchemaRegistry) -> None:
    """The same check must fail when the engines hold different data."""
    tables = seed_tables(registry)
    kusto.load(tables)
    extra = typed(
        registry,
        "EmailUrlInfo",
        {
            "TimeGenerated": [(NOW - timedelta(minutes=5)).replace(tzinfo=None)],
            "NetworkMessageId": ["m3"],
            "Url": ["https://ipfs.io/ipfs/extra"],
        },  # fmt: skip
    )
    kusto.append({"EmailUrlInfo": extra})
    embedded = EmbeddedBackend(registry)
    try:
        embedded.load(tables)
        query = 'EmailUrlInfo | where Url has "ipfs" | project NetworkMessageId, Url, TimeGenerated'
        found = compare_results(embedded.query(query, now=NOW), kusto.query(query, now=NOW), ordered=False)
    finally:
        embedded.close()
    assert [d.kind for d in found] == ["only_right"]
    assert "https://ipfs.io/ipfs/extra" in found[0].detail


# -- loading ------------------------------------------------------------------------------


def test_every_registry_table_exists_with_its_real_types(kusto: KustoBackend, registry: SchemaRegistry) -> None:
    kusto.load({})
    for name in ("EmailEvents", "DeviceProcessEvents", "SigninLogs"):
        result = kusto.query(f"{name} | take 1", now=NOW)
        assert result.rows == []
        expected = {c.name: ("bool" if c.type == "boolean" else c.type) for c in registry[name].columns}
        assert dict(zip(result.columns, result.types, strict=True)) == expected


def test_values_round_trip_and_missing_strings_are_empty(kusto: KustoBackend, registry: SchemaRegistry) -> None:
    kusto.load(seed_tables(registry))
    rows = kusto.query(
        "EmailEvents | where NetworkMessageId in ('m1', 'm2', 'm5') | sort by NetworkMessageId asc"
        " | project Subject, AttachmentCount, EmailClusterId, _BilledSize, AdditionalFields, TimeGenerated, TenantId",
        now=NOW,
    ).rows
    assert rows == [
        ('Your "account" is locked', 0, 1 << 40, 1.5, {"k": ["v", 1]}, NOW - timedelta(hours=1), ""),
        ("Invoice\nattached", 1, None, None, None, NOW - timedelta(hours=2), ""),
        ("", 0, 5, 1.0, None, NOW - timedelta(hours=5), ""),
    ]
    # "" rather than null: `== ""` only matches a loaded empty string
    count = kusto.query('EmailEvents | where Subject == "" and SenderIPv4 == "" | count', now=NOW).rows
    assert count == [(1,)]


def test_load_replaces_and_batches_append(server_url: str, registry: SchemaRegistry) -> None:
    backend = KustoBackend(server_url, registry=registry, batch_bytes=2_000)
    try:
        n = 150
        table = typed(
            registry,
            "UrlClickEvents",
            {
                "TimeGenerated": [(NOW - timedelta(seconds=i)).replace(tzinfo=None) for i in range(n)],
                "Url": [f"https://bit.ly/{i}" for i in range(n)],
                "IsClickedThrough": [i % 2 == 0 for i in range(n)],
            },
        )
        backend.load({"UrlClickEvents": table})
        assert backend.query("UrlClickEvents | count", now=NOW).rows == [(n,)]
        assert backend.query("UrlClickEvents | where IsClickedThrough | count", now=NOW).rows == [(n // 2,)]
        backend.load({"UrlClickEvents": table.slice(0, 3)})  # replaces, not appends
        assert backend.query("UrlClickEvents | count", now=NOW).rows == [(3,)]
    finally:
        backend.close()


def test_clock_is_pinned_in_the_query_text(kusto: KustoBackend, registry: SchemaRegistry) -> None:
    kusto.load(seed_tables(registry))
    assert kusto.query("print t = now()", now=NOW).rows == [(NOW,)]
    q = "EmailUrlInfo | where TimeGenerated > ago(24h) | count"
    assert kusto.query(q, now=NOW).rows == [(7,)]
    assert kusto.query(q, now=NOW + timedelta(days=3)).rows == [(0,)]


def test_literals_cover_every_kusto_type() -> None:
    assert literal(None, "string", "x") == '""'
    assert literal('a"b\\c\n', "string", "x") == '"a\\"b\\\\c\\n"'
    assert literal(None, "long", "x") == "long(null)"
    assert literal(float("nan"), "real", "x") == "real(nan)"
    assert literal(timedelta(days=-1, seconds=5), "timespan", "x") == "time(-0.23:59:55.0000000)"
    assert parse_timespan("-0.23:59:55.0000000") == timedelta(days=-1, seconds=5)
    assert parse_timespan("1.02:03:04.5670001") == timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=567000)
    with pytest.raises(HarnessError, match="T.c row 3"):
        literal("not-a-number", "int", "T.c row 3")


# -- errors -------------------------------------------------------------------------------


def test_syntax_error_points_into_the_detection(kusto: KustoBackend) -> None:
    with pytest.raises(HarnessError) as err:
        kusto.query("EmailEvents\n| where", now=NOW, detection="T1608.005-link-target", case="ipfs-gateway")
    e = err.value
    assert e.kind == "syntax"
    assert (e.line, e.detection, e.case) == (2, "T1608.005-link-target", "ipfs-gateway")  # not shifted by `set`
    assert "detection T1608.005-link-target" in str(e) and "case ipfs-gateway" in str(e)


def test_unknown_column_is_located(kusto: KustoBackend) -> None:
    with pytest.raises(HarnessError) as err:
        kusto.query("EmailEvents\n| where NoSuchColumn == 1", now=NOW)
    assert (err.value.kind, err.value.line, err.value.column) == ("schema", 2, 9)


def test_unknown_database(server_url: str) -> None:
    with pytest.raises(HarnessError, match="unknown database 'NoSuchDb'"):
        KustoBackend(server_url, database="NoSuchDb")


def test_unreachable_endpoint() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        with pytest.raises(HarnessError, match="cannot reach the Kusto endpoint") as err:
            KustoBackend(f"http://127.0.0.1:{port}", database="x")
    assert err.value.kind == "connection"


def test_server_refusing_writes_says_how_to_fix() -> None:
    proc, url = start_server()  # no --allow-write
    try:
        backend = KustoBackend(url)
        with pytest.raises(HarnessError, match="--allow-write"):
            backend.load(seed_tables(SchemaRegistry()))
    finally:
        stop_server(proc)


def test_make_backend_kusto(server_url: str, registry: SchemaRegistry) -> None:
    backend = make_backend("kusto", url=server_url, database="memory", registry=registry)
    try:
        assert backend.name == "kusto"
        assert backend.query("print x = 1", now=NOW).rows == [(1,)]
    finally:
        backend.close()
    with pytest.raises(HarnessError, match="--kusto-url"):
        make_backend("kusto", url=None, registry=registry)


# -- what only a stub can produce: auth refusals and partial failures -------------------------


class _Stub(BaseHTTPRequestHandler):
    responses: dict[str, tuple[int, Any]] = {}
    seen: list[dict[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's interface
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).seen.append(dict(self.headers))
        status, payload = self.responses[self.path]
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[str, type[_Stub]]]:
    handler = type("Handler", (_Stub,), {"responses": {}, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _frames(rows: list[Any], *, has_errors: bool = False, errors: Any = None) -> list[dict[str, Any]]:
    completion: dict[str, Any] = {"FrameType": "DataSetCompletion", "HasErrors": has_errors, "Cancelled": False}
    if errors is not None:
        completion["OneApiErrors"] = errors
    return [
        {"FrameType": "DataSetHeader", "Version": "v2.0", "IsProgressive": False},
        {
            "FrameType": "DataTable",
            "TableId": 1,
            "TableKind": "PrimaryResult",
            "TableName": "PrimaryResult",
            "Columns": [{"ColumnName": "x", "ColumnType": "long"}],
            "Rows": rows,
        },
        completion,
    ]


def test_refused_token_is_an_auth_error(stub: tuple[str, type[_Stub]]) -> None:
    url, handler = stub
    refusal = {"error": {"code": "Unauthorized", "message": "The token is expired", "@permanent": True}}
    handler.responses["/v2/rest/query"] = (401, refusal)
    with pytest.raises(HarnessError, match="refused the request \\(HTTP 401, Unauthorized\\): The token is expired"):
        KustoBackend(url, database="db", token_provider=lambda: "t0k3n")
    assert handler.seen[-1]["Authorization"] == "Bearer t0k3n"


def test_http_endpoint_gets_no_token(stub: tuple[str, type[_Stub]]) -> None:
    url, handler = stub
    handler.responses["/v2/rest/query"] = (200, _frames([[1]]))
    KustoBackend(url, database="db").close()
    assert "Authorization" not in handler.seen[-1]


def test_https_without_azure_identity_explains_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # as if the extra were not installed
    with pytest.raises(HarnessError, match=r"atomic-harness\[azure\]"):
        KustoBackend("https://example.invalid", database="db")


@pytest.mark.parametrize(
    "frames",
    [
        _frames([[1], {"OneApiErrors": [{"error": {"code": "LimitsExceeded", "@message": "E_RUNAWAY_QUERY"}}]}]),
        _frames(
            [[1]],
            has_errors=True,
            errors=[
                {
                    "error": {
                        "code": "LimitsExceeded",
                        "@message": "Query result set has exceeded the internal record count limit 500000",
                    }
                }
            ],
        ),  # fmt: skip
        _frames([[1]])[:-1],  # no DataSetCompletion: a truncated answer
    ],
    ids=["error-row", "has-errors", "truncated"],
)
def test_partial_failures_with_http_200_fail(stub: tuple[str, type[_Stub]], frames: list[Any]) -> None:
    url, handler = stub
    handler.responses["/v2/rest/query"] = (200, _frames([[1]]))
    backend = KustoBackend(url, database="db")
    handler.responses["/v2/rest/query"] = (200, frames)
    with pytest.raises(HarnessError) as err:
        backend.query("T", now=NOW, detection="d1", case="c1")
    assert (err.value.detection, err.value.case) == ("d1", "c1")


def test_completion_information_errors_fail() -> None:
    frames = _frames([[1]])
    frames.insert(
        2,
        {
            "FrameType": "DataTable",
            "TableKind": "QueryCompletionInformation",
            "Columns": [{"ColumnName": "Level"}, {"ColumnName": "LevelName"}, {"ColumnName": "Payload"}],
            "Rows": [[2, "Error", json.dumps({"Text": "partial query failure: low memory"})]],
        },
    )
    with pytest.raises(HarnessError, match="low memory"):
        parse_v2(frames, "T")
