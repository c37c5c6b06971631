"""The KQL facade over Microsoft's analyzer: the real vendored Kusto.Language in V8, no mocks.

One analyzer serves the whole session (harness.kql.analyzer.analyzer()); the tests that must break
an isolate (time and memory bounds) build their own engine so the shared one stays warm.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import threading
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest

from harness.errors import AnalyzerFailure, HarnessError, QueryLimitExceeded
from harness.kql.analyzer import Analyzer, analyze, analyzer
from harness.kql.engine import VENDORED_FILES, KustoEngine
from harness.kql.limits import MAX_NESTING, MAX_QUERY_CHARS, check_query, nesting_depth
from harness.kql.model import FunctionKind, ResultColumn, ResultSchema, StatementKind
from harness.kql.schema_diff import format_divergences, schema_divergences
from harness.workspace.context import WorkspaceContext

ROOT = Path(__file__).resolve().parent.parent


def codes(query: str, context: WorkspaceContext | None = None) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in analyze(query, context).errors]


# -- vendored files ---------------------------------------------------------------------------


def test_vendored_files_are_the_recorded_release():
    folder = resources.files("harness.kql") / "vendor"
    for name, digest in VENDORED_FILES.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert (folder / "SOURCE.md").is_file() and (folder / "LICENSE-Kusto-Query-Language.txt").is_file()


# -- Microsoft's diagnostics, one per class the hand-written resolver missed ------------------


@pytest.mark.parametrize(
    ("query", "code", "column", "words"),
    [
        ("DnsEvents | where Name > 5", "KS106", 24, "'>' is not defined for the operand types string and long"),
        ("DnsEvents | extend n = strlen(ClientIP, 1)", "KS119", 24, "'strlen' expects 1 argument"),
        ("DnsEvents | summarize count() by bin(Name, 1h)", "KS127", 34, "'bin' is not compatible with arguments"),
        ("DnsEvents | mv-expand Name", "KS141", 23, "must have the type dynamic"),
        ("DnsEvents | where isnotempty(Name) and Name", "KS106", 36, "'and' is not defined for the operand types bool"),
        ('DnsEvents | extend d = datetime_diff("hour", TimeGenerated)', "KS119", 24, "expects 3 arguments"),
        ('DnsEvents | where parse_ipv4(ClientIP) contains "10."', "KS106", 40, "'contains' is not defined"),
    ],
)
def test_each_error_class_is_reported_with_code_and_position(query, code, column, words):
    errors = analyze(query).errors
    assert [(d.code, d.severity, d.span.line, d.span.column) for d in errors] == [(code, "error", 1, column)]
    assert words in errors[0].message


def test_positions_are_line_and_column_in_the_query():
    query = "DnsEvents\n| where TimeGenerated > ago(1d)\n| where Nmae == 'x'"
    (error,) = analyze(query).errors
    assert (error.code, error.span.line, error.span.column, error.span.text(query)) == ("KS142", 3, 9, "Nmae")


def test_positions_count_python_characters_after_astral_ones():
    query = "DnsEvents | where Name == '\U0001f600' | where Nmae == 1"
    (error,) = analyze(query).errors
    assert error.span.text(query) == "Nmae"
    assert error.span.column == query.index("Nmae") + 1


def test_a_valid_query_has_no_diagnostics_and_its_exact_schema():
    a = analyze("DnsEvents | where Name has 'x' | project Name, ClientIP, TimeGenerated | extend n = strlen(Name)")
    assert a.diagnostics == () and a.ok
    assert a.result == ResultSchema(
        (
            ResultColumn("Name", "string"),
            ResultColumn("ClientIP", "string"),
            ResultColumn("TimeGenerated", "datetime"),
            ResultColumn("n", "long"),
        )
    )


def test_analyzer_advice_only_on_request():
    query = "DnsEvents | join (DnsEvents) on Name | where Name contains 'example' | summarize makeset(ClientIP)"
    assert analyze(query).diagnostics == ()
    advice = analyze(query, analyzers=True).diagnostics
    assert {(d.code, d.severity, d.from_analyzer) for d in advice} == {
        ("KS508", "warning", True),  # a join without kind
        ("KS500", "suggestion", True),  # contains
        ("KS507", "warning", True),  # makeset is deprecated
    }
    (join,) = [d for d in advice if d.code == "KS508"]
    assert join.span.text(query) == "join"


def test_column_names_are_case_sensitive():
    (error,) = analyze("DnsEvents | project clientip").errors
    assert error.code == "KS142" and "clientip" in error.message


def test_summarize_output_is_named_as_kusto_names_it():
    a = analyze("DnsEvents | summarize count(), dcount(Name), Last = max(TimeGenerated) by ClientIP")
    assert [(c.name, c.type) for c in a.result.columns] == [
        ("ClientIP", "string"),
        ("count_", "long"),
        ("dcount_Name", "long"),
        ("Last", "datetime"),
    ]


# -- the workspace: custom tables, stored functions, ASIM parsers, watchlists -----------------


@pytest.fixture(scope="module")
def custom_context(tmp_path_factory) -> WorkspaceContext:
    root = tmp_path_factory.mktemp("workspace")
    (root / "tables").mkdir()
    (root / "functions").mkdir()
    (root / "tables" / "Proxy_CL.json").write_text(
        json.dumps(
            {
                "table": "Proxy_CL",
                "columns": [
                    {"name": "TimeGenerated", "type": "datetime"},
                    {"name": "Url_s", "type": "string"},
                    {"name": "Bytes_d", "type": "real"},
                    {"name": "Tags_d", "type": "dynamic"},
                ],
            }
        ),
        encoding="utf-8",
    )
    (root / "functions" / "lookups.kql").write_text(
        ".create-or-alter function with (folder='x') LookupsOf(domain:string, minimum:long = 1)\n"
        "{\n    DnsEvents | where Name == domain | summarize Lookups = count() by ClientIP"
        " | where Lookups >= minimum\n}\n",
        encoding="utf-8",
    )
    (root / "functions" / "BigProxyRequests.kql").write_text("Proxy_CL | where Bytes_d > 1e6\n", encoding="utf-8")
    return WorkspaceContext.from_folders([root / "tables"], [], [root / "functions"])


def test_custom_table(custom_context):
    a = analyze("Proxy_CL | where Url_s has 'x' | extend t = Tags_d.kind | project Url_s, Bytes_d, t", custom_context)
    assert a.ok, a.errors
    assert [(c.name, c.type) for c in a.result.columns] == [("Url_s", "string"), ("Bytes_d", "real"), ("t", "dynamic")]
    assert codes("Proxy_CL | where Url == 'x'", custom_context) == [("KS142", 1, 18)]
    assert codes("Proxy_CL | take 1") == [("KS204", 1, 1)]  # not in the default workspace


def test_stored_functions_declared_from_their_definitions(custom_context):
    a = analyze("LookupsOf('evil.example', minimum = 3) | project ClientIP, Lookups", custom_context)
    assert a.ok, a.errors
    assert [(c.name, c.type) for c in a.result.columns] == [("ClientIP", "string"), ("Lookups", "long")]
    assert a.stored_functions == ["LookupsOf"]
    assert [(t.name, t.via) for t in a.tables] == [("DnsEvents", "LookupsOf")]
    assert a.tables[0].span.text(a.text) == "LookupsOf('evil.example', minimum = 3)"
    assert analyze("BigProxyRequests | project Url_s", custom_context).ok  # a bare-body file, called without ()
    assert [d.code for d in analyze("LookupsOf()", custom_context).errors] == ["KS119"]
    assert [d.code for d in analyze("LookupsOf('x', 1, 2)", custom_context).errors] == ["KS119"]


def test_a_definition_the_analyzer_cannot_read_is_named_and_the_rest_still_work():
    context = WorkspaceContext()
    context.functions = [*context.functions, ".create-or-alter function Broken(x:string) { DnsEvents | where ( }"]
    ws = analyzer().workspace(context)
    assert [p.what for p in ws.problems] == ["function Broken"]
    assert "_Im_Dns" in ws.functions
    assert analyze("_Im_Dns() | take 1", context).ok


def test_asim_parser_with_named_arguments():
    a = analyze(
        "_Im_Dns(starttime=ago(1d), domain_has_any=dynamic(['evil.example']), eventtype='Query')"
        " | project TimeGenerated, Domain, SrcIpAddr, DnsResponseCodeName"
    )
    assert a.ok, a.errors
    assert [c.type for c in a.result.columns] == ["datetime", "string", "string", "string"]
    assert [(t.name, t.via) for t in a.tables] == [("ASimDnsActivityLogs", "_Im_Dns")]
    (error,) = analyze("_Im_Dns(startime=ago(1d))").errors
    assert error.code == "KS196" and error.span.text("_Im_Dns(startime=ago(1d))") == "startime"


def test_getwatchlist_returns_the_configured_columns():
    context = WorkspaceContext.from_folders(watchlist_dirs=[ROOT / "detections/T1608.005/watchlists"])
    a = analyze("_GetWatchlist('protected_domain_lookalikes') | project SearchKey, Label, ProtectedDomain", context)
    assert a.ok, a.errors
    assert a.result == ResultSchema(
        (
            ResultColumn("SearchKey", "string"),
            ResultColumn("Label", "string"),
            ResultColumn("ProtectedDomain", "string"),
        )
    )
    assert [d.code for d in analyze("_GetWatchlist('x') | project Nope", context).errors] == ["KS142"]


def test_getwatchlist_without_watchlists_is_open_as_in_sentinel():
    a = analyze("_GetWatchlist('anything') | project SearchKey, AnyColumn")
    assert a.ok, a.errors
    assert a.result.open
    assert [(c.name, c.type) for c in a.result.columns] == [("SearchKey", "string"), ("AnyColumn", "unknown")]


# -- statement kinds --------------------------------------------------------------------------


def test_statement_kinds_and_control_commands():
    a = analyze("set query_now = datetime(2020-01-01);\nlet n = 5;\nlet T = DnsEvents | take n;\nT")
    assert [(s.kind, s.name) for s in a.statements] == [
        (StatementKind.SET, None),
        (StatementKind.LET, "n"),
        (StatementKind.LET, "T"),
        (StatementKind.QUERY, None),
    ]
    assert a.statements[2].tabular and not a.statements[1].tabular
    assert not a.is_plain_query  # a set option changes how the query runs
    assert analyze("let f = (x:string) { strlen(x) };\nDnsEvents | extend l = f(Name)").is_plain_query

    for command in (".drop table DnsEvents", '.create database evil persist (@"/tmp/x")', ".show tables"):
        c = analyze(command)
        assert c.kind == "Command" and c.has_command and not c.is_plain_query
        assert [s.kind for s in c.statements] == [StatementKind.COMMAND]
    after = analyze("DnsEvents | take 1;\n.drop table DnsEvents")  # a command after a query statement
    assert after.kind == "Query" and after.has_command and not after.is_plain_query
    assert [s.kind for s in after.statements] == [StatementKind.QUERY, StatementKind.COMMAND]
    assert after.statements[1].span.text(after.text) == ".drop table DnsEvents" and after.errors


def test_constructs_present_are_listed():
    a = analyze('externaldata(a:string)[@"https://example.invalid/x.csv"] | evaluate bag_unpack(pack_all())')
    assert {"ExternalDataExpression", "EvaluateOperator"} <= a.syntax
    assert "ExternalDataExpression" not in analyze("DnsEvents | take 1").syntax


# -- syntax facts -----------------------------------------------------------------------------

FACTS = """let lookback = 14d;
let domains = dynamic(["bit.ly", "t.co"]);
let Clicks = UrlClickEvents | where Url has_any (domains);
EmailEvents
| where TimeGenerated > ago(lookback)
| where DeliveryAction in ("Delivered", "DeliveredToJunk") and "Phish" == ThreatTypes
| summarize Emails = count(), Last = max(TimeGenerated) by NetworkMessageId, bin(TimeGenerated, 1h)
| where Emails > 3
| join kind=leftouter (Clicks | where ActionType == "ClickAllowed") on NetworkMessageId
| union (EmailUrlInfo | where UrlDomain endswith ".ly")
| sort by Emails desc, NetworkMessageId asc"""


@pytest.fixture(scope="module")
def facts():
    return analyze(FACTS, stage_columns=True)


def test_tables_and_functions(facts):
    assert facts.ok, facts.errors
    assert facts.table_names == ["UrlClickEvents", "EmailEvents", "EmailUrlInfo"]
    assert facts.functions_of(FunctionKind.BUILTIN) == ["ago", "bin"]
    assert facts.functions_of(FunctionKind.AGGREGATE) == ["count", "max"]
    assert facts.stored_functions == []


def test_pipelines_and_stages_with_spans_and_nesting(facts):
    main = facts.pipeline("query")
    stages = facts.stages_of(main)
    assert [s.keyword for s in stages] == ["where", "where", "summarize", "where", "join", "union", "sort"]
    assert main.source.text(FACTS) == "EmailEvents"
    assert stages[0].condition.text(FACTS) == "TimeGenerated > ago(lookback)"
    assert (
        stages[2].prefix.text(FACTS).startswith("EmailEvents\n| where") and stages[2].prefix.end == stages[2].span.end
    )
    assert stages[4].subqueries[0].text(FACTS).startswith("(Clicks | where")
    join_side = next(p for p in facts.pipelines if p.context == "join")
    assert (join_side.parent_stage, join_side.depth) == (stages[4].id, 1)
    assert [facts.stages[i].keyword for i in join_side.stages] == ["where"]
    leg = next(p for p in facts.pipelines if p.context == "union")
    assert leg.parent_stage == stages[5].id and leg.source.text(FACTS) == "EmailUrlInfo"
    let = next(p for p in facts.pipelines if p.context == "let")
    assert let.name == "Clicks" and let.depth == 0
    assert [(k.column, k.descending) for k in stages[6].sort] == [("Emails", True), ("NetworkMessageId", False)]
    assert [c.name for c in stages[2].columns] == ["NetworkMessageId", "TimeGenerated", "Emails", "Last"]


def test_literals_compared_with_columns_for_the_value_lint(facts):
    found = {(c.column.name, c.operator, c.literal.value, c.tables) for c in facts.comparisons}
    assert ("DeliveryAction", "in", "DeliveredToJunk", ("EmailEvents",)) in found
    assert ("DeliveryAction", "in", "Delivered", ("EmailEvents",)) in found
    assert ("ThreatTypes", "==", "Phish", ("EmailEvents",)) in found
    assert ("ActionType", "==", "ClickAllowed", ("UrlClickEvents",)) in found
    junk = next(c for c in facts.comparisons if c.literal.value == "DeliveredToJunk")
    assert junk.literal_span.text(FACTS) == '"DeliveredToJunk"' and junk.literal_span.line == 6
    phish = next(c for c in facts.comparisons if c.literal.value == "Phish")
    assert phish.reversed


def test_list_literals_inline_and_through_a_let(facts):
    inline = next(x for x in facts.lists if x.operator == "in")
    assert [lit.value for lit, _ in inline.items] == ["Delivered", "DeliveredToJunk"] and inline.complete
    via_let = next(x for x in facts.lists if x.operator == "has_any")
    assert via_let.variable == "domains"
    assert [span.text(FACTS) for _, span in via_let.items] == ['"bit.ly"', '"t.co"']


def test_time_windows_thresholds_summarize_and_joins(facts):
    (window,) = facts.ago_windows
    assert window.span_value == timedelta(days=14) and window.span.text(FACTS) == "ago(lookback)"
    assert {(t.function, t.let, t.value.value) for t in facts.timespans} == {
        (None, "lookback", timedelta(days=14)),
        ("bin", None, timedelta(hours=1)),
    }
    (threshold,) = facts.thresholds
    assert (threshold.column.name, threshold.operator, threshold.literal.value) == ("Emails", ">", 3)
    assert facts.stages[threshold.column.aggregate.stage].keyword == "summarize"
    (agg,) = facts.aggregations
    assert [(e.name, e.function) for e in agg.by] == [("NetworkMessageId", None), ("TimeGenerated", "bin")]
    assert [(e.name, e.function) for e in agg.aggregates] == [("Emails", "count"), ("Last", "max")]
    (join,) = facts.joins
    assert (join.kind, join.explicit, join.kind_span.text(FACTS)) == ("leftouter", True, "leftouter")
    assert [s.text(FACTS) for s in join.on] == ["NetworkMessageId"]
    assert analyze("DnsEvents | join (DnsEvents) on Name").joins[0].kind == "innerunique"


def test_the_full_tree_on_request():
    query = "DnsEvents | where Name == 'x'"
    assert analyze(query).tree is None
    tree = analyze(query, tree=True).tree
    assert tree[0].parent == -1
    tokens = [n.token for n in tree if n.token]
    assert tokens[:5] == ["DnsEvents", "|", "where", "Name", "=="]
    name = next(n for n in tree if n.type == "NameReference" and n.symbol == "Name")
    assert (name.symbol_kind, name.result_type, name.span.text(query)) == ("ColumnSymbol", "string", "Name")


def test_one_analyzer_serves_threads():
    queries = [f"DnsEvents | where Name == 'v{i}' | project Name{i % 3}" for i in range(12)]
    out: dict[int, list[str]] = {}

    def work(i: int) -> None:
        out[i] = [d.code for d in analyze(queries[i]).diagnostics]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {i: ["KS142"] for i in range(len(queries))}


# -- limits and failures ----------------------------------------------------------------------


def test_nesting_is_refused_before_v8_with_its_position():
    query = "DnsEvents\n| where " + "(" * 300 + "Name == 'x'" + ")" * 300
    with pytest.raises(QueryLimitExceeded) as info:
        analyze(query)
    assert f"more than {MAX_NESTING} levels" in info.value.reason
    assert (info.value.line, info.value.column) == (2, 9 + MAX_NESTING)


def test_brackets_in_strings_and_comments_do_not_nest():
    text = "T | where a == '((((' // ((((\n| where b == @\"[[[[\" and c == ```{{{{```"
    assert nesting_depth(text) == (0, None)
    check_query("DnsEvents | where Name in (" + ", ".join(f"'(x{i}'" for i in range(200)) + ")")


def test_size_is_refused_before_v8():
    with pytest.raises(QueryLimitExceeded) as info:
        analyze("DnsEvents | where Name == '" + "x" * 1_000_000 + "'")
    assert f"at most {MAX_QUERY_CHARS:,}" in info.value.reason


def test_a_deep_expression_within_the_bounds_is_a_diagnostic_not_a_crash():
    chain = " or ".join(f"Name == 'v{i}'" for i in range(3000))
    a = analyze(f"DnsEvents | where {chain}")
    assert a.errors and "depth" in a.errors[0].message


@pytest.fixture
def own_analyzer():
    """An analyzer with its own isolate, for tests that break it."""
    made: list[KustoEngine] = []

    def make(**kw) -> Analyzer:
        made.append(KustoEngine(**kw))
        return Analyzer(made[-1])

    yield make
    for eng in made:
        eng.close()


def test_an_analysis_past_its_time_is_stopped_and_the_next_one_works(own_analyzer):
    an = own_analyzer()
    big = "DnsEvents | where Name in (" + ", ".join(f"'v{i}'" for i in range(9000)) + ")"
    with pytest.raises(QueryLimitExceeded) as info:
        an.analyze(big, timeout=0.05)
    assert "longer than 0.05 s" in info.value.reason
    assert [d.code for d in an.analyze("DnsEvents | where Name > 5").errors] == ["KS106"]


def test_an_analysis_past_its_memory_is_stopped(own_analyzer):
    an = own_analyzer(heap_limit=24 * 2**20)
    with pytest.raises(QueryLimitExceeded) as info:
        an.analyze("DnsEvents | take 1")
    assert "more than 24 MB of analyzer memory" in info.value.reason


def test_an_exception_inside_the_analyzer_is_a_clear_error():
    eng = KustoEngine()
    try:
        with pytest.raises(AnalyzerFailure) as info:
            eng.declare("{}")  # no tables: walk.js fails reading them
        assert "the KQL analyzer failed on declaring the workspace" in str(info.value)
    finally:
        eng.close()


def _analyze_in_child(query: str) -> tuple[str, str] | list[str]:
    try:
        return [d.code for d in analyze(query).errors]
    except HarnessError as exc:
        return (exc.kind, exc.reason)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_process_forked_after_loading_gets_a_clear_error_not_a_hang():
    analyze("DnsEvents | take 1")  # V8 is up in this process
    with multiprocessing.get_context("fork").Pool(1) as pool:
        # a query this process has not analysed (analyses are cached, and a cached one needs no V8)
        kind, reason = pool.apply_async(_analyze_in_child, ("DnsEvents | where Name > 7 // child",)).get(timeout=60)
    assert kind == AnalyzerFailure.kind and "forked after it was loaded" in reason and "'spawn'" in reason
    assert [d.code for d in analyze("DnsEvents | where Name > 5").errors] == ["KS106"]  # the parent carries on


# -- schema differential ----------------------------------------------------------------------


def test_schema_differential_rules():
    kusto = ResultSchema((ResultColumn("A", "string"), ResultColumn("B", "long"), ResultColumn("Id", "guid")))
    assert schema_divergences(kusto, ["A", "B", "Id"], ["string", "long", "string"]) == []  # guid is stored as string
    diffs = schema_divergences(kusto, ["A", "b", "Id"], ["string", "long", "string"])
    assert [(d.kind, d.message) for d in diffs] == [
        ("missing", "Kusto returns column B (long); the engine does not"),
        ("extra", "the engine returns column b (long); Kusto does not"),
    ]
    assert [d.kind for d in schema_divergences(kusto, ["B", "A", "Id"], ["long", "string", "string"])] == ["order"]
    diffs = schema_divergences(kusto, ["A", "B", "Id"], ["string", "int", "string"])
    assert format_divergences(diffs) == "column B: Kusto types it long, the engine int"
    opened = ResultSchema((ResultColumn("A", "string"), ResultColumn("X", "unknown")), open=True)
    assert schema_divergences(opened, ["Z", "X", "A"], ["string", "dynamic", "string"]) == []
    assert schema_divergences(None, ["A"], ["string"]) == []


def test_schema_differential_catches_a_type_the_engine_gets_wrong():
    """Corpus rule a4f7b0f0 in miniature: Kusto types this `case` string, duckdb-kql dynamic."""
    from datetime import UTC, datetime

    from harness.backends.embedded import EmbeddedBackend

    query = 'DeviceNetworkEvents | extend Domain = case(RemoteUrl has "/", parse_url(RemoteUrl).Host, RemoteUrl)'
    query += " | project Domain, RemoteUrl"
    expected = analyze(query).result
    assert expected == ResultSchema((ResultColumn("Domain", "string"), ResultColumn("RemoteUrl", "string")))
    backend = EmbeddedBackend(threads=1)
    try:
        result = backend.query(query, now=datetime(2025, 6, 1, tzinfo=UTC), timeout=30)
    finally:
        backend.close()
    (diff,) = schema_divergences(expected, result.columns, result.types)
    assert (diff.kind, diff.message) == ("type", "column Domain: Kusto types it string, the engine dynamic")


# -- what the hand-written resolver's tests proved, now of Microsoft's analyzer --------------


def test_syntax_error_is_a_diagnostic_not_an_exception():
    (error,) = analyze("EmailEvents | wherex").errors
    assert error.syntax and error.span.line == 1
    assert not analyze("EmailEvents | where Subjectt == 1").errors[0].syntax  # a binding error


def test_columns_tracked_through_a_pipeline():
    kql = """
let Mail = EmailEvents | where TimeGenerated > ago(1d) | project NetworkMessageId, Sender = SenderFromAddress;
EmailUrlInfo
| extend Host = tostring(parse_url(Url).Host)
| join kind=inner (Mail) on NetworkMessageId
| summarize n = count(), make_set(Host), arg_max(TimeGenerated, Url) by Sender
| project-rename Who = Sender
| mv-expand set_Host
| extend l = strlen(Url)
| project Who, n, set_Host, TimeGenerated, l
"""
    a = analyze(kql)
    assert a.diagnostics == ()
    assert a.result.names == ["Who", "n", "set_Host", "TimeGenerated", "l"]
    assert a.table_names == ["EmailEvents", "EmailUrlInfo"]
    assert a.ago_windows[0].span_value == timedelta(days=1)


@pytest.mark.parametrize(
    ("query", "name", "column"),
    [
        ("EmailUrlInfo | join (EmailEvents) on $left.NetworkMessageId == $right.NetworkMessageIdx",
         "NetworkMessageIdx", 71),
        ("EmailEvents | project Subject | where SenderFromAddress != ''", "SenderFromAddress", 39),
        ("EmailEventz | take 1", "EmailEventz", 1),
        ("_Im_Nothing(1) | take 1", "_Im_Nothing", 1),
        ("_Im_Dns(starttime=ago(2d)) | where Domain has 'x' | project Domain, Nope", "Nope", 69),
    ],
)
def test_unknown_names_where_they_are_read(query, name, column):
    (error,) = analyze(query).errors
    assert (error.span.text(query), error.span.column) == (name, column)


def test_join_renames_clashing_right_columns():
    a = analyze("EmailUrlInfo | join (EmailEvents | project NetworkMessageId, Subject) on NetworkMessageId")
    assert "NetworkMessageId1" in a.result.names and "Subject" in a.result.names


def test_scalar_let_parse_and_datatable():
    kql = """let n = 5; let t = datatable(a:string, b:long)["x", 1];
t | parse a with "x" rest:string | where b > n and rest != '' | project a, rest"""
    a = analyze(kql)
    assert a.diagnostics == () and a.result.names == ["a", "rest"]


def test_columns_unknown_after_pivot_are_not_errors():
    a = analyze("EmailEvents | evaluate pivot(DeliveryAction) | where Anything == 1")
    assert a.errors == [] and a.result.open


def test_fuzzy_union_missing_source_is_a_promoted_warning_and_an_existing_legs_error_stands():
    from harness.kql.diagnostics import check

    missing = check("union isfuzzy=true (EmailEvents | take 1), (NoSuchTable | where Nope == 1)")
    assert missing.ok and [d.code for d in missing.warnings] == ["KS205"]
    broken = check("union isfuzzy=true (EmailEvents | where Nope == 1), (DnsEvents | take 1)")
    assert [d.code for d in broken.errors] == ["KS142"]


def test_analyses_are_cached_per_workspace_and_options():
    query = "DnsEvents | where Name == 'cached'"
    assert analyze(query) is analyze(query)
    assert analyze(query, tree=True) is not analyze(query)


def test_an_engine_function_list_that_carries_the_watchlist_shim_is_the_same_workspace():
    """Engines are given the stored functions with `_GetWatchlist` already in them: declaring a second
    one would make every call ambiguous (KS146)."""
    context = WorkspaceContext.from_folders(watchlist_dirs=[ROOT / "detections/T1608.005/watchlists"])
    engine_side = WorkspaceContext(registry=context.registry, functions=list(context.stored_functions()))
    assert analyzer().workspace(engine_side).key == analyzer().workspace(context).key
    assert analyze("_GetWatchlist('protected_domain_lookalikes') | take 1", engine_side).ok
