"""The real Microsoft table schemas, and how their Kusto types map onto DuckDB and Arrow.

One registry serves the engine (CREATE TABLE), the telemetry generators (row typing),
static validation (column resolution) and the JSON Schema each generated row must meet,
so the test data and the query checks can never drift apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pyarrow as pa

from harness.errors import FormatError

KUSTO_TO_DUCKDB: dict[str, str] = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "long": "BIGINT",
    "real": "DOUBLE",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "datetime": "TIMESTAMP",
    "timespan": "INTERVAL",
    "guid": "VARCHAR",
    "dynamic": "JSON",
    "decimal": "DOUBLE",
}

KUSTO_TO_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int32(),
    "long": pa.int64(),
    "real": pa.float64(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "datetime": pa.timestamp("us"),
    "timespan": pa.duration("us"),
    "guid": pa.string(),
    "dynamic": pa.string(),  # JSON text; DuckDB casts it to JSON on load
    "decimal": pa.float64(),
}


#: What a table or column name may be: Log Analytics names are letters, digits and underscores,
#: starting with a letter or underscore. A custom schema is contributor content, so its names are
#: checked here, and quoted again wherever SQL is built (sql_identifier): never pasted raw.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def sql_identifier(name: str) -> str:
    """A DuckDB identifier, double-quoted with inner quotes doubled, whatever `name` holds."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    source: str = ""
    _index: dict[str, Column] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update({c.name: c for c in self.columns})

    def column(self, name: str) -> Column | None:
        return self._index.get(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def duckdb_columns(self) -> tuple[Column, ...]:
        """The columns DuckDB can hold. Kusto column names are case-sensitive and a few real schemas
        have names differing only in case (AzureDiagnostics: `clientIP_s` and `clientIp_s`); DuckDB
        identifiers are case-insensitive, so only the first of such names becomes a column, and a
        query reading either spelling reads it."""
        seen: set[str] = set()
        out = []
        for c in self.columns:
            if c.name.lower() not in seen:
                seen.add(c.name.lower())
                out.append(c)
        return tuple(out)

    def duckdb_ddl(self) -> str:
        cols = ", ".join(f"{sql_identifier(c.name)} {KUSTO_TO_DUCKDB[c.type]}" for c in self.duckdb_columns)
        return f"CREATE OR REPLACE TABLE {sql_identifier(self.name)} ({cols})"

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, KUSTO_TO_ARROW[c.type]) for c in self.columns])


def _parse(doc: dict, where: str) -> TableSchema:
    try:
        columns = tuple(
            Column(c["name"], str(c["type"]).lower(), c.get("description", "")) for c in doc["columns"]
        )
        name = doc["table"]
    except (KeyError, TypeError) as exc:
        raise FormatError(f"table schema lacks {exc}", file=where) from exc
    from harness.formats.excerpt import excerpt

    if not isinstance(name, str) or not NAME.match(name):
        raise FormatError(f"table name {excerpt(name)} is not a name (letters, digits, _; not starting with a digit)",
                          file=where)
    for col in columns:
        if not isinstance(col.name, str) or not NAME.match(col.name):
            raise FormatError(
                f"table {name}: column name {excerpt(col.name)} is not a name (letters, digits, _; not starting "
                "with a digit)", file=where)
        if col.type not in KUSTO_TO_DUCKDB:
            raise FormatError(f"column {col.name} has unknown Kusto type {excerpt(col.type)}", file=where)
    return TableSchema(name, columns, doc.get("source", ""))


@lru_cache(maxsize=1)
def builtin_schemas() -> dict[str, TableSchema]:
    """Schemas shipped with the harness (copied from Microsoft's references)."""
    out: dict[str, TableSchema] = {}
    folder = resources.files("harness") / "data" / "schemas" / "tables"
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            schema = _parse(json.loads(entry.read_text(encoding="utf-8")), f"harness/data/schemas/tables/{entry.name}")
            out[schema.name] = schema
    return out


def load_schema_file(path: Path) -> TableSchema:
    """A user's own table schema (e.g. a `_CL` custom table) in the same JSON shape."""
    from harness.formats.paths import read_content

    try:
        doc = json.loads(read_content(path, encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno, column=exc.colno) from exc
    return _parse(doc, str(path))


class SchemaRegistry:
    """The tables a run knows: the built-in ones plus any the configuration adds."""

    def __init__(self, extra: dict[str, TableSchema] | None = None) -> None:
        self._tables = dict(builtin_schemas())
        self._tables.update(extra or {})

    @classmethod
    def with_folders(cls, folders: list[Path]) -> SchemaRegistry:
        from harness.formats.paths import content_files

        extra: dict[str, TableSchema] = {}
        for folder in folders:
            for path in content_files(folder, "*.json", what="table schema"):
                schema = load_schema_file(path)
                extra[schema.name] = schema
        return cls(extra)

    def with_tables(self, extra: dict[str, TableSchema]) -> SchemaRegistry:
        """A new registry: these tables and *extra* (which wins on a name both hold)."""
        out = SchemaRegistry.__new__(SchemaRegistry)
        out._tables = {**self._tables, **extra}
        return out

    def get(self, name: str) -> TableSchema | None:
        return self._tables.get(name)

    def __getitem__(self, name: str) -> TableSchema:
        return self._tables[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tables

    def names(self) -> list[str]:
        return sorted(self._tables)


_JSON_TYPES: dict[str, dict] = {
    "string": {"type": "string"},
    "guid": {"type": "string"},
    "int": {"type": ["integer", "null"], "minimum": -(2**31), "maximum": 2**31 - 1},
    "long": {"type": ["integer", "null"], "minimum": -(2**63), "maximum": 2**63 - 1},
    "real": {"type": ["number", "null"]},
    "decimal": {"type": ["number", "null"]},
    "bool": {"type": ["boolean", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "datetime": {
        "type": ["string", "null"],
        "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z$",
    },
    "timespan": {"type": ["string", "null"]},
    "dynamic": {},  # any JSON value
}


def row_json_schema(table: TableSchema) -> dict:
    """JSON Schema of one row of `table` in its JSON form (datetimes as ISO 8601 UTC, dynamic as JSON):
    only the table's column names, each with its Kusto type; strings are never null (Kusto has no null string)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{table.name} row",
        "type": "object",
        "additionalProperties": False,
        "properties": {c.name: dict(_JSON_TYPES[c.type]) for c in table.columns},
    }
