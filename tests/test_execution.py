"""Executes means ran on data: every table holds schema-typed filler rows, so runtime type conflicts surface
(with the column named) where empty tables hid them; `validate --engine` says so per detection."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.checks.execution import NOW, PROOF, ROWS_PER_TABLE, execute, sample_backend, sample_tables
from harness.cli import main
from harness.workspace.context import WorkspaceContext

#: duckdb-kql casts the string branch of this case() to JSON: it fails on the first real URL only.
MIXED_CASE = (
    "DeviceNetworkEvents | where isnotempty(RemoteUrl)"
    ' | extend Domain = case(RemoteUrl contains "//", parse_url(RemoteUrl).Host, RemoteUrl)'
)


@pytest.fixture(scope="module")
def backend():
    b = sample_backend(WorkspaceContext())
    yield b
    b.close()


def test_every_table_holds_typed_rows_in_the_fortnight_before_the_clock():
    context = WorkspaceContext()
    tables = sample_tables(context)
    assert set(tables) == set(context.registry.names())
    for name, table in tables.items():
        assert table.num_rows == ROWS_PER_TABLE
        assert table.schema == context.registry[name].arrow_schema()
    times = tables["SecurityEvent"].column("TimeGenerated").to_pylist()
    assert all(NOW.replace(tzinfo=None) - t <= timedelta(days=14) for t in times)
    assert sum(NOW.replace(tzinfo=None) - t <= timedelta(hours=1) for t in times) >= 1
    assert sample_tables(context)["SigninLogs"] == tables["SigninLogs"]  # deterministic


def test_a_runtime_type_conflict_fails_on_data_with_the_column_named(backend):
    empty = EmbeddedBackend()
    try:
        assert execute(empty, MIXED_CASE).executes  # what "executes" used to mean
    finally:
        empty.close()
    run = execute(backend, MIXED_CASE)
    assert not run.executes
    assert run.reason == "engine: runtime type conversion on data: text read as JSON (column RemoteUrl)"
    assert "RemoteUrl" in run.detail


def test_a_rule_that_runs_reports_its_rows_and_desugarings(backend):
    run = execute(backend, "(SecurityEvent | where EventID == 4624) | summarize count() by Computer")
    assert run.executes and run.rows > 0
    assert run.desugarings == ("outer parentheses at 1:1",)


RULE = """\
id: {id}
name: {name}
kind: Scheduled
queryFrequency: 1h
queryPeriod: 1d
triggerOperator: gt
triggerThreshold: 0
severity: Low
query: |
{query}
"""


def _rule(folder: Path, name: str, ident: str, query: str) -> None:
    body = "\n".join("  " + line for line in query.splitlines())
    (folder / f"{name}.yaml").write_text(RULE.format(id=ident, name=name, query=body), encoding="utf-8")


def test_validate_engine_runs_each_rule_on_typed_rows(tmp_path, monkeypatch, capsys):
    _rule(tmp_path, "ok", "11111111-1111-4111-8111-111111111111",
          "(SecurityEvent\n| where EventID == 4624)\n| project Computer")
    _rule(tmp_path, "conflict", "22222222-2222-4222-8222-222222222222", MIXED_CASE)
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--engine", "--show-notes", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    ok = next(x for x in lines if x.startswith(f"{tmp_path}/ok.yaml") and "[engine]" in x)
    # the desugaring is placed in the rule file: the query starts on line 10
    assert "executes on schema-typed rows (ran with 1 desugaring: outer parentheses at 10:3)" in ok
    bad = next(x for x in lines if x.startswith(f"{tmp_path}/conflict.yaml") and "[engine]" in x)
    assert ": error: does not execute on the embedded engine" in bad and "column RemoteUrl" in bad
    assert f"engine: 1/2 detection(s) execute ({PROOF})" in captured.err
    assert "not that rows reach the end" in PROOF


def test_validate_without_engine_runs_nothing(tmp_path, monkeypatch, capsys):
    _rule(tmp_path, "conflict", "22222222-2222-4222-8222-222222222222", MIXED_CASE)
    monkeypatch.chdir(tmp_path)
    main(["validate", "--show-notes", str(tmp_path)])
    captured = capsys.readouterr()
    assert "[engine]" not in captured.out and "engine:" not in captured.err
