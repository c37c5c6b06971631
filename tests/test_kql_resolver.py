"""The resolver must name every unknown table/column with its KQL position, and never
report a problem where it cannot be sure (a valid rule gets no false error)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from harness.kql.resolver import parse_timespan, resolve
from harness.workspace.asim import asim_functions
from harness.workspace.tables import SchemaRegistry

REG = SchemaRegistry()


def problems(kql: str, **kw):
    return [(p.kind, p.name, p.line, p.column) for p in resolve(kql, REG, **kw).problems]


def test_unknown_column_with_position():
    assert problems("EmailEvents\n| where DeliveryActio == 'x'") == [("unknown-column", "DeliveryActio", 2, 9)]


def test_unknown_table():
    assert problems("EmailEventz | take 1") == [("unknown-table", "EmailEventz", 1, 1)]


def test_syntax_error_is_a_problem_not_an_exception():
    (p,) = resolve("EmailEvents | wherex", REG).problems
    assert p.kind == "syntax" and p.line == 1


def test_columns_tracked_through_pipeline():
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
    r = resolve(kql, REG)
    assert r.problems == []
    assert r.output_names == ["Who", "n", "set_Host", "TimeGenerated", "l"]
    assert r.columns_read["EmailEvents"] >= {"TimeGenerated", "NetworkMessageId", "SenderFromAddress"}
    assert r.columns_read["EmailUrlInfo"] >= {"Url", "NetworkMessageId", "TimeGenerated"}
    assert r.tables == ["EmailEvents", "EmailUrlInfo"]
    assert r.ago_windows[0].span == timedelta(days=1)


def test_join_left_right_keys_checked():
    kql = "EmailUrlInfo | join (EmailEvents) on $left.NetworkMessageId == $right.NetworkMessageIdx"
    assert problems(kql) == [("unknown-column", "NetworkMessageIdx", 1, 71)]


def test_join_renames_clashing_right_columns():
    r = resolve("EmailUrlInfo | join (EmailEvents | project NetworkMessageId, Subject) on NetworkMessageId", REG)
    assert "NetworkMessageId1" in r.output_names and "Subject" in r.output_names


def test_column_removed_by_project_is_unknown_later():
    assert problems("EmailEvents | project Subject | where SenderFromAddress != ''") == [
        ("unknown-column", "SenderFromAddress", 1, 39)
    ]


def test_scalar_let_and_parse_and_datatable():
    kql = """let n = 5; let t = datatable(a:string, b:long)["x", 1];
t | parse a with "x" rest:string | where b > n and rest != '' | project a, rest"""
    r = resolve(kql, REG)
    assert r.problems == [] and r.output_names == ["a", "rest"]


def test_unmodelled_operator_stops_resolution_without_false_errors():
    r = resolve("EmailEvents | evaluate pivot(DeliveryAction) | where Anything == 1", REG)
    assert r.problems == []
    assert [u.construct for u in r.unresolved] == ["evaluate"]


def test_fuzzy_union_leg_problems_are_warnings():
    r = resolve("union isfuzzy=true (EmailEvents | where Nope == 1), (NoSuchTable)", REG)
    assert r.ok
    assert [(p.severity, p.name) for p in r.problems] == [("warning", "Nope"), ("warning", "NoSuchTable")]


def test_stored_functions_asim_named_arguments():
    r = resolve(
        "_Im_Dns(starttime=ago(2d)) | where Domain has 'x' | project Domain, Nope", REG, functions=asim_functions()
    )
    assert [(p.kind, p.name) for p in r.problems] == [("unknown-column", "Nope")]
    assert "named-arguments" in r.constructs
    assert "DnsQuery" in r.columns_read["ASimDnsActivityLogs"]


def test_unknown_function_source():
    assert problems("_Im_Nothing(1) | take 1") == [("unknown-function", "_Im_Nothing", 1, 1)]


def test_watchlist_columns_when_known():
    kql = "_GetWatchlist('vip') | project SearchKey, Name, Bad"
    assert problems(kql, watchlists={"vip": ["Name"]}) == [("unknown-column", "Bad", 1, 49)]
    assert problems(kql) == []  # no watchlists configured: not checked


def test_comparisons_record_origin_for_value_lint():
    r = resolve('EmailEvents | extend A = DeliveryAction | where A in~ ("Delivered", "x")', REG)
    assert {(c.table, c.column, c.value) for c in r.comparisons} == {
        ("EmailEvents", "DeliveryAction", "Delivered"),
        ("EmailEvents", "DeliveryAction", "x"),
    }


@pytest.mark.parametrize(
    "text,expected",
    [
        ("14d", timedelta(days=14)),
        ("1.5h", timedelta(hours=1.5)),
        ("30min", timedelta(minutes=30)),
        ("time(1.00:00:00)", timedelta(days=1)),
        ("abc", None),
    ],
)
def test_parse_timespan(text, expected):
    assert parse_timespan(text) == expected
