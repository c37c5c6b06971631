"""A user's own workspace context: custom tables, watchlists and stored functions.

Real rules read `_CL` custom tables, `_GetWatchlist('alias')` and workspace functions.
Validation and runs must see the same ones, so they load once, from the folders the
configuration names (`tables`, `watchlists`, `functions` in `[tool.atomic-harness]`):

- tables: `*.json` schemas in the shipped shape (`{"table": ..., "source": ..., "columns": [...]}`);
- watchlists: `<alias>.csv`, header row = the watchlist's columns; alias = file stem;
- functions: `*.kql` files, each either Kusto definitions (`.create-or-alter function F(...) {...}`
  or `function F(...) {...}`, one or more per file) or a bare query body, which becomes a
  parameterless function named after the file (how the portal exports a saved function).

The ASIM unifying parsers (harness.workspace.asim) are included unless `include_asim=False`.

Watchlists reach the embedded engine the way Sentinel stores them: as rows of the
`Watchlist` table (Azure Monitor reference: `WatchlistAlias`, `SearchKey`, `WatchlistItem`
dynamic, `_DTItemId`, ...), read through a stored function `_GetWatchlist(alias)`
(`watchlist_rows()` / `watchlist_function()`). Sentinel's own `_GetWatchlist` returns the
item metadata columns plus the CSV's columns unpacked from `WatchlistItem` ("Build queries
or detection rules with watchlists": SearchKey is its own column next to the CSV's).
One stored function must have one output schema, so the shim returns the metadata
columns (WATCHLIST_COLUMNS) plus the union of every loaded CSV's columns,
each `tostring(WatchlistItem[name])` ("" for an alias without that column). The
SearchKey is the CSV column named `SearchKey` if there is one, else its first column
(Sentinel makes the user pick it; a CSV file cannot say which).

Example::

    ctx = WorkspaceContext.from_folders([Path("tables")], [Path("watchlists")], [Path("functions")])
    backend = EmbeddedBackend(registry=ctx.registry, functions=ctx.functions)
    analysis = harness.kql.analyzer.analyze(kql, ctx)
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from harness.errors import ConfigError, FormatError
from harness.formats.excerpt import excerpt
from harness.formats.paths import content_files, read_content
from harness.workspace.asim import asim_functions
from harness.workspace.externaldata import Fixture, load_fixtures
from harness.workspace.tables import SchemaRegistry

__all__ = ["WATCHLIST_COLUMNS", "WorkspaceContext", "load_functions", "load_watchlists"]

#: Columns every `_GetWatchlist()` result carries besides the CSV's own (Sentinel docs,
#: "Use watchlists in analytics rules": SearchKey plus the item metadata columns).
WATCHLIST_COLUMNS: tuple[str, ...] = (
    "_DTItemId",
    "LastUpdatedTimeUTC",
    "SearchKey",
    "WatchlistItem",
    "Tags",
    "TenantId",
    "WatchlistId",
    "WatchlistName",
    "WatchlistAlias",
    "_DTTimestamp",
)

_DEFINITION = re.compile(r"^\s*(\.create(-or-alter)?\s+|\.alter\s+)?function\b", re.I | re.M)


@dataclass
class WorkspaceContext:
    """Everything a query may read besides the built-in tables."""

    registry: SchemaRegistry = field(default_factory=SchemaRegistry)
    functions: list[str] = field(default_factory=asim_functions)
    watchlists: dict[str, pa.Table] = field(default_factory=dict)
    #: url -> local fixture file for `externaldata` (harness.workspace.externaldata); never downloaded.
    externaldata: dict[str, Fixture] = field(default_factory=dict)

    def watchlist_item_columns(self) -> list[str]:
        """The CSV columns `_GetWatchlist` returns besides the metadata ones, over all aliases.

        Kusto column names are case-sensitive but DuckDB's are not: of names differing only
        in case, the first one seen is kept."""
        out: list[str] = []
        seen = {c.lower() for c in WATCHLIST_COLUMNS}
        for table in self.watchlists.values():
            for name in table.column_names:
                if name.lower() not in seen:
                    seen.add(name.lower())
                    out.append(name)
        return out

    def stored_functions(self) -> list[str]:
        """What an engine is given as stored functions: the user's, the ASIM parsers, and the
        `_GetWatchlist` shim when watchlists are configured."""
        shim = self.watchlist_function()
        return [*self.functions, *([shim] if shim is not None else [])]

    def watchlist_function(self) -> str | None:
        """`_GetWatchlist(alias)` as a stored function over the `Watchlist` table (None: no watchlists)."""
        if not self.watchlists:
            return None
        items = self.watchlist_item_columns()
        extend = ", ".join(f"{_quote(c)} = tostring(WatchlistItem[{_literal(c)}])" for c in items)
        project = ", ".join([*WATCHLIST_COLUMNS, *(_quote(c) for c in items)])
        return (
            ".create-or-alter function _GetWatchlist(watchlistAlias:string)\n{\n"
            "    Watchlist\n"
            "    | where _DTItemType == 'watchlist-item' and WatchlistAlias == watchlistAlias\n"
            + (f"    | extend {extend}\n" if extend else "")
            + f"    | project {project}\n}}"
        )

    def watchlist_rows(self, when: datetime) -> pa.Table | None:
        """Every watchlist item as a `Watchlist` table row (None: no watchlists).

        *when* (naive UTC) stamps TimeGenerated, _DTTimestamp and the created/updated times."""
        if not self.watchlists:
            return None
        cols: dict[str, list] = {n: [] for n in (
            "TimeGenerated", "_DTTimestamp", "CreatedTimeUTC", "LastUpdatedTimeUTC", "_DTItemId", "WatchlistItemId",
            "_DTItemType", "_DTItemStatus", "WatchlistAlias", "WatchlistName", "WatchlistId", "SearchKey",
            "WatchlistItem", "Tags", "Source", "Provider", "Type",
        )}  # fmt: skip
        when = when.replace(tzinfo=None)
        for alias, table in self.watchlists.items():
            names = table.column_names
            key = "SearchKey" if "SearchKey" in names else names[0]
            for index, row in enumerate(table.to_pylist()):
                item_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"atomic-harness/watchlist/{alias}/{index}"))
                values = {
                    "TimeGenerated": when, "_DTTimestamp": when, "CreatedTimeUTC": when, "LastUpdatedTimeUTC": when,
                    "_DTItemId": item_id, "WatchlistItemId": item_id, "_DTItemType": "watchlist-item",
                    "_DTItemStatus": "Create", "WatchlistAlias": alias, "WatchlistName": alias, "WatchlistId": alias,
                    "SearchKey": row[key], "WatchlistItem": json.dumps(row, ensure_ascii=False), "Tags": "[]",
                    "Source": f"{alias}.csv", "Provider": "atomic-harness", "Type": "Watchlist",
                }  # fmt: skip
                for name, value in values.items():
                    cols[name].append(value)
        types = {"TimeGenerated", "_DTTimestamp", "CreatedTimeUTC", "LastUpdatedTimeUTC"}
        return pa.table({n: pa.array(v, pa.timestamp("us") if n in types else pa.string()) for n, v in cols.items()})

    @classmethod
    def from_folders(
        cls,
        tables_dirs: list[Path] | None = None,
        watchlist_dirs: list[Path] | None = None,
        function_dirs: list[Path] | None = None,
        externaldata_dirs: list[Path] | None = None,
        *,
        include_asim: bool = True,
    ) -> WorkspaceContext:
        for folder in [*(tables_dirs or []), *(watchlist_dirs or []), *(function_dirs or []),
                       *(externaldata_dirs or [])]:
            if not Path(folder).is_dir():
                raise ConfigError("configured context folder does not exist", file=str(folder))
        registry = SchemaRegistry.with_folders([Path(p) for p in tables_dirs or []])
        functions = asim_functions() if include_asim else []
        functions += load_functions([Path(p) for p in function_dirs or []])
        return cls(registry, functions, load_watchlists([Path(p) for p in watchlist_dirs or []]),
                   load_fixtures([Path(p) for p in externaldata_dirs or []]))


def _quote(name: str) -> str:
    """A KQL column name, always bracket-quoted (a CSV header may be a keyword, e.g. `where`)."""
    return f"[{_literal(name)}]"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def load_watchlists(folders: list[Path]) -> dict[str, pa.Table]:
    """alias -> all-string table, one per `<alias>.csv` (Sentinel stores watchlist items as text)."""
    out: dict[str, pa.Table] = {}
    for folder in folders:
        for path in content_files(folder, "*.csv", what="watchlist"):
            try:
                rows = list(csv.reader(io.StringIO(read_content(path), newline="")))
            except csv.Error as exc:
                raise FormatError(f"cannot read watchlist: {exc}", file=str(path)) from exc
            if not rows or not any(h.strip() for h in rows[0]):
                raise FormatError("watchlist CSV has no header row", file=str(path), line=1)
            header = [h.strip() for h in rows[0]]
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes or "" in header:
                raise FormatError(
                    "watchlist header has empty or repeated column names: "
                    + (", ".join(excerpt(d, 40) for d in dupes[:5]) if dupes else "(empty)"),
                    file=str(path), line=1,
                )  # fmt: skip
            for i, row in enumerate(rows[1:], start=2):
                if row and len(row) != len(header):
                    raise FormatError(
                        f"row has {len(row)} fields, header has {len(header)}", file=str(path), line=i
                    )
            body = [r for r in rows[1:] if r]
            alias = path.stem
            if alias in out:
                raise ConfigError(f"watchlist alias {alias!r} is defined twice", file=str(path))
            out[alias] = pa.table({h: pa.array([r[j] for r in body], pa.string()) for j, h in enumerate(header)})
    return out


def load_functions(folders: list[Path]) -> list[str]:
    """Stored function definitions from `*.kql` files, each checked by duckdb-kql's parser."""
    from duckdb_kql.stored_functions import parse_functions, split_definitions

    out: list[str] = []
    seen: dict[str, str] = {}
    for folder in folders:
        for path in content_files(folder, "*.kql", what="stored function file"):
            text = read_content(path)
            if _DEFINITION.search(text):
                definitions = split_definitions(text)
            else:
                definitions = [f"function {path.stem}() {{\n{text}\n}}"]
            try:
                parsed = parse_functions(definitions) or {}
            except Exception as exc:  # duckdb-kql raises KqlError or TypeError for a bad definition
                first = (str(exc).splitlines() or [""])[0]
                raise FormatError(f"invalid function definition: {first[:200]}", file=str(path)) from exc
            for name in parsed.get(None, {}):
                if name in seen:
                    raise FormatError(f"function {name!r} is defined twice (also {seen[name]})", file=str(path))
                seen[name] = str(path)
            out.extend(definitions)
    return out
