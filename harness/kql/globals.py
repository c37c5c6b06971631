"""What Kusto.Language is told about a workspace: the tables and stored functions a query may use.

The analyzer's global state is the user's workspace, as a run sees it:

- every table of the `SchemaRegistry` (the shipped Microsoft schemas and the user's custom
  tables), with its columns' exact names and Kusto types;
- every stored function of the `WorkspaceContext`, declared from its own `.kql` definition
  (the user's functions and the ASIM unifying parsers of harness.workspace.asim, with their
  documented parameters, so named arguments such as `_Im_Dns(starttime=ago(1d))` are checked);
- `_GetWatchlist(alias)`: with watchlists configured, the very shim the engine runs (the item
  metadata columns plus every configured CSV column); without, Sentinel's shape, whose CSV
  columns come from `evaluate bag_unpack(WatchlistItem)` and so are open (any name is accepted,
  as Kusto accepts it, typed `unknown`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property

from harness.workspace.context import WATCHLIST_COLUMNS, WorkspaceContext
from harness.workspace.tables import SchemaRegistry

__all__ = ["WATCHLIST_COLUMNS", "WorkspaceSpec", "open_watchlist_function", "workspace_spec"]

#: Kusto.Language's database name for the workspace (what `database()` would name).
DATABASE = "workspace"


def open_watchlist_function() -> str:
    """`_GetWatchlist(alias)` when no watchlist is configured: the metadata columns, then the
    item's own columns unpacked from `WatchlistItem`, unknown until a watchlist is loaded."""
    columns = ", ".join(WATCHLIST_COLUMNS)
    return (
        ".create-or-alter function _GetWatchlist(watchlistAlias:string)\n{\n"
        "    Watchlist\n"
        "    | where _DTItemType == 'watchlist-item' and WatchlistAlias == watchlistAlias\n"
        f"    | project {columns}\n"
        "    | extend _Item = WatchlistItem\n"
        "    | evaluate bag_unpack(_Item)\n}"
    )


@dataclass(frozen=True)
class WorkspaceSpec:
    """The declaration handed to walk.js: tables as (name, ((column, type), ...)) and function
    definitions as text. Equal specs share one declaration in the analyzer."""

    tables: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    functions: tuple[str, ...]
    database: str = DATABASE

    def to_json(self) -> str:
        return json.dumps(
            {
                "database": self.database,
                "tables": [{"name": n, "columns": [list(c) for c in cols]} for n, cols in self.tables],
                "functions": [{"definition": d} for d in self.functions],
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @cached_property
    def key(self) -> str:
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:32]


_DEFINES_GETWATCHLIST = re.compile(
    r"^\s*(?:\.create(?:-or-alter)?\s+)?function\s+(?:with\s*\([^)]*\)\s*)?_GetWatchlist\b"
)


def workspace_spec(context: WorkspaceContext | None = None, registry: SchemaRegistry | None = None) -> WorkspaceSpec:
    """The spec of *context* (default: the shipped tables and the ASIM parsers, no watchlists).

    *registry* overrides the context's tables (for callers holding only a registry)."""
    context = context or WorkspaceContext()
    registry = registry or context.registry
    tables = tuple((name, tuple((c.name, c.type) for c in registry[name].columns)) for name in registry.names())
    functions = list(context.functions)
    if not any(_DEFINES_GETWATCHLIST.search(f) for f in functions):  # an engine's list may carry the shim already
        shim = context.watchlist_function()
        functions.append(shim if shim is not None else open_watchlist_function())
    return WorkspaceSpec(tables, tuple(functions))
