"""Untrusted detections cannot escape the engine (issue 13, requirement 1).

One test per escape route: the route is refused with the construct named, nothing was written,
and the data other detections read is untouched. Real engines only: the embedded duckdb-kql over
DuckDB, and a real `duckdb-kql serve` on 127.0.0.1 for the REST backend.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import duckdb_kql
import pyarrow as pa
import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.checks.validate import validate
from harness.config import RunConfig, parse_now
from harness.errors import HarnessError, RefusedConstruct, ResourceExhausted
from harness.kql.guard import refuse_non_query, refuse_remote
from harness.suite import Suite
from harness.workspace.context import WorkspaceContext
from harness.workspace.tables import Column, SchemaRegistry, TableSchema
from tests.test_report import make_seed_project, run_cli, shared_run

NOW = parse_now("2025-06-01T12:00:00Z")
ROWS = 6


def email_urls() -> pa.Table:
    return pa.table({
        "TimeGenerated": pa.array([datetime(2025, 6, 1, 11)] * ROWS, type=pa.timestamp("us")),
        "Url": [f"https://bit.ly/{i}" for i in range(ROWS)],
        "UrlDomain": ["bit.ly"] * ROWS,
        "NetworkMessageId": [f"m{i}" for i in range(ROWS)],
    })


def hostile_queries(tmp: Path) -> dict[str, tuple[str, str]]:
    """Escape route -> (query, the construct the refusal must name)."""
    return {
        "create-database": (f'.create database evil persist (@"{tmp}/evil.duckdb")', ".create"),
        "attach-database": (f'.attach database s from @"{tmp}/other.duckdb"', ".attach"),
        "set-or-replace": (".set-or-replace EmailUrlInfo <| EmailUrlInfo | take 0", ".set-or-replace"),
        "append": (".append EmailUrlInfo <| EmailUrlInfo", ".append"),
        "comment-hides-command": ("// just a comment\n  .set-or-replace EmailUrlInfo <| EmailUrlInfo | take 0",
                                  ".set-or-replace"),
        "command-after-let": ("let x = 1;\n.drop table EmailUrlInfo", ".drop"),
        "show": (".show tables", ".show"),
        "set-clock": ("set query_now = datetime(2020-01-01);\nprint now()", "set query_now"),
    }


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EmbeddedBackend]:
    other = duckdb.connect(str(tmp_path / "other.duckdb"))
    other.execute("CREATE TABLE T AS SELECT 'the other database' AS secret")
    other.close()
    backend = EmbeddedBackend()
    backend.load({"EmailUrlInfo": email_urls()})
    yield backend
    backend.close()


def count(backend, table: str = "EmailUrlInfo") -> int:
    return backend.query(f"{table} | count", now=NOW).rows[0][0]


@pytest.mark.parametrize("route", list(hostile_queries(Path("/x"))))
def test_embedded_refuses_every_non_query(engine: EmbeddedBackend, tmp_path: Path, route: str) -> None:
    query, construct = hostile_queries(tmp_path)[route]
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(RefusedConstruct) as info:
        engine.query(query, now=NOW)
    assert info.value.construct == construct
    assert f"`{construct}` is refused" in info.value.reason
    assert info.value.line == query[: query.index(construct)].count("\n") + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no database file was created
    assert count(engine) == ROWS  # another detection still sees every row
    assert engine.query("print n = now()", now=NOW).rows[0][0] == NOW  # and the pinned clock


def test_attached_database_stays_unreachable(engine: EmbeddedBackend, tmp_path: Path) -> None:
    query, _ = hostile_queries(tmp_path)["attach-database"]
    with pytest.raises(HarnessError):
        engine.query(query, now=NOW)
    with pytest.raises(HarnessError) as info:
        engine.query('database("s").T', now=NOW)
    assert "the other database" not in str(info.value)
    assert engine.execute_sql("SELECT database_name FROM duckdb_databases() WHERE NOT internal") == [("memory",)]


def test_writes_are_off_in_duckdb_kql_too(engine: EmbeddedBackend) -> None:
    """Under the guard, duckdb-kql itself translates with allow_write=False."""
    engine.seal()
    with pytest.raises(duckdb_kql.KqlUnsupportedError, match="writes are disabled"):
        engine._translation(".set-or-replace EmailUrlInfo <| EmailUrlInfo | take 0", NOW)
    assert count(engine) == ROWS


def test_sealed_connection_cannot_touch_files_settings_or_extensions(engine: EmbeddedBackend, tmp_path: Path) -> None:
    assert count(engine) == ROWS  # the first query seals
    settings = engine.execute_sql(
        "SELECT current_setting('enable_external_access'), current_setting('lock_configuration'), "
        "current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions'), "
        "current_setting('threads'), current_setting('temp_directory')"
    )
    assert settings == [(False, True, False, False, 1, "")]  # one thread: rows in one order every run
    secret = tmp_path / "secret.csv"
    secret.write_text("token\nhunter2\n", encoding="utf-8")
    for sql in (
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS s",
        f"COPY (SELECT 'owned') TO '{tmp_path / 'owned.csv'}'",
        f"SELECT * FROM read_csv('{secret}')",
        "SET memory_limit = '100GB'",
        "SET enable_external_access = true",
        "INSTALL httpfs",
        "LOAD httpfs",
    ):
        with pytest.raises(duckdb.Error):
            engine.execute_sql(sql)
    assert not (tmp_path / "owned.csv").exists()
    with pytest.raises(HarnessError, match="sealed"):
        engine.load({"EmailUrlInfo": email_urls()})


def test_a_runaway_query_is_a_resource_error_and_the_engine_carries_on() -> None:
    backend = EmbeddedBackend(memory_limit="256MB")
    try:
        backend.load({"EmailUrlInfo": email_urls()})
        bomb = ("range x from 1 to 3000000 step 1 | extend k = 1\n"
                "| join kind=inner (range y from 1 to 3000000 step 1 | extend k = 1) on k\n"
                "| summarize count() by x, y | count")
        with pytest.raises(ResourceExhausted) as info:
            backend.query(bomb, now=NOW, timeout=300)
        assert "256MB memory limit" in info.value.reason
        assert count(backend) == ROWS  # the next detection runs as if nothing happened
    finally:
        backend.close()


def test_memory_limit_is_a_size_not_sql() -> None:
    with pytest.raises(HarnessError, match="not a size"):
        EmbeddedBackend(memory_limit="1GB'; ATTACH 'x.duckdb")


# -- DDL injection through a custom table schema ------------------------------------------------

INJECTED = "x\" VARCHAR); COPY (SELECT 'owned') TO 'owned.csv'; CREATE TABLE z (\"y"


def test_custom_table_with_a_quote_in_a_column_name_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "tables"
    folder.mkdir()
    schema = {"table": "Evil_CL", "columns": [{"name": "TimeGenerated", "type": "datetime"},
                                              {"name": INJECTED, "type": "string"}]}
    (folder / "Evil_CL.json").write_text(json.dumps(schema), encoding="utf-8")
    with pytest.raises(HarnessError) as info:
        SchemaRegistry.with_folders([folder])
    assert info.value.file == str(folder / "Evil_CL.json")
    assert "is not a name" in info.value.reason


def test_ddl_quotes_every_identifier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a schema that skipped validation cannot inject: the name becomes one column, verbatim."""
    monkeypatch.chdir(tmp_path)
    table = TableSchema("Evil_CL", (Column("TimeGenerated", "datetime"), Column(INJECTED, "string")))
    backend = EmbeddedBackend(registry=SchemaRegistry({"Evil_CL": table}))
    try:
        backend.load({"Evil_CL": pa.table({INJECTED: ["a"]})})
        columns = backend.execute_sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'Evil_CL' ORDER BY ordinal_position")
        assert columns == [("TimeGenerated",), (INJECTED,)]
        assert backend.execute_sql('SELECT count(*) FROM "Evil_CL"') == [(1,)]
    finally:
        backend.close()
    assert not (tmp_path / "owned.csv").exists()
    assert not list(tmp_path.iterdir())


def test_a_project_with_an_injecting_table_schema_fails_closed(tmp_path: Path) -> None:
    project = make_seed_project(tmp_path / "p")
    (project / "tables").mkdir()
    schema = {"table": "Evil_CL", "columns": [{"name": INJECTED, "type": "string"}]}
    (project / "tables" / "Evil_CL.json").write_text(json.dumps(schema), encoding="utf-8")
    with (project / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write('tables = ["tables"]\n')
    code, _ = run_cli(project)
    assert code != 0
    assert not list(project.rglob("owned.csv"))


# -- a whole run: hostile detections next to the seed rule --------------------------------------

HOSTILE = {
    "a_create_database": '.create database evil persist (@"{dir}/evil.duckdb")',
    "b_attach": '.attach database s from @"{dir}/other.duckdb"',
    "c_read_attached": 'database("s").T',
    "d_wipe_email_urls": "// clean up\n.set-or-replace EmailUrlInfo <| EmailUrlInfo | take 0",
    "e_move_the_clock": "set query_now = datetime(2031-01-01);\nEmailUrlInfo | where TimeGenerated > ago(1d)",
    "f_range_bomb": ("range x from 1 to 3000000 step 1 | extend k = 1\n"
                     "| join kind=inner (range y from 1 to 3000000 step 1 | extend k = 1) on k\n"
                     "| summarize count() by x, y"),
}
REFUSED = {"a_create_database": "`.create`", "b_attach": "`.attach`", "d_wipe_email_urls": "`.set-or-replace`",
           "e_move_the_clock": "`set query_now`", "f_range_bomb": "memory limit"}


def hostile_project(dest: Path) -> Path:
    project = make_seed_project(dest)
    folder = project / "detections" / "0hostile"  # sorts, and so runs, before the seed rule
    folder.mkdir()
    for index, (key, query) in enumerate(HOSTILE.items()):
        body = "\n".join("  " + line for line in query.format(dir=project).splitlines())
        (folder / f"{key}.yaml").write_text(
            f"id: 00000000-0000-4000-8000-{index:012d}\nname: {key}\nkind: Scheduled\nseverity: Low\n"
            f"queryFrequency: 1h\nqueryPeriod: 1d\ntriggerOperator: gt\ntriggerThreshold: 0\nquery: |\n{body}\n",
            encoding="utf-8",
        )
        (project / "expected" / f"{key}.yaml").write_text(
            f"detection: {key}\ncases:\n  T1608.005-3:\n    fires: true\n", encoding="utf-8")
    duckdb.connect(str(project / "other.duckdb")).execute("CREATE TABLE T AS SELECT 'secret' AS s").close()
    with (project / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write('engine-memory = "512MB"\n')
    return project


def test_hostile_detections_error_and_leave_the_seed_rule_untouched(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project = hostile_project(tmp_path / "p")
    code, _ = run_cli(project, "--report-dir", "reports")
    assert code == 1
    report = json.loads((project / "reports" / "coverage.json").read_text(encoding="utf-8"))
    cells = {(c["case"], c["detection"]): c for c in report["cells"]}
    for key in HOSTILE:
        statuses = {c["status"] for (_, det), c in cells.items() if det == key}
        assert statuses == {"error"}, key
    for key, construct in REFUSED.items():
        assert construct in cells[("T1608.005-3", key)]["message"], key
    assert "secret" not in json.dumps(report)
    assert not (project / "evil.duckdb").exists()
    # The seed rule ran after all of them and judged exactly as in a clean run.
    plain, _, _ = shared_run(tmp_path_factory, "plain")
    clean = json.loads((plain / "coverage.json").read_text(encoding="utf-8"))
    want = {(c["case"], c["status"], json.dumps(c["actual"], sort_keys=True)) for c in clean["cells"]}
    got = {(c["case"], c["status"], json.dumps(c["actual"], sort_keys=True))
           for c in report["cells"] if c["detection"] == "link_target_email"}
    assert got == want


def test_validate_reports_every_non_query(tmp_path: Path) -> None:
    project = hostile_project(tmp_path / "p")
    result = validate(Suite(RunConfig(), WorkspaceContext()), [project / "detections" / "0hostile"])
    refused = {Path(f.file).stem: f for f in result.findings if f.rule == "not-a-query"}
    assert set(refused) == {"a_create_database", "b_attach", "d_wipe_email_urls", "e_move_the_clock"}
    assert refused["d_wipe_email_urls"].line == 11 and refused["d_wipe_email_urls"].column == 3
    assert "`.set-or-replace` is refused" in refused["d_wipe_email_urls"].message


# -- the guard itself ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        'EmailUrlInfo | where Url has ".show" or Url has "; .drop"',
        "EmailUrlInfo // ; .drop table EmailUrlInfo\n| take 1",
        'EmailUrlInfo | where Url == @"a"";.set x" | take 1',
        "let set_of = dynamic(['set']); EmailUrlInfo | where UrlDomain in (set_of)",
        "```\n; .show tables\n``` ",
        "declare query_parameters(n:long = 1);\nEmailUrlInfo | take n",
    ],
)
def test_queries_that_merely_mention_commands_are_queries(query: str) -> None:
    assert refuse_non_query(query) is None


@pytest.mark.parametrize(
    ("query", "construct"),
    [
        ("\ufeff.show tables", ".show"),
        ("\u200b.show tables", ".show"),
        ("EmailUrlInfo | take 1;\nset notruncation;", "set notruncation"),
        ('alias database x = cluster("c").database("d")', "alias database"),
        ("restrict access to (EmailUrlInfo); EmailUrlInfo", "restrict access"),
        ('#connect cluster("c")', "#connect"),
    ],
)
def test_hidden_non_queries_are_found(query: str, construct: str) -> None:
    refusal = refuse_non_query(query)
    assert refusal is not None and refusal.construct == construct


@pytest.mark.parametrize(
    ("query", "construct"),
    [
        ('cluster("other").database("db").EmailUrlInfo', "cluster()"),
        ('database("other").EmailUrlInfo', "database()"),
        ('externaldata (x:string) [@"https://example.invalid/x.csv"]', "externaldata"),
        ('external_table("t")', "external_table()"),
        ('print 1 | evaluate http_request("https://example.invalid")', "evaluate http_request"),
        ("range x from 1 to 1 step 1 | evaluate hint.distribution = per_node python(typeof(*), 'x')",
         "evaluate python"),
    ],
)
def test_remote_constructs_are_found(query: str, construct: str) -> None:
    refusal = refuse_remote(query)
    assert refusal is not None and refusal.construct == construct


# -- the REST backend ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rest_backend() -> Iterator:
    from harness.backends.kusto import KustoBackend
    from tests.test_kusto_backend import start_server, stop_server

    proc, url = start_server("--allow-write")
    try:
        backend = KustoBackend(url, registry=SchemaRegistry())
        backend.load({"EmailUrlInfo": email_urls()})
        yield backend
        backend.close()
    finally:
        stop_server(proc)


@pytest.mark.parametrize(
    ("query", "construct"),
    [
        ('cluster("other").database("db").EmailUrlInfo', "cluster()"),
        ('database("other").EmailUrlInfo', "database()"),
        ('externaldata (x:string) [@"http://127.0.0.1:9/x.csv"]', "externaldata"),
        ('print 1 | evaluate http_request("http://127.0.0.1:9/")', "evaluate http_request"),
        (".set-or-replace EmailUrlInfo <| EmailUrlInfo | take 0", ".set-or-replace"),
        ("set query_now = datetime(2020-01-01);\nprint now()", "set query_now"),
    ],
)
def test_rest_backend_refuses_before_sending(rest_backend, query: str, construct: str) -> None:
    with pytest.raises(RefusedConstruct) as info:
        rest_backend.query(query, now=NOW, detection="hostile")
    assert info.value.construct == construct and f"`{construct}` is refused" in info.value.reason
    assert info.value.detection == "hostile"
    assert count(rest_backend) == ROWS
