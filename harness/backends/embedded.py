"""duckdb-kql over an in-memory DuckDB: the default engine, nothing to install or start.

Tables are created from the real Microsoft schemas, strings default to "" (Kusto has no
null strings), the clock is pinned per query, and every engine failure is turned into a
typed error (harness.errors) with a KQL line:column where one can be found.

Detections are untrusted (README, "Trust model"): only queries run (harness.kql.guard refuses
control commands and `set` statements, and duckdb-kql translates with writes off); before the
first query the connection is sealed (no file or network access, no extension install or load,
configuration locked), and memory and threads are bounded, so one rule cannot read or write
files, attach a database, change a setting or starve the run.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import duckdb_kql
import numpy as np
import pyarrow as pa
from duckdb_kql.engine import schema as duckdb_schema
from duckdb_kql.types import kusto_type

from harness.backends import translations
from harness.backends.base import QueryResult, normalise_rows
from harness.backends.late_rows import keep_late_rows, late_rows
from harness.backends.union_types import install as install_typed_unions
from harness.errors import (
    ConfigError,
    DataError,
    EngineError,
    QuerySyntaxError,
    QueryTimeout,
    RefusedConstruct,
    ResourceExhausted,
    UnknownName,
    UnsupportedConstruct,
)
from harness.kql.calls import functions_called
from harness.kql.desugar import INGESTION_COLUMN, DesugarCache, Desugared, ingested_name
from harness.kql.guard import refuse_query
from harness.kql.names import locate_name
from harness.workspace.context import WorkspaceContext
from harness.workspace.externaldata import Fixture
from harness.workspace.tables import KUSTO_TO_DUCKDB, SchemaRegistry, TableSchema, sql_identifier

LOAD_WORKERS = 2
#: The label column of a table loaded in parts (`load_parts`), and the prefix of the table holding its rows.
PART_COLUMN = "__part"
_PARTED = "__rows_"
#: The prefix of a loaded table's one-row table of column defaults (EmbeddedBackend._rows).
_DEFAULTS = "__defaults_"
#: The prefix of the table of a table's rows ingested at another time than their TimeGenerated (`set_ingestion`).
_LATE = "__late_"
#: The columns of the scope list in `query_scopes` (named so no rule's column is taken for them).
_SCOPE_NO, _SCOPE_PARTS = "__harness_scope_no", "__harness_scope_parts"
#: Most rows one `query_scopes` statement may read (every scope's rows, summed over the tables it reads): past
#: it, scopes run one by one, so a large background is never held once per scope in one plan.
SCOPES_ROW_BUDGET = 250_000
#: What a table loaded in parts shows while `query_scopes` runs: reading it fails (the statement reads each
#: scope's rows through its own CTE; a reference that does not resolve to that CTE must not read the view).
_GUARD = frozenset({"\0guard"})
install_typed_unions()  # Kusto's `<column>_<type>` rule for unions of differently typed columns

#: Defaults for the engine's bounds (`engine-memory` and `engine-threads` in the configuration).
DEFAULT_MEMORY_LIMIT = "4GB"
#: One thread by default: DuckDB's parallel operators return rows in the order their threads finish, so an
#: unsorted result (or rows tied under a rule's `sort`) would come back in another order from run to run, and an
#: alert's entities and custom details with it; a run must be byte-for-byte reproducible (`engine-threads` raises it).
DEFAULT_THREADS = 1
#: DuckDB optimizer passes left out. The expression rewriter spends most of a statement's planning on the long OR
#: chains and IN lists detections are made of (600 ms of the seed email rule's 620 ms of optimising; the statement
#: runs in 20 ms), and a run plans about a hundred statements; the rows it then runs over are a few thousand, where
#: the rewrites it would make (constant folding, LIKE to prefix/suffix) save nothing measurable (bench/
#: run_breakdown.py: engine time 15.0 -> 11.9 s CPU on the pack; at 300,000 background rows the plain runs took
#: the same). Leaving an optimizer out never changes a result (DuckDB's own tests run with optimizers off), only
#: the order of an unsorted result's rows, which is fixed as long as the engine is.
DISABLED_OPTIMIZERS = ("expression_rewriter",)
_MEMORY = re.compile(r"^\s*\d+(?:\.\d+)?\s*(?:[KMGT]i?B|B)\s*$", re.I)

#: Applied once the data is in, in this order (the last one freezes the rest). Spilling to disk
#: is off too (`temp_directory`), so a runaway query fails on the memory limit instead of
#: filling the disk.
SEAL = (
    "SET temp_directory = ''",
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET lock_configuration = true",
)


def _default_sql(kusto_type: str) -> str:
    return "''" if kusto_type in ("string", "guid") else "NULL"


#: Arrow types DuckDB stores as they are in the column of each DuckDB type (no cast on load).
_NATIVE: dict[str, tuple[pa.DataType, ...]] = {
    "VARCHAR": (pa.string(), pa.large_string()),
    "INTEGER": (pa.int32(),),
    "BIGINT": (pa.int64(),),
    "DOUBLE": (pa.float64(),),
    "BOOLEAN": (pa.bool_(),),
    "TIMESTAMP": (pa.timestamp("us"),),
}


def _load_expr(ref: str, kusto_type: str, data: pa.ChunkedArray) -> str:
    """The SQL that stores Arrow column *data* (read as *ref*) in a column of *kusto_type*: the column itself
    where DuckDB stores its Arrow type as it is, else a cast; strings with nulls become "" (Kusto's empty)."""
    duck = KUSTO_TO_DUCKDB[kusto_type]
    kind = data.type.value_type if pa.types.is_dictionary(data.type) else data.type
    expr = ref if kind in _NATIVE.get(duck, ()) else f"CAST({ref} AS {duck})"
    if kusto_type in ("string", "guid") and _has_nulls(data):
        expr = f"COALESCE({expr}, '')"
    return expr


def _has_nulls(data: pa.ChunkedArray) -> bool:
    if data.null_count:
        return True
    return pa.types.is_dictionary(data.type) and any(chunk.dictionary.null_count for chunk in data.chunks)


@dataclass(frozen=True)
class _Stored:
    """The physical table holding a table's rows loaded in parts: the columns some rows gave, and the label."""

    table: str
    columns: frozenset[str]


@dataclass(frozen=True)
class _Insert:
    """Rows bound for one table (or a table's storage), and the SELECT list that reads them from the registered
    Arrow table."""

    schema: TableSchema
    data: pa.Table
    target: str
    select: list[str]
    into: list[str]  # the target's columns the select list fills, in its order

    def run(self, con: duckdb.DuckDBPyConnection) -> None:
        view = f"__load_{self.schema.name}"
        con.register(view, self.data)
        try:
            target, source = sql_identifier(self.target), sql_identifier(view)
            # Identifiers quoted by sql_identifier, types from KUSTO_TO_DUCKDB: no content text is pasted.
            into = ", ".join(map(sql_identifier, self.into))
            con.execute(f"INSERT INTO {target} ({into}) SELECT {', '.join(self.select)} FROM {source} AS src")  # noqa: S608
        except duckdb.Error as exc:
            raise DataError(f"loading {self.schema.name} failed: {exc}") from exc
        finally:
            con.unregister(view)

    def run_on_cursor(self, con: duckdb.DuckDBPyConnection) -> None:
        cursor = con.cursor()
        cursor.execute("SET TimeZone = 'UTC'")  # session settings are per cursor; casts must read UTC
        try:
            self.run(cursor)
        finally:
            cursor.close()


class EmbeddedBackend:
    name = "embedded"

    def __init__(
        self,
        registry: SchemaRegistry | None = None,
        functions: list[str] | None = None,
        threads: int | None = None,
        max_rows: int = 1_000_000,
        memory_limit: str | None = None,
        externaldata: Mapping[str, Fixture] | None = None,
    ) -> None:
        self.max_rows = max_rows
        self.registry = registry or SchemaRegistry()
        self.functions = list(functions or [])
        self._types = {n: {c.name: c.type for c in self.registry[n].duckdb_columns} for n in self.registry.names()}
        self.memory_limit = memory_limit or DEFAULT_MEMORY_LIMIT
        if not _MEMORY.match(self.memory_limit):
            raise ConfigError(f"engine memory limit {self.memory_limit!r} is not a size such as 4GB or 512MB")
        self.threads = int(threads or DEFAULT_THREADS)
        # The engine runs an exactly equivalent form of each rule where duckdb-kql lacks its syntax
        # (harness.kql.desugar); errors are reported at the rule's own positions.
        self._desugar = DesugarCache(
            WorkspaceContext(registry=self.registry, functions=self.functions, externaldata=dict(externaldata or {}))
        )
        self.sealed = False
        self._parted: dict[str, set[str]] = {}  # tables loaded with load_parts -> their part labels
        self._labels: dict[str, int] = {}  # part label -> the number stored with its rows
        self._shown: dict[str, frozenset[str] | None] = {}  # what each such table's view shows (None: all)
        self._part_rows: dict[str, dict[int, int]] = {}  # table loaded in parts -> rows per part number
        self._stored: dict[str, _Stored] = {}  # table loaded in parts -> its storage (the view `T` reads it)
        self._schema: dict[str, list[str]] | None = None  # duckdb_schema(con) once sealed
        self._translated: dict[tuple[str, datetime], Any] = {}  # (kql, now) -> translation, reused across scopes
        self._late: set[str] = set()  # tables loaded in parts with rows ingested late (set_ingestion)
        self.con = duckdb_kql.connect()
        self.con.execute(f"SET memory_limit = '{self.memory_limit.strip()}'")
        self.con.execute(f"SET threads = {self.threads}")
        # DuckDB draws a progress bar on stdout for a statement running past 2 s (a loaded machine): it would
        # corrupt `--json` output and the terminal report.
        self.con.execute("SET enable_progress_bar = false")
        self.con.execute(f"SET disabled_optimizers = '{','.join(DISABLED_OPTIMIZERS)}'")
        # A schema DuckDB cannot hold (e.g. two columns differing only in case, which Kusto allows)
        # must not take the other tables down: remember why, and say so if a query reads it.
        self.broken: dict[str, str] = {}
        for name in self.registry.names():
            try:
                self.con.execute(self.registry[name].duckdb_ddl())
            except duckdb.Error as exc:
                self.broken[name] = str(exc).splitlines()[0]
                continue
            if self.registry[name].column("TimeGenerated") is not None:
                # The ingestion-time view the `ingestion time` desugaring reads (harness.kql.desugar): the table
                # by name (whatever it is shown as), each row ingested when generated unless set_ingestion says.
                self.con.execute(f"CREATE VIEW {sql_identifier(ingested_name(name))} AS SELECT *, "  # noqa: S608
                                 f'"TimeGenerated" AS {sql_identifier(INGESTION_COLUMN)} FROM {sql_identifier(name)}')

    # -- loading ---------------------------------------------------------
    def load(self, tables: Mapping[str, pa.Table]) -> None:
        self._write(tables, replace=True)

    def append(self, tables: Mapping[str, pa.Table]) -> None:
        self._write(tables, replace=False)

    def _write(self, tables: Mapping[str, pa.Table], *, replace: bool) -> None:
        """Load tables two at a time: an insert below one row group (~120k rows) runs on a single
        DuckDB thread, so loading tables side by side is what keeps both cores busy."""
        self._check_open()
        jobs = []
        for name, data in tables.items():
            schema = self._schema_of(name)
            if name in self._parted:
                raise EngineError(f"{name} was loaded in parts; load it with load_parts")
            if replace:
                try:
                    self.con.execute(schema.duckdb_ddl())
                except duckdb.Error as exc:
                    raise DataError(f"loading {name} failed: {exc}") from exc
            jobs.append((schema, data, None))
        self._insert_all(jobs)

    def _insert_all(self, jobs: list[tuple[TableSchema, pa.Table, pa.Array | None]]) -> None:
        """Insert each (schema, rows, part numbers or None: the table itself) where it goes, then show the views of
        the tables loaded in parts over their storage again."""
        inserts = [self._plan(*job) for job in jobs if job[1].num_rows]
        inserts.sort(key=lambda job: -job.data.num_rows * job.data.num_columns)  # biggest first
        if len(inserts) < 2:
            for job in inserts:
                job.run(self.con)
        else:
            with ThreadPoolExecutor(max_workers=LOAD_WORKERS) as pool:
                list(pool.map(lambda job: job.run_on_cursor(self.con), inserts))
        for name in dict.fromkeys(job.schema.name for job in inserts if job.schema.name in self._parted):
            self._show(name, self._shown.get(name), force=True)

    def _check_open(self) -> None:
        if self.sealed:
            raise EngineError("the embedded engine is sealed once a query has run; load every table first")

    def _schema_of(self, name: str) -> TableSchema:
        schema = self.registry.get(name)
        if schema is None:
            raise DataError(f"cannot load rows into unknown table {name!r}")
        return schema

    # -- parts: one load, queries that see only some of it ---------------------------
    def load_parts(self, tables: Mapping[str, pa.Table], parts: Mapping[str, Sequence[str]]) -> None:
        """Load rows labelled with the part each belongs to (a case id, or "" for rows every run sees:
        background, watchlists), so `scope()` can show the next queries only some parts without reloading.
        `parts[name]` holds one label per row of `tables[name]`; may be called again to add rows.

        A table with parts is a view `T` over its storage (its columns plus the label): the query text and
        its translation stay the same whichever parts the view shows."""
        self._check_open()
        jobs = []
        for name, data in tables.items():
            schema = self._schema_of(name)
            labels = parts[name]
            if len(labels) != data.num_rows:
                raise DataError(f"{name}: {len(labels)} part labels for {data.num_rows} rows")
            if name not in self._parted:
                self._parted[name] = set()
            counts = self._part_rows.setdefault(name, {})
            ids = np.empty(data.num_rows, dtype=np.int32)
            at = 0
            for label, run in itertools.groupby(labels):  # labels come in runs (a case's rows, the background)
                n = sum(1 for _ in run)
                self._parted[name].add(label)
                number = self._labels.setdefault(label, len(self._labels))
                counts[number] = counts.get(number, 0) + n
                ids[at:at + n] = number
                at += n
            jobs.append((schema, data, pa.array(ids, pa.int32())))
        self._insert_all(jobs)

    def stored(self, name: str) -> str | None:
        """The table holding a `load_parts` table's rows in load order (rowid), with its part label column and
        the columns some rows gave (`stored_column` reads any column), which the view `name` reads; None for a
        table loaded whole or not at all (it is its own storage)."""
        stored = self._stored.get(name)
        return stored.table if stored is not None else None

    def stored_defaults(self, name: str) -> str | None:
        """The one-row table of column defaults to CROSS JOIN to `stored(name)` when reading a column its rows
        never gave (`stored_column`); None when the storage holds every column."""
        stored = self._stored.get(name)
        if stored is None or len(stored.columns) == len(self.registry[name].duckdb_columns):
            return None
        return _DEFAULTS + name

    def stored_column(self, name: str, column: str, alias: str, defaults: str) -> str:
        """SQL reading *column* of table *name* from its storage joined as *alias* (its defaults as *defaults*)."""
        stored = self._stored.get(name)
        source = alias if stored is None or column in stored.columns else defaults
        return f"{source}.{sql_identifier(column)}"

    def set_ingestion(self, name: str, generated: pa.Array, ingested: pa.Array) -> None:
        """When each of the first rows of table *name* (loaded with `load_parts`, case rows first) reached the
        workspace: *generated* their TimeGenerated (checked against the rows stored there), *ingested* their
        ingestion time, which `ingestion_time()` reads (the `ingestion time` desugaring). Before any query."""
        self._check_open()
        stored = self._stored.get(name)
        if stored is None or len(generated) != len(ingested):
            raise DataError(f"ingestion times for {name} need its rows loaded in parts, one time per row")
        target = sql_identifier(_LATE + name)
        self.con.execute(f"CREATE OR REPLACE TABLE {target} (rid BIGINT PRIMARY KEY, ingested TIMESTAMP)")
        keep_late_rows(self.con, late_rows(generated, ingested), into=target, columns="rid, ingested",
                       stored=sql_identifier(stored.table), table=name)
        self._late.add(name)
        self._show(name, self._shown.get(name), force=True)

    def _ingested_rows(self, name: str) -> str:
        """A SELECT of every row of table *name* (loaded in parts) as `_rows` has it, then its ingestion time."""
        cols = [f"__rows.{sql_identifier(c.name)}" for c in self.registry[name].duckdb_columns]
        cols.append(f"__rows.{sql_identifier(PART_COLUMN)}")
        if name not in self._late:
            return f'SELECT {", ".join(cols)}, __rows."TimeGenerated" AS {sql_identifier(INGESTION_COLUMN)} ' \
                   f"FROM ({self._rows(name)}) AS __rows"  # noqa: S608
        return (f'SELECT {", ".join(cols)}, COALESCE(__l.ingested, __rows."TimeGenerated") AS '  # noqa: S608
                f"{sql_identifier(INGESTION_COLUMN)} FROM ({self._rows(name, rid=True)}) AS __rows "
                f"LEFT JOIN {sql_identifier(_LATE + name)} AS __l ON __l.rid = __rows.__rid")

    def part_filter(self, name: str, parts: Collection[str]) -> str | None:
        """A SQL condition on table *name*'s storage (`stored`) keeping the rows of *parts*; None when the table
        was loaded whole or holds no rows (its rows carry no part). Part numbers come from the load, never from
        content."""
        if self.stored(name) is None:
            return None
        ids = sorted(self._labels[p] for p in parts if p in self._labels)
        return f"{sql_identifier(PART_COLUMN)} IN ({', '.join(map(str, ids)) or 'NULL'})"

    def part_numbers(self, parts: Collection[str]) -> list[int]:
        """The numbers the rows of *parts* carry in their storage's part column (a label never loaded: none)."""
        return sorted({self._labels[p] for p in parts if p in self._labels})

    def part_rows(self, name: str, parts: Collection[str]) -> int:
        """How many rows of table *name* (loaded in parts) *parts* hold."""
        ids = set(self.part_numbers(parts))
        return sum(n for i, n in self._part_rows.get(name, {}).items() if i in ids)

    def scope(self, parts: Collection[str] | None) -> None:
        """Show the next queries only the rows of *parts* (None: every row) in every table loaded with
        `load_parts`; a query reading other tables sees them whole."""
        for name in self._parted:
            self._show(name, None if parts is None else frozenset(parts))

    def _rows(self, name: str, *, rid: bool = False) -> str:
        """A SELECT of every row of table *name* (loaded in parts) in its full schema, with the part label. A
        column its storage does not hold is its default ("" for strings, null otherwise), read from the table's
        one-row table of defaults: not a constant, which DuckDB 2.0.1 fails to bind in a join under the LATERAL
        of `query_scopes` ("Failed to bind column reference")."""
        stored, defaults = self._stored[name], self.stored_defaults(name)
        cols = [self.stored_column(name, c.name, "__p", "__d") for c in self.registry[name].duckdb_columns]
        cols.append(f"__p.{sql_identifier(PART_COLUMN)}")
        if rid:  # the storage's row number, which set_ingestion keys late rows by
            cols.append("__p.rowid AS __rid")
        source = f"{sql_identifier(stored.table)} AS __p"
        if defaults is not None:
            source += f" CROSS JOIN {sql_identifier(defaults)} AS __d"
        return f"SELECT {', '.join(cols)} FROM {source}"  # noqa: S608

    def _show(self, name: str, parts: frozenset[str] | None, *, force: bool = False) -> None:
        if not force and self._shown.get(name, ()) == parts:
            return
        if name not in self._stored:  # nothing loaded: the empty table of the schema stands
            return
        cols = ", ".join(sql_identifier(c.name) for c in self.registry[name].duckdb_columns)
        where = ""
        if parts is _GUARD:
            where = " WHERE error('rows loaded in parts are read through a scope here') IS NULL"
        elif parts is not None:
            ids = sorted(self._labels[p] for p in parts if p in self._labels)  # numbers, never label text
            where = f" WHERE {sql_identifier(PART_COLUMN)} IN ({', '.join(map(str, ids)) or 'NULL'})"
        view = sql_identifier(name)
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {cols} FROM ({self._rows(name)}) AS __rows{where}")  # noqa: S608
        if name in self._late:  # its ingestion-time view reads the late rows' times with the same rows
            self.con.execute(f"CREATE OR REPLACE VIEW {sql_identifier(ingested_name(name))} AS SELECT {cols}, "  # noqa: S608
                             f"{sql_identifier(INGESTION_COLUMN)} FROM ({self._ingested_rows(name)}) AS __rows{where}")
        self._shown[name] = parts

    def _plan(self, schema: TableSchema, data: pa.Table, part: pa.Array | None) -> _Insert:
        """How *data* goes into *schema*'s table (*part* None: the table holds every column), or, labelled with the
        *part* numbers, into the table's storage (`_storage`), which holds only the columns some rows gave: a
        wide table (CommonSecurityLog has 164 columns) costs what its rows give. A column whose
        Arrow type is what DuckDB stores is read as it is (no cast); a string column with nulls is "" there
        (Kusto has no null strings); a column the rows lack holds its default ("" for strings, else null)."""
        unknown = [c for c in data.column_names if schema.column(c) is None]
        if unknown:
            raise DataError(f"table {schema.name} has no column(s) {', '.join(unknown)}")
        # A column spelled in two cases is one DuckDB column (TableSchema.duckdb_columns): take either.
        given = {c.lower(): c for c in reversed(data.column_names)}
        source = {col.name: col.name if col.name in data.column_names else given.get(col.name.lower())
                  for col in schema.duckdb_columns}
        target, held = schema.name, {c.name for c in schema.duckdb_columns}
        if part is not None:
            data = data.append_column(PART_COLUMN, part)
            given_names = {c for c, src in source.items() if src is not None}
            # TimeGenerated is always stored: harness.run.windowed reads it from the storage to window the rows.
            given_names |= {"TimeGenerated"} & source.keys()
            stored = self._storage(schema, frozenset(given_names))
            target, held = stored.table, stored.columns
        select, into = [], []
        for col in schema.duckdb_columns:
            if source[col.name] is not None:
                select.append(_load_expr(f"src.{sql_identifier(source[col.name])}", col.type,
                                         data.column(source[col.name])))
            elif col.name in held:
                select.append(f"CAST({_default_sql(col.type)} AS {KUSTO_TO_DUCKDB[col.type]})")
            else:
                continue
            into.append(col.name)
        if part is not None:
            select.append(f"src.{sql_identifier(PART_COLUMN)}")
            into.append(PART_COLUMN)
        return _Insert(schema, data, target, select, into)

    def _storage(self, schema: TableSchema, names: frozenset[str]) -> _Stored:
        """The storage of *schema*'s table loaded in parts, holding at least the columns *names*. One table per
        name, rows in load order (harness.run.windowed reads them by rowid): rows that give a column it lacks
        widen it first (the rows already in hold the column's default)."""
        stored = self._stored.get(schema.name)
        if stored is None:
            self.con.execute(f"DROP TABLE IF EXISTS {sql_identifier(schema.name)}")  # its view replaces it (_show)
            defaults = ", ".join(
                f"CAST({_default_sql(c.type)} AS {KUSTO_TO_DUCKDB[c.type]}) AS {sql_identifier(c.name)}"
                for c in schema.duckdb_columns)
            self.con.execute(f"CREATE TABLE {sql_identifier(_DEFAULTS + schema.name)} AS SELECT {defaults}")
            stored = _Stored(f"{_PARTED}{schema.name}", names)
            cols = [f"{sql_identifier(c.name)} {KUSTO_TO_DUCKDB[c.type]}" for c in schema.duckdb_columns
                    if c.name in names]
            cols.append(f"{sql_identifier(PART_COLUMN)} INTEGER")
            self.con.execute(f"CREATE TABLE {sql_identifier(stored.table)} ({', '.join(cols)})")
        elif not names <= stored.columns:
            for c in schema.duckdb_columns:
                if c.name in names and c.name not in stored.columns:
                    self.con.execute(f"ALTER TABLE {sql_identifier(stored.table)} ADD COLUMN {sql_identifier(c.name)} "
                                     f"{KUSTO_TO_DUCKDB[c.type]} DEFAULT {_default_sql(c.type)}")
            stored = _Stored(stored.table, stored.columns | names)
        self._stored[schema.name] = stored
        return stored

    # -- querying --------------------------------------------------------
    def seal(self) -> None:
        """Cut the connection off from everything but its tables, for good (see SEAL)."""
        if not self.sealed:
            for statement in SEAL:
                self.con.execute(statement)
            self.sealed = True

    def desugared(self, kql: str) -> Desugared:
        """What this engine runs for *kql*: the rule's text, or an exactly equivalent desugared form
        (harness.kql.desugar), with the desugarings applied. Raises `UnsupportedConstruct` when a
        desugaring refuses the rule (running it would change its result)."""
        sugar = self._desugar.get(kql)  # first: its analysis (with the tree) also answers the guard's
        refuse(kql, self._desugar.context)
        if sugar.refusals:
            first = sugar.refusals[0]
            span = (first.line, first.column) if first.line is not None else None
            raise UnsupportedConstruct(f"unsupported error: {first}", construct=f"desugar:{first.name}", span=span)
        return sugar

    def translate(self, kql: str, *, now: datetime) -> str:
        """*kql*'s translation at *now*. On a sealed engine, against the schema its own queries are translated
        against (`_translation`), so a rule run here and on the simulated schedule (harness.run.windowed) is one
        translation, kept once (harness.backends.translations: the clock is not in its key)."""
        sugar = self.desugared(kql)
        try:
            if self.sealed:
                return self._translation(sugar.text, now)
            return translations.translate(
                sugar.text,
                schema={n: [c.name for c in self.registry[n].duckdb_columns] for n in self.registry.names()},
                functions=self.functions_for(sugar.text), now=now, types=self._types)
        except duckdb_kql.KqlError as exc:
            raise kql_error(exc, kql, sugar) from exc

    def out_of_memory(self) -> ResourceExhausted:
        """The error for a query that hit the memory limit (also raised by harness.run.windowed)."""
        return ResourceExhausted(
            f"resource error: the query needs more than the engine's {self.memory_limit} memory limit "
            "(a runaway join or aggregation?); raise `engine-memory` only if the rule really needs it")

    def _sealed_schema(self) -> dict[str, list[str]]:
        """The connection's tables and columns, read once: they are fixed once the connection is sealed."""
        if self._schema is None:
            self._schema = duckdb_schema(self.con)
        return self._schema

    def _translation(self, kql: str, now: datetime) -> Any:
        """What `duckdb_kql.kql()` translates, on a sealed connection: against the connection's tables, writes off.
        kql() would first `SET TimeZone`, which a locked configuration refuses; the connection is already UTC
        (duckdb_kql.connect)."""
        translated = self._translated.get((kql, now))
        if translated is None:  # the schema is fixed once sealed (views keep their columns): translate once
            translated = translations.translate(kql, schema=self._sealed_schema(), functions=self.functions_for(kql),
                                                now=now, types=self._types)
            self._translated[(kql, now)] = translated
        if translated.unbound:
            raise duckdb_kql.KqlSchemaError(", ".join(translated.unbound),
                                            hint="declared query parameter with no value and no default")
        return translated

    def query(self, kql: str, *, now: datetime, timeout: float = 60.0) -> QueryResult:
        return self._run(kql, now, timeout, None)[0]

    def query_scopes(self, kql: str, scopes: Sequence[Collection[str] | None], *, now: datetime,
                     timeout: float = 60.0) -> list[QueryResult]:
        """The query's result on each scope, as `scope(parts)` then `query()` would return it, from one
        statement: the translation runs in a LATERAL subquery once per scope, each table loaded in parts read
        through a CTE of that scope's rows. Binding and optimising a detection's SQL, not running it, is what
        a run on a test dataset costs (0.7 s for the seed rule), so N scopes cost about one query, not N.

        DuckDB flattens the correlated subquery exactly (every join, aggregation and window gains the scope
        as a key); the caller checks that: pass None (every row) among *scopes* and compare with `query()`
        over everything. Raises a HarnessError where the statement cannot run as one (more than
        SCOPES_ROW_BUDGET rows read, an unsupported correlation, more than max_rows rows in all): then run
        the scopes one by one."""
        return self._run(kql, now, timeout, list(scopes))

    def _run(self, kql: str, now: datetime, timeout: float,
             scopes: list[Collection[str] | None] | None) -> list[QueryResult]:
        sugar = self.desugared(kql)
        self.seal()
        timed_out = threading.Event()
        finished = threading.Event()

        def fire() -> None:
            # DuckDB drops an interrupt that lands between statements (e.g. while duckdb-kql is still
            # translating), so keep interrupting until the query is over.
            if finished.wait(timeout):
                return
            timed_out.set()
            while not finished.wait(0.05):
                self.con.interrupt()

        watchdog = threading.Thread(target=fire, name="kql-timeout", daemon=True)
        watchdog.start()
        guarded: dict[str, frozenset[str] | None] = {}
        try:
            translated = self._translation(sugar.text, now)
            sql = str(translated)
            if scopes is not None:
                sql, names = self._lateral(sql, scopes)
                read = self._rows_read(names, scopes)
                if read > SCOPES_ROW_BUDGET:
                    raise EngineError(f"{len(scopes)} scopes read {read:,} rows in all, more than one statement "
                                      f"may ({SCOPES_ROW_BUDGET:,}): run them one by one")
                guarded = {n: self._shown.get(n) for n in names}
                for name in names:
                    self._show(name, _GUARD)
            columns, types, raw = run_sql(self.con, sql, translated.parameters, self.max_rows)
            self._check_fetched(raw, timed_out, timeout)
        except duckdb_kql.KqlError as exc:
            raise kql_error(exc, kql, sugar) from exc
        except duckdb.OutOfMemoryException as exc:
            raise self.out_of_memory() from exc
        except duckdb.Error as exc:
            if timed_out.is_set():
                raise QueryTimeout(f"query ran past its {timeout:g} s timeout") from exc
            err = engine_error(exc, kql)
            for name, why in self.broken.items():
                if f"{name!r}" in err.reason:
                    err.reason = f"table {name!r} cannot be created in the embedded engine: {why}"
            raise err from exc
        finally:
            finished.set()
            watchdog.join()
            for name, shown in guarded.items():
                self._show(name, shown)
        try:
            rows = normalise_rows(raw, types)
        except (ValueError, OverflowError) as exc:  # e.g. datetime_add("year", 100000, ...): past year 9999
            raise DataError(f"the query returned a value Kusto cannot hold ({exc}); a datetime outside years "
                            "1-9999, or a number out of range") from exc
        if scopes is None:
            return [QueryResult(columns, types, rows)]
        split: list[list[tuple[Any, ...]]] = [[] for _ in scopes]
        for row in rows:
            split[row[0]].append(row[1:])
        return [QueryResult(columns[1:], types[1:], part) for part in split]

    def _rows_read(self, names: list[str], scopes: list[Collection[str] | None]) -> int:
        """The rows of *names* the scopes show, summed over the scopes."""
        total = 0
        for parts in scopes:
            ids = None if parts is None else {self._labels[p] for p in parts if p in self._labels}
            for name in names:
                total += sum(n for i, n in self._part_rows.get(name, {}).items() if ids is None or i in ids)
        return total

    def _lateral(self, sql: str, scopes: list[Collection[str] | None]) -> tuple[str, list[str]]:
        """*sql* once per scope (its number first in each row), and the tables loaded in parts it names: each
        is a CTE of the scope's rows, which the query's own references resolve to before the view of that name.
        Part numbers and column names come from the load, never from content."""
        lowered = sql.lower()
        names = [n for n in self._parted if n in self._stored and n.lower() in lowered]
        every = sorted(self._labels.values())
        values = []
        for index, parts in enumerate(scopes):
            ids = every if parts is None else sorted({self._labels[p] for p in parts if p in self._labels})
            values.append(f"({index}, [{', '.join(map(str, ids))}]::INTEGER[])")
        part, listed = sql_identifier(PART_COLUMN), f"__harness_scope.{sql_identifier(_SCOPE_PARTS)}"
        ctes = []
        for name in names:
            cols = ", ".join(sql_identifier(c.name) for c in self.registry[name].duckdb_columns)
            ctes.append(f"{sql_identifier(name)} AS (SELECT {cols} FROM ({self._rows(name)}) AS __rows "  # noqa: S608
                        f"WHERE list_contains({listed}, {part}))")
            if ingested_name(name).lower() in lowered and self.registry[name].column("TimeGenerated") is not None:
                ctes.append(f"{sql_identifier(ingested_name(name))} AS (SELECT {cols}, "  # noqa: S608
                            f"{sql_identifier(INGESTION_COLUMN)} FROM ({self._ingested_rows(name)}) AS __rows "
                            f"WHERE list_contains({listed}, {part}))")
        inner = f"SELECT * FROM ({sql}) AS __harness_scoped"  # noqa: S608 - the engine's own translation
        if ctes:
            inner = f"WITH {', '.join(ctes)} {inner}"
        number = f"__harness_scope.{sql_identifier(_SCOPE_NO)}"
        return (f"SELECT {number}, __harness_q.* FROM (VALUES {', '.join(values)}) "  # noqa: S608
                f"AS __harness_scope({sql_identifier(_SCOPE_NO)}, {sql_identifier(_SCOPE_PARTS)}), "
                f"LATERAL ({inner}) AS __harness_q"), names

    def functions_for(self, kql: str) -> list[str]:
        """The stored functions a query calls (harness.kql.calls)."""
        return functions_called(kql, self.functions, self._desugar.context)

    def _check_fetched(self, raw: list[tuple[Any, ...]], timed_out: threading.Event, timeout: float) -> None:
        """run_sql fetched at most max_rows + 1 rows, so a runaway result cannot exhaust memory past the timeout."""
        if timed_out.is_set():
            raise QueryTimeout(f"query ran past its {timeout:g} s timeout")
        if len(raw) > self.max_rows:
            raise EngineError(
                f"the query returned more than {self.max_rows:,} rows; a detection result that large is "
                "a runaway join or a missing filter")

    def execute_sql(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def close(self) -> None:
        self.con.close()


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None,
            max_rows: int) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    """Run one translated query: its column names, Kusto types and at most max_rows + 1 rows.

    One `execute` binds and plans the statement once; a relation (`con.sql(...).limit(...).fetchall()`)
    binds it three times, and binding and optimising, not running, is what a detection costs on a test
    dataset (about 0.3 s + 0.4 s for the seed rule's 31 KB of SQL). The limit is the same wrapper the
    relation's `limit()` puts around the statement."""
    wrapped = f"SELECT * FROM ({sql}) LIMIT {int(max_rows) + 1}"  # noqa: S608 - the engine's own translation
    result = con.execute(wrapped, dict(params)) if params else con.execute(wrapped)
    description = result.description or []
    columns = [d[0] for d in description]
    types = [kusto_type(d[1]) for d in description]
    return columns, types, result.fetchall()


def refuse(kql: str, context: WorkspaceContext | None = None) -> None:
    """Only queries reach the engine (harness.kql.guard): anything else is an error at its place.
    *context*: the engine's workspace, so the guard shares the desugaring's analysis."""
    refusal = refuse_query(kql, context=context)
    if refusal is not None:
        raise RefusedConstruct(refusal.message, construct=refusal.construct, span=(refusal.line, refusal.column))


_SPAN = re.compile(r"at (\d+):(\d+)")


_KQL_ERRORS: dict[type[Exception], type[EngineError]] = {
    duckdb_kql.KqlSyntaxError: QuerySyntaxError,
    duckdb_kql.KqlUnsupportedError: UnsupportedConstruct,
    duckdb_kql.KqlSchemaError: UnknownName,
}


def kql_error(exc: Exception, kql: str, sugar: Desugared | None = None) -> EngineError:
    """duckdb-kql's translation-time refusals, typed, with their construct and KQL position (a position in
    the desugared text *sugar* is reported where it is in the rule's own text *kql*)."""
    line = col = None
    span = getattr(exc, "span", None)
    if span is not None:
        line, col = span.line, span.column + 1
    elif getattr(exc, "diagnostics", None):
        d = exc.diagnostics[0]
        line, col = d.span.line, d.span.column + 1
    else:
        m = _SPAN.search(str(exc))
        if m:
            line, col = int(m.group(1)), int(m.group(2)) + 1
    construct = getattr(exc, "construct", "") or ""
    if line is not None and sugar is not None and sugar.changed:
        line, col = sugar.original_position(line, col if col is not None else 1)
    if line is None and ":" in construct:
        line, col = locate_name(kql, construct.split(":", 1)[1])
    error_type = _KQL_ERRORS.get(type(exc), EngineError)
    return error_type(
        f"{error_type.kind} error: {exc}", construct=construct or None, span=(line, col) if line is not None else None
    )


_UNKNOWN_COLUMN = re.compile(r'Referenced column "([^"]+)" not found', re.I)
_UNKNOWN_TABLE = re.compile(r"Table with name ([^\s]+) does not exist", re.I)


def engine_error(exc: Exception, kql: str) -> EngineError:
    """DuckDB errors carry no KQL position: find the offending name in the query text."""
    text = str(exc).splitlines()[0]
    m = _UNKNOWN_COLUMN.search(str(exc))
    if m:
        name = m.group(1)
        line, col = locate_name(kql, name)
        return UnknownName(f"unknown column {name!r}", span=(line, col) if line is not None else None)
    m = _UNKNOWN_TABLE.search(str(exc))
    if m:
        name = m.group(1).strip('"!')
        line, col = locate_name(kql, name)
        return UnknownName(f"unknown table {name!r}", span=(line, col) if line is not None else None)
    return EngineError(f"engine error ({type(exc).__name__}): {text}")
