"""Typed rows into Arrow tables, as the engines load them: real column types, "" for absent strings.

Shared by generation (synthetic/telemetry.py), background, recorded rows and export; it imports
nothing of theirs, so each of them can use it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.workspace.tables import SchemaRegistry, TableSchema


def constant_strings(value: str, n: int) -> pa.Array:
    """A constant string column without n copies of the string (dictionary of one)."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int8)), pa.array([value]))


def full_schema_table(table: pa.Table, schema: TableSchema) -> pa.Table:
    """Every column of the real schema, in order, plain types: "" for absent strings, null otherwise."""
    arrow = schema.arrow_schema()
    n = table.num_rows
    arrays = []
    for f in arrow:
        is_string = schema.column(f.name).type in ("string", "guid")  # dynamic is Arrow text too, but null
        if f.name in table.column_names:
            col = table.column(f.name)
            if is_string and col.null_count:
                col = pc.fill_null(col.cast(f.type), "")
            arrays.append(col.cast(f.type) if col.type != f.type else col)
        elif is_string:
            arrays.append(constant_strings("", n).cast(pa.string()))
        else:
            arrays.append(pa.nulls(n, type=f.type))
    return pa.Table.from_arrays(arrays, schema=arrow)


def rows_to_arrow(schema: TableSchema, rows: list[dict[str, Any]]) -> pa.Table:
    """Python rows -> an Arrow table with the real column types (only the columns present)."""
    present: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for col in row:
            if col not in seen:
                seen.add(col)
                present.append(col)
    order = [c for c in schema.names if c in seen]
    fields = []
    arrays = []
    arrow_schema = schema.arrow_schema()
    for name in order:
        f = arrow_schema.field(name)
        col = schema.column(name)
        values = [_arrow_value(row.get(name), col.type) for row in rows]
        fields.append(f)
        arrays.append(pa.array(values, type=f.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _arrow_value(value: Any, kusto_type: str) -> Any:
    if value is None:
        return "" if kusto_type == "string" else None
    if kusto_type == "dynamic":
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if kusto_type == "datetime" and isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if kusto_type == "datetime" and isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    return value


def merge_tables(registry: SchemaRegistry, parts: list[dict[str, list[dict[str, Any]]]]) -> dict[str, pa.Table]:
    merged: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for table, rows in part.items():
            merged.setdefault(table, []).extend(rows)
    return {t: rows_to_arrow(registry[t], rows) for t, rows in sorted(merged.items())}


def merge_arrow(registry: SchemaRegistry, parts: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """Tables from several sources (generated, recorded) -> one table per name, padded to the full schema
    where the parts' columns differ."""
    grouped: dict[str, list[pa.Table]] = {}
    for part in parts:
        for name, table in part.items():
            grouped.setdefault(name, []).append(table)
    out: dict[str, pa.Table] = {}
    for name, tables in sorted(grouped.items()):
        if len(tables) == 1:
            out[name] = tables[0]
        else:
            out[name] = pa.concat_tables([full_schema_table(t, registry[name]) for t in tables])
    return out
