"""Built-in functions the engine lacks, inlined from their documented definitions (harness.kql.inlined):
each checked with the examples of Microsoft's own documentation, run on the engine through the desugaring,
and the analyzer's result schema is unchanged. Where no exact definition exists the call is left as written
and the engine refuses it."""

from __future__ import annotations

import duckdb_kql
import pytest

from harness.checks.execution import NOW, sample_backend
from harness.errors import UnsupportedConstruct
from harness.kql.analyzer import analyze
from harness.kql.desugar import desugar
from harness.kql.inlined import ipv4_is_match, split_at
from harness.workspace.context import WorkspaceContext


@pytest.fixture(scope="module")
def backend():
    b = sample_backend(WorkspaceContext())
    yield b
    b.close()


def one(backend, kql):
    rows = backend.query(kql, now=NOW).rows
    assert len(rows) == 1
    return rows[0]


def inlined(q: str) -> str:
    d = desugar(q)
    assert "inlined built-in" in d.names, (d.declined, d.refusals)
    assert analyze(q).result == analyze(d.text).result
    return d.text


# https://learn.microsoft.com/kusto/query/ipv4-is-match-function: its examples and its table of the combined
# IP-prefix rule, then invalid input.
IPV4_IS_MATCH = [
    ("'192.168.1.1/24'", "'192.168.1.255'", None, True),
    ("'192.168.1.0'", "'192.168.1.0'", None, True),
    ("'192.168.1.1'", "'192.168.1.255/24'", None, True),
    ("'192.168.1.1/30'", "'192.168.1.255/24'", None, True),
    ("'192.168.1.1'", "'192.168.1.0'", 31, True),
    ("'192.168.1.1/24'", "'192.168.1.255'", 31, True),
    ("'192.168.1.1'", "'192.168.1.255'", 24, True),
    ("'192.168.1.1'", "'192.168.1.255'", None, False),
    ("'127.0.0.1'", "'127.0.0.1'", None, True),
    # null "if conversion for one of the two IPv4 strings wasn't successful"
    ("'not an address'", "'127.0.0.1'", None, None),
    ("'127.0.0.1'", "'10.0.0.1/33'", None, None),
    ("''", "''", None, None),
]


@pytest.mark.parametrize(("ip1", "ip2", "prefix", "want"), IPV4_IS_MATCH)
def test_ipv4_is_match_documented_examples(backend, ip1, ip2, prefix, want):
    call = f"ipv4_is_match({ip1}, {ip2}{'' if prefix is None else f', {prefix}'})"
    q = f"print r = {call}"
    with pytest.raises(duckdb_kql.KqlUnsupportedError):  # the engine lacks the function
        duckdb_kql.to_sql(q)
    text = inlined(q)
    assert "ipv4_is_match" not in text
    assert one(backend, q) == (want,)
    # the arguments swapped give the same answer (the definition is symmetric)
    swapped = f"print r = ipv4_is_match({ip2}, {ip1}{'' if prefix is None else f', {prefix}'})"
    assert one(backend, swapped) == (want,)


def test_ipv4_is_match_on_a_column_as_the_corpus_calls_it(backend):
    q = ("SigninLogs | extend ClientIP = IPAddress | where ipv4_is_match('127.0.0.1', ClientIP) == false"
         " | summarize n = count()")
    plain = "SigninLogs | where IPAddress != '127.0.0.1' and isnotnull(parse_ipv4(IPAddress)) | summarize n = count()"
    inlined(q)
    assert one(backend, q) == one(backend, plain)


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("print r = ipv4_is_match('1.2.3.4', '1.2.3.4', 33)", "a prefix outside 0..32 is not documented"),
        ("print p = 8 | extend r = ipv4_is_match('1.2.3.4', '1.2.3.4', p)", "a prefix that is not a literal"),
        ("print r = ipv4_is_match(tostring(rand()), '1.2.3.4')", "an argument read twice must not change"),
        ("print r = split('a_b', '_', -1)", "a negative index is not documented"),
        ("print i = 1 | extend r = split('a_b', '_', i)", "an index that is not a literal"),
        ("print r = ipv4_is_private('10.1.2.3')", "no exact definition from parse_ipv4 for short prefixes"),
    ],
)
def test_calls_without_an_exact_definition_are_left_to_the_engine(backend, query, why):
    d = desugar(query)
    assert "inlined built-in" not in d.names, why
    with pytest.raises(UnsupportedConstruct):
        backend.query(query, now=NOW)


# https://learn.microsoft.com/kusto/query/split-function: the example with requestedIndex, and an index past
# the end ("contains the requested substring at the index if it exists").
@pytest.mark.parametrize(
    ("source", "index", "want"),
    [("aaa_bbb_ccc", 1, ["bbb"]), ("aaa_bbb_ccc", 0, ["aaa"]), ("aaa_bbb_ccc", 3, []), ("", 0, [""])],
)
def test_split_with_a_requested_index(backend, source, index, want):
    q = f"print r = split('{source}', '_', {index})"
    assert "array_slice" in inlined(q)
    assert one(backend, q) == (want,)


def test_split_with_an_index_on_a_column_as_the_corpus_calls_it(backend):
    q = "SigninLogs | extend d = tostring(split(UserPrincipalName, '@', 1)[0]) | project UserPrincipalName, d"
    rows = backend.query(q, now=NOW).rows
    assert rows and all(d == (u.split("@")[1] if "@" in u else "") for u, d in rows)


def test_the_definitions_refuse_what_is_not_documented():
    with pytest.raises(ValueError):
        split_at("s", "'_'", -1)
    with pytest.raises(ValueError):
        ipv4_is_match("a", "b", 40)
