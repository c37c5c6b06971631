"""Real exported rows (Log Analytics CSV/JSON, or this harness's own export) as typed table rows.

Columns are mapped by name, including portal headers such as `TimeGenerated [UTC]` (the
bracket names the time zone the portal displayed); values are typed by the table schema;
columns the table does not have are reported, never silently loaded; and timestamps are
shifted together so the rows land where a rule's window looks while keeping their spacing.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import FormatError
from harness.formats.excerpt import excerpt
from harness.formats.limits import MAX_RECORDED_BYTES
from harness.workspace.tables import SchemaRegistry, TableSchema
from synthetic.arrow import rows_to_arrow

_HEADER = re.compile(r"^\s*(?P<name>[^\[]*?)\s*(?:\[(?P<zone>[^\]]*)\])?\s*$")
_PORTAL = re.compile(
    r"^(?P<mo>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4}),?\s+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d+))?)?"
    r"\s*(?P<ampm>AM|PM)?$",
    re.IGNORECASE,
)
# Time zone labels the Log Analytics portal writes into export headers.
_ZONES = {
    "utc": "UTC",
    "coordinated universal time": "UTC",
    "pacific time": "America/Los_Angeles",
    "mountain time": "America/Denver",
    "central time": "America/Chicago",
    "eastern time": "America/New_York",
    "gmt": "Europe/London",
    "central europe": "Europe/Berlin",
    "w. europe": "Europe/Berlin",
}


@dataclass
class Recorded:
    """Rows read from one file, typed for one table."""

    table: str
    path: str
    rows: list[dict[str, Any]]
    unknown_columns: list[str] = field(default_factory=list)

    def note(self) -> str:
        if not self.unknown_columns:
            return ""
        shown = ", ".join(excerpt(c, 40) for c in self.unknown_columns[:20])
        return (
            f"{self.path}: {len(self.unknown_columns)} column(s) not in {self.table} were dropped: "
            f"{shown}{', ...' if len(self.unknown_columns) > 20 else ''}"
        )


def _zone(label: str | None, path: str) -> ZoneInfo | None:
    if not label:
        return None
    key = label.strip().lower()
    for prefix, name in _ZONES.items():
        if key.startswith(prefix):
            return ZoneInfo(name)
    raise FormatError(f"unknown time zone {label!r} in a column header", file=path)


def parse_datetime(value: Any, zone: ZoneInfo | None = None) -> datetime | None:
    """ISO 8601 (with up to 7 fraction digits, as Kusto writes) or the portal's `3/30/2022, 10:52:35.857 AM`."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        m = _PORTAL.match(text)
        if m:
            hour = int(m["h"])
            if m["ampm"]:
                hour = hour % 12 + (12 if m["ampm"].upper() == "PM" else 0)
            micro = int((m["f"] or "0")[:6].ljust(6, "0"))
            parsed = datetime(int(m["y"]), int(m["mo"]), int(m["d"]), hour, int(m["mi"]), int(m["s"] or 0), micro)
        else:
            text = text.replace("Z", "+00:00").replace(" ", "T", 1) if "T" not in text else text.replace("Z", "+00:00")
            frac = re.search(r"\.(\d+)", text)
            if frac and len(frac.group(1)) > 6:
                text = text.replace(frac.group(0), "." + frac.group(1)[:6], 1)
            parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None and zone is not None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _typed(value: Any, kusto_type: str, zone: ZoneInfo | None) -> Any:
    if kusto_type in ("string", "guid"):
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if kusto_type == "dynamic":
        if value is None or value == "":
            return None
        if isinstance(value, (dict, list, int, float, bool)):
            return json.dumps(value, sort_keys=True)
        try:
            json.loads(value)
            return value
        except ValueError:
            return json.dumps(value)
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "null")):
        return None  # exports write absent numbers as an empty cell or the word null
    if kusto_type in ("int", "long"):
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return int(value.strip().lower() == "true")
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)
    if kusto_type in ("real", "decimal"):
        return float(value)
    if kusto_type in ("bool", "boolean"):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValueError(f"{value!r} is not a boolean")
    if kusto_type == "datetime":
        return parse_datetime(value, zone)
    if kusto_type == "timespan":
        return value if isinstance(value, timedelta) else timedelta(seconds=float(value))
    return value


def read_raw(path: Path) -> list[dict[str, Any]]:
    """Records from CSV (BOM tolerated), a JSON array, or JSON lines."""
    try:
        if path.stat().st_size > MAX_RECORDED_BYTES:
            raise FormatError(f"recorded export is larger than {MAX_RECORDED_BYTES:,} bytes; refused", file=str(path))
        if path.suffix == ".parquet":
            return pq.read_table(path).to_pylist()
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise FormatError(f"cannot read recorded telemetry: {exc}", file=str(path)) from exc
    if path.suffix == ".csv":
        return list(csv.DictReader(text.splitlines()))
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno, column=exc.colno) from exc
    if isinstance(data, dict):
        data = data.get("rows") or data.get("value") or [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise FormatError("expected a JSON array of objects (one per row)", file=str(path))
    return data


def infer_table(path: Path, raw: list[dict[str, Any]], registry: SchemaRegistry) -> str:
    """The file's table: its stem (`DnsEvents.jsonl`), else the rows' common `Type`."""
    if path.stem in registry:
        return path.stem
    types = {str(r.get("Type") or "") for r in raw} - {""}
    if len(types) == 1 and next(iter(types)) in registry:
        return next(iter(types))
    raise FormatError(
        f"cannot tell which table these rows belong to (Type values: "
        f"{', '.join(excerpt(t, 40) for t in sorted(types)[:5]) or 'none'}{', ...' if len(types) > 5 else ''}); "
        "name the table",
        file=str(path),
    )


def load_recorded(path: Path | str, registry: SchemaRegistry, table: str | None = None) -> Recorded:
    """Typed rows (only the table's columns) plus the columns that were not the table's."""
    path = Path(path)
    raw = read_raw(path)
    table = table or infer_table(path, raw, registry)
    schema = registry.get(table)
    if schema is None:
        raise FormatError(f"unknown table {table!r}", file=str(path))
    mapping, zones, unknown = _map_columns(schema, raw, str(path))
    rows: list[dict[str, Any]] = []
    for index, record in enumerate(raw):
        row: dict[str, Any] = {}
        for key, value in record.items():
            target = mapping.get(key)
            if target is None:
                continue
            try:
                row[target] = _typed(value, schema.column(target).type, zones.get(key))
            except (TypeError, ValueError) as exc:
                # The value itself is not quoted: a recorded export is not YAML content (README, "Trust model").
                raise FormatError(
                    f"row {index + 1}, column {excerpt(key)}: the value is not a valid {schema.column(target).type}",
                    file=str(path),
                ) from exc
        rows.append(row)
    return Recorded(table, str(path), rows, unknown)


def _map_columns(
    schema: TableSchema, raw: list[dict[str, Any]], where: str
) -> tuple[dict[str, str], dict[str, ZoneInfo | None], list[str]]:
    keys: list[str] = []
    for record in raw:
        for key in record:
            if key not in keys:
                keys.append(key)
    lower = {c.lower(): c for c in schema.names}
    mapping: dict[str, str] = {}
    zones: dict[str, ZoneInfo | None] = {}
    unknown: list[str] = []
    for key in keys:
        m = _HEADER.match(key)
        name = m["name"] if m else key
        target = name if schema.column(name) else lower.get(name.lower())
        if target is None or target in mapping.values():
            unknown.append(key)
            continue
        mapping[key] = target
        zones[key] = _zone(m["zone"] if m else None, where)
    return mapping, zones, unknown


def rebase(rows: list[dict[str, Any]], schema: TableSchema, latest: datetime) -> list[dict[str, Any]]:
    """Shift every datetime column by one offset so the newest TimeGenerated is `latest`."""
    time_cols = [c.name for c in schema.columns if c.type == "datetime"]
    stamps = [r["TimeGenerated"] for r in rows if r.get("TimeGenerated") is not None]
    if not stamps:
        stamps = [r[c] for r in rows for c in time_cols if r.get(c) is not None]
    if not stamps:
        return rows
    shift = latest - max(stamps)
    out = []
    for row in rows:
        row = dict(row)
        for col in time_cols:
            if row.get(col) is not None:
                row[col] = row[col] + shift
        if row.get("TimeGenerated") is None:
            row["TimeGenerated"] = latest
        out.append(row)
    return out


def recorded_tables(
    paths: list[Path], registry: SchemaRegistry, latest: datetime | None
) -> tuple[dict[str, pa.Table], list[str]]:
    """Files -> Arrow tables (rebased so each file's newest row is at `latest`, unless None) and notes."""
    merged: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    for path in paths:
        rec = load_recorded(path, registry)
        rows = rebase(rec.rows, registry[rec.table], latest) if latest is not None else rec.rows
        merged.setdefault(rec.table, []).extend(rows)
        if rec.note():
            notes.append(rec.note())
    return {t: rows_to_arrow(registry[t], rows) for t, rows in sorted(merged.items()) if rows}, notes
