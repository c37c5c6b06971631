"""Issue 19, req 5: rows loaded in parts store only the columns they give (the rest read as their defaults) and
Arrow columns DuckDB stores as they are go in without a cast; what a query reads is what the table loaded whole,
every column filled, gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from harness.backends import embedded
from harness.backends.embedded import EmbeddedBackend
from harness.workspace.tables import SchemaRegistry
from synthetic.background import background_tables

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
T = datetime(2025, 6, 1, 11)
REGISTRY = SchemaRegistry()


def _everything(engine: EmbeddedBackend, table: str) -> list[tuple]:
    cols = ", ".join(f'"{c.name}"' for c in REGISTRY[table].duckdb_columns)
    return engine.execute_sql(f'SELECT {cols} FROM "{table}" ORDER BY ALL')


@pytest.mark.parametrize("cases_first", [True, False])
def test_background_loaded_in_parts_reads_as_the_table_loaded_whole(cases_first: bool) -> None:
    """Cases' rows (every column) and background rows (fewer columns, dictionary strings), in parts, against
    the same rows loaded into whole tables: every table reads the same, column for column, types included,
    whichever comes first (rows giving a column the storage lacks widen it); the storage holds the rows in load
    order (harness.run.windowed finds late rows by rowid)."""
    background = background_tables(7, NOW.replace(tzinfo=None), 3_000, registry=REGISTRY)
    first = {name: data.slice(0, 5) for name, data in background.items()}  # stand-ins for cases' rows
    cases = {name: pa.Table.from_pylist(data.to_pylist(), schema=REGISTRY[name].arrow_schema())
             for name, data in first.items()}  # every column of the schema, plain strings
    loads = [(cases, "case"), (background, "")] if cases_first else [(background, ""), (cases, "case")]
    whole, parted = EmbeddedBackend(registry=REGISTRY), EmbeddedBackend(registry=REGISTRY)
    try:
        whole.load(loads[0][0])
        whole.append(loads[1][0])
        for tables, label in loads:
            parted.load_parts(tables, {n: [label] * t.num_rows for n, t in tables.items()})
        for name in background:
            assert _everything(parted, name) == _everything(whole, name), name
            cols = ", ".join(f'"{c.name}"' for c in REGISTRY[name].duckdb_columns)
            types = f"SELECT typeof(COLUMNS(*)) FROM (SELECT {cols} FROM \"{name}\") LIMIT 1"  # noqa: S608
            assert parted.execute_sql(types) == whole.execute_sql(types), name
            stored = parted.stored(name)
            order = parted.execute_sql(f'SELECT "TimeGenerated" FROM "{stored}" ORDER BY rowid')  # noqa: S608
            assert order == whole.execute_sql(f'SELECT "TimeGenerated" FROM "{name}" ORDER BY rowid'), name  # noqa: S608
    finally:
        whole.close()
        parted.close()


def test_columns_no_rows_gave_read_as_defaults_in_every_scope_and_in_a_join() -> None:
    """A string column no row gave reads "", a number null; the one-statement scopes (a LATERAL join, where
    DuckDB 2.0.1 cannot bind a constant column) give what each scope gives alone."""
    engine = EmbeddedBackend()
    try:
        dns = pa.table({"TimeGenerated": [T] * 3, "Computer": ["h1", "h2", None], "Name": ["a", "b", "c"]})
        net = pa.table({"TimeGenerated": [T] * 2, "DeviceName": ["h1", "h2"]})
        engine.load_parts({"DnsEvents": dns, "DeviceNetworkEvents": net},
                          {"DnsEvents": ["", "a", "b"], "DeviceNetworkEvents": ["", "a"]})
        rows = engine.query("DnsEvents | project Computer, ClientIP, EventId | order by Computer asc", now=NOW).rows
        assert rows == [("", "", None), ("h1", "", None), ("h2", "", None)]
        held = [r[0] for r in engine.execute_sql("SELECT column_name FROM duckdb_columns() WHERE table_name = "
                                                 f"'{engine.stored('DnsEvents')}' ORDER BY column_index")]
        assert held == ["Computer", "Name", "TimeGenerated", embedded.PART_COLUMN]  # only what rows gave
        assert engine.stored_defaults("DnsEvents") is not None
        kql = ("DnsEvents | join kind=inner (DeviceNetworkEvents | project DeviceName, RemoteUrl, RemotePort) "
               "on $left.Computer == $right.DeviceName | project Computer, Name, RemoteUrl, RemotePort")
        scopes = [("",), ("", "a"), ("b",), None]
        together = engine.query_scopes(kql, scopes, now=NOW)
        for parts, got in zip(scopes, together, strict=True):
            engine.scope(parts)
            assert sorted(got.rows) == sorted(engine.query(kql, now=NOW).rows), parts
        assert sorted(together[1].rows) == [("h1", "a", "", None), ("h2", "b", "", None)]
    finally:
        engine.close()


@pytest.mark.parametrize(("kusto_type", "array", "expected"), [
    ("string", pa.array(["a"]), "src.c"),
    ("string", pa.DictionaryArray.from_arrays(pa.array([0], pa.int8()), pa.array(["a"])), "src.c"),
    ("string", pa.array(["a", None]), "COALESCE(src.c, '')"),
    ("long", pa.array([1], pa.int64()), "src.c"),
    ("int", pa.array([1], pa.int32()), "src.c"),
    ("real", pa.array([1.5]), "src.c"),
    ("bool", pa.array([True]), "src.c"),
    ("datetime", pa.array([T], pa.timestamp("us")), "src.c"),
    ("datetime", pa.array([T], pa.timestamp("us", tz="UTC")), "CAST(src.c AS TIMESTAMP)"),
    ("int", pa.array([1], pa.int64()), "CAST(src.c AS INTEGER)"),
    ("timespan", pa.array([timedelta(seconds=1)], pa.duration("us")), "CAST(src.c AS INTERVAL)"),
    ("dynamic", pa.array(['{"a": 1}']), "CAST(src.c AS JSON)"),
])
def test_a_column_is_cast_only_where_duckdb_does_not_store_its_arrow_type(kusto_type: str, array: pa.Array,
                                                                          expected: str) -> None:
    assert embedded._load_expr("src.c", kusto_type, pa.chunked_array([array])) == expected
