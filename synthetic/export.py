"""What `atomic-harness generate` writes: a dataset's tables, one file per table.

Files are named after the table (`DnsEvents.jsonl`) so they load back through the harness
unchanged (`load_export`, or a `recorded` step / recorded background) and into a real
workspace. Every row is in its JSON form: datetimes ISO 8601 UTC with a `Z`, dynamic columns
as JSON (objects in JSON lines, JSON text in CSV and Parquet), absent strings as "".
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import FormatError, UsageError
from harness.workspace.tables import SchemaRegistry, TableSchema
from synthetic.arrow import full_schema_table, rows_to_arrow
from synthetic.recorded import load_recorded

FORMATS = ("jsonl", "csv", "parquet")


def json_value(value: Any, kusto_type: str) -> Any:
    """One cell in its JSON form."""
    if value is None:
        return "" if kusto_type in ("string", "guid") else None
    if kusto_type == "datetime":
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if kusto_type == "timespan":
        return str(value)
    if kusto_type == "dynamic":
        if value == "":
            return None
        return json.loads(value) if isinstance(value, str) else value
    return value


def json_rows(table: pa.Table, schema: TableSchema) -> list[dict[str, Any]]:
    """Rows of an Arrow table as JSON-ready dicts with every column of the schema."""
    full = full_schema_table(table, schema)
    types = [schema.column(n).type for n in full.column_names]
    return [{k: json_value(v, t) for (k, v), t in zip(row.items(), types, strict=True)} for row in full.to_pylist()]


def write_tables(tables: dict[str, pa.Table], registry: SchemaRegistry, fmt: str, out: Path) -> list[Path]:
    """One file per table in `out`; returns the paths written."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in sorted(tables.items()):
        schema = registry[name]
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            pq.write_table(full_schema_table(table, schema), path)
        elif fmt == "jsonl":
            with path.open("w", encoding="utf-8", newline="\n") as fh:
                for row in json_rows(table, schema):
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(schema.names)
            for row in json_rows(table, schema):
                writer.writerow([_csv_cell(row[c]) for c in schema.names])
            path.write_text(buf.getvalue(), encoding="utf-8")
        written.append(path)
    return written


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def load_export(folder: Path, registry: SchemaRegistry) -> dict[str, pa.Table]:
    """What `write_tables` wrote, back as full-schema Arrow tables (no rebasing: the times are kept)."""
    out: dict[str, pa.Table] = {}
    for path in sorted(Path(folder).iterdir()):
        if path.stem not in registry or path.suffix.lstrip(".") not in FORMATS:
            continue
        schema = registry[path.stem]
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        else:
            rec = load_recorded(path, registry, path.stem)
            if rec.unknown_columns:
                raise FormatError(rec.note(), file=str(path))
            table = rows_to_arrow(schema, rec.rows)
        out[path.stem] = full_schema_table(table, schema)
    return out
