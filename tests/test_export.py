"""`generate` export: one file per table, named after it, that loads back through the harness unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.cli import main
from harness.config import load_config
from harness.suite import load_suite
from harness.workspace.tables import SchemaRegistry
from synthetic.arrow import full_schema_table
from synthetic.export import load_export, write_tables

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = SchemaRegistry()


def _normal(rows: list[dict], schema) -> list[dict]:
    dyn = {c.name for c in schema.columns if c.type == "dynamic"}
    return [{k: (json.loads(v) if k in dyn and v else v) for k, v in r.items()} for r in rows]


@pytest.fixture(scope="module")
def generated() -> dict:
    suite = load_suite(load_config(ROOT))
    return suite.dataset([suite.case("T1608.005-2")], background=400).merged(suite.context)


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


def test_cli_writes_every_table_of_the_case(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["generate", "--case", "T1608.005-4", "--format", "jsonl", "--out", str(tmp_path), "--root", str(ROOT)])
    assert code == 0
    names = {p.stem for p in tmp_path.glob("*.jsonl")}
    assert {"AzureActivity", "DeviceNetworkEvents", "EmailEvents", "EmailUrlInfo"} <= names
    first = json.loads((tmp_path / "AzureActivity.jsonl").read_text().splitlines()[0])
    assert first["TimeGenerated"].endswith("Z") and first["Type"] == "AzureActivity"
    assert "rows" in capsys.readouterr().out


def test_cli_unknown_case_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["generate", "--case", "T9999-1", "--out", str(tmp_path), "--root", str(ROOT)]) == 2
    assert "no case 'T9999-1'" in capsys.readouterr().err


def test_generate_writes_the_dataset_as_run_loads_it(project_copy: Path, tmp_path: Path) -> None:
    """The watchlist rows `_GetWatchlist` reads and the recorded background are part of what `run`
    loads, so `generate` writes them too."""
    (project_copy / "watchlists").mkdir()
    (project_copy / "watchlists" / "staging_apis.csv").write_text("Host,Operator\napi.pinata.cloud,Pinata\n")
    recorded = project_copy / "recorded.csv"
    recorded.write_text("TimeGenerated [UTC],Computer,Name,ClientIP,Type\n"
                        "3/30/2022 10:52:35 AM,dc-recorded,example.org,10.9.9.9,DnsEvents\n", encoding="utf-8")
    with (project_copy / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write('watchlists = ["watchlists"]\nbackground-recorded = ["recorded.csv"]\n')
    out = tmp_path / "out"
    assert main(["generate", "--case", "T1608.005-2", "--out", str(out), "--root", str(project_copy)]) == 0
    watchlist = [json.loads(line) for line in (out / "Watchlist.jsonl").read_text().splitlines()]
    assert [(w["WatchlistAlias"], w["SearchKey"]) for w in watchlist] == [("staging_apis", "api.pinata.cloud")]
    dns = [json.loads(line) for line in (out / "DnsEvents.jsonl").read_text().splitlines()]
    assert any(r["Computer"] == "dc-recorded" for r in dns)
