"""`atomic-harness generate`: a case's telemetry (plus background) written one file per table.

Files are named after the table (`DnsEvents.jsonl`) so they load back through the harness
unchanged (`load_export`, or a `recorded` step / recorded background) and into a real
workspace. Every row is in its JSON form: datetimes ISO 8601 UTC with a `Z`, dynamic columns
as JSON (objects in JSON lines, JSON text in CSV and Parquet), absent strings as "".
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, FormatError, HarnessError, UsageError
from harness.report.escaping.terminal import safe
from harness.workspace.tables import SchemaRegistry, TableSchema
from synthetic.background import background_tables, full_schema_table
from synthetic.recorded import load_recorded
from synthetic.telemetry import CaseTelemetry, TelemetryGenerator, merge_arrow, rows_to_arrow

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


def case_tables(case_id: str, background: int, root: Path | None = None) -> tuple[dict[str, pa.Table], CaseTelemetry]:
    """The named case's tables (merged with `background` generated rows), as `atomic-harness run` loads them."""
    from harness.backends.base import parse_now
    from harness.config import load_config
    from harness.formats.atomics import load_atomics
    from harness.formats.templates import load_cases

    cfg = load_config(root)
    registry = SchemaRegistry.with_folders([cfg.resolve(p) for p in cfg.tables])
    cases = load_cases(cfg.resolve(cfg.templates), load_atomics(cfg.resolve(cfg.atomics)))
    by_id = {c.id: c for c in cases}
    if case_id not in by_id:
        raise UsageError(f"no case {case_id!r} (known: {', '.join(sorted(by_id))})")
    now = parse_now(cfg.now)
    generator = TelemetryGenerator(cfg.seed, now, registry, content_roots=cfg.content_roots())
    telemetry = generator.case_telemetry(by_id[case_id])
    parts = [{t: rows_to_arrow(registry[t], rows) for t, rows in telemetry.rows.items()}]
    if background > 0:
        parts.append(background_tables(cfg.seed, now, background, registry=registry))
    return merge_arrow(registry, parts), telemetry


def add_generate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `generate` on the CLI's subparsers."""
    p = subparsers.add_parser(
        "generate",
        help="write a case's telemetry (and background) one file per table",
        description="Write the telemetry of one case, optionally with N benign background rows across tables, "
        "one file per table named after the table (e.g. DnsEvents.jsonl).",
    )
    p.add_argument("--case", required=True, help="case id as the report shows it, e.g. T1608.005-2")
    p.add_argument(
        "--background",
        type=int,
        default=0,
        metavar="N",
        help="also write N generated benign rows in all, across tables (default 0)",
    )
    p.add_argument("--format", choices=FORMATS, default="jsonl")
    p.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    p.add_argument("--root", type=Path, default=None, help="project root (default: current folder)")
    return p


def run_generate(args: argparse.Namespace) -> int:
    """0 ok, 1 failure (a template or file problem), 2 usage (unknown case, bad option)."""
    if getattr(args, "background", 0) < 0:
        print("atomic-harness generate: --background must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        tables, telemetry = case_tables(args.case, args.background, getattr(args, "root", None))
        cfg_registry = SchemaRegistry()
        written = write_tables(tables, cfg_registry, args.format, Path(args.out))
    except HarnessError as exc:
        print(f"atomic-harness generate: {safe(exc)}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"atomic-harness generate: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for note in telemetry.notes:
        print(f"atomic-harness generate: note: {safe(note)}", file=sys.stderr)
    for path in written:
        print(f"{path}\t{tables[path.stem].num_rows} rows")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="atomic-harness")
    sub = parser.add_subparsers(dest="command", required=True)
    add_generate_parser(sub)
    args = parser.parse_args(argv)
    return run_generate(args)


if __name__ == "__main__":
    sys.exit(main())
