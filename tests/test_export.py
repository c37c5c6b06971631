"""`generate` export: one file per table, named after it, that loads back through the harness unchanged."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.workspace.tables import SchemaRegistry
from synthetic.background import full_schema_table
from synthetic.export import add_generate_parser, case_tables, load_export, run_generate, write_tables

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = SchemaRegistry()


def _normal(rows: list[dict], schema) -> list[dict]:
    dyn = {c.name for c in schema.columns if c.type == "dynamic"}
    return [{k: (json.loads(v) if k in dyn and v else v) for k, v in r.items()} for r in rows]


@pytest.fixture(scope="module")
def generated() -> dict:
    tables, _ = case_tables("T1608.005-2", 400, ROOT)
    return tables


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_round_trip(generated: dict, tmp_path: Path, fmt: str) -> None:
    written = write_tables(generated, REGISTRY, fmt, tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{t}.{fmt}" for t in generated)
    back = load_export(tmp_path, REGISTRY)
    assert set(back) == set(generated)
    for name, table in generated.items():
        schema = REGISTRY[name]
        want = full_schema_table(table, schema)
        assert back[name].schema == want.schema, name
        assert _normal(back[name].to_pylist(), schema) == _normal(want.to_pylist(), schema), name
    backend = EmbeddedBackend(registry=REGISTRY)
    backend.load(back)
    assert (
        backend.execute_sql('SELECT count(*) FROM "CommonSecurityLog"')[0][0] == generated["CommonSecurityLog"].num_rows
    )
    backend.close()


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_generate_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["generate", *argv])


def test_cli_writes_every_table_of_the_case(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = run_generate(
        _args("--case", "T1608.005-4", "--format", "jsonl", "--out", str(tmp_path), "--root", str(ROOT))
    )
    assert code == 0
    names = {p.stem for p in tmp_path.glob("*.jsonl")}
    assert {"AzureActivity", "DeviceNetworkEvents", "EmailEvents", "EmailUrlInfo"} <= names
    first = json.loads((tmp_path / "AzureActivity.jsonl").read_text().splitlines()[0])
    assert first["TimeGenerated"].endswith("Z") and first["Type"] == "AzureActivity"
    assert "rows" in capsys.readouterr().out


def test_cli_unknown_case_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run_generate(_args("--case", "T9999-1", "--out", str(tmp_path), "--root", str(ROOT))) == 2
    assert "no case 'T9999-1'" in capsys.readouterr().err
