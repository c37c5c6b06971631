"""Run one detection as Sentinel's scheduler would: as of a run's time, over that run's window.

The embedded backend holds every row once. This module gives each run the view Sentinel gives
it (`harness.run.schedule.Run`): on its own DuckDB cursor, a temporary view named after each
table shadows the table and keeps only the rows whose `TimeGenerated` is in the run's window and
whose ingestion time is in its ingestion window. The views select exactly the table's columns
(its schema's, never a part label), so a query's `*`, `project-away` and `union` see what they see on the table; the
backend's own connection never sees the views (temporary objects belong to one connection).

Ingestion time is a hidden input column (`INGESTION_COLUMN`) of the Arrow tables given to
`load()`: stripped before the rows reach the backend, and kept, for the rows whose ingestion
differs from their TimeGenerated, in a temporary table keyed by DuckDB's `rowid` (insertion order,
checked after loading: a misaligned row is an error, never a silent shift). A row without it is
ingested when generated.

One translation serves every run: duckdb-kql renders a pinned clock as one bound parameter
(`$kqlnow`), so each run rebinds it to the run's `now`, and the window is one row of a temporary
table the views read. `prepare()` also checks once whether the rule returns rows on empty input
(`count()`, `print`, a watchlist alone), because only a rule that does not may skip empty windows.

Not windowed, as documented (docs/sentinel-alerts.md): the `Watchlist` table behind
`_GetWatchlist` ("The timestamp on your queries will be ignored in both the query UI and in
scheduled alerts", https://learn.microsoft.com/en-us/azure/sentinel/watchlists-queries), and
`datatable`/`externaldata` (inline data, not workspace records; nothing here touches them). A
table without a `TimeGenerated` column cannot be windowed and is listed in `unwindowed`.

`ingestion_time()` reads the same ingestion times: the engine runs a rule that calls it in its
`ingestion time` desugared form (harness.kql.desugar), which reads the table's ingestion-time view
`__harness_ingested__T`; here that view is the run's view of the table plus each row's ingestion time.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from duckdb_kql.translate import CLOCK_SLOT
from duckdb_kql.types import kusto_type

from harness.backends.base import QueryResult, normalise_rows
from harness.backends.embedded import PART_COLUMN, EmbeddedBackend, engine_error
from harness.backends.late_rows import keep_late_rows, late_rows
from harness.errors import DataError, EngineError, QueryTimeout
from harness.kql.desugar import INGESTION_COLUMN, ingested_name
from harness.run.schedule import Run, Window

#: The hidden input column carrying each row's ingestion time (UTC); the ingestion-time views' last column.
#: Tables Sentinel does not window (see the module docstring).
NOT_WINDOWED = frozenset({"Watchlist"})
#: The placeholder clock a query is translated with; each run binds its own.
_PLACEHOLDER_NOW = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Prepared:
    """One detection's query, translated once for every run."""

    kql: str
    sql: str
    parameters: dict[str, Any]
    rebinds_clock: bool  # False: the query never reads now(), or pins its own clock
    rows_on_empty: bool = False  # returns rows when every windowed table is empty
    statement: str | None = None  # the name it is PREPAREd under on the engine's cursor (None: run as text)

    @property
    def empty_safe(self) -> bool:
        """A run whose window holds no row can be skipped: it would return nothing."""
        return not self.rows_on_empty


@dataclass
class _Late:
    table: str
    rows: int = 0


@dataclass
class WindowedEngine:
    """Scheduled runs of detections over an `EmbeddedBackend`'s data. Load the data through the
    engine (not the backend), so each row's ingestion time stays attached to it; one engine serves
    one thread (it owns one cursor). Create it before the backend is sealed (its cursor must be set
    to UTC, which a sealed connection refuses); the first `prepare` seals the backend, as the
    backend's own first query does, so every table is loaded before any rule runs."""

    backend: EmbeddedBackend
    not_windowed: frozenset[str] = NOT_WINDOWED
    timeout: float = 60.0
    unwindowed: list[str] = field(default_factory=list)
    _late: dict[str, _Late] = field(default_factory=dict)
    _cursor: duckdb.DuckDBPyConnection | None = None
    _statements: int = 0  # prepared statements made on the cursor (their names count up)
    _views_stale: bool = True  # the windowed views are built on first use after a load (`_ensure_views`)
    # tables whose windowed view `run_many` replaced by one that fails when read (a reference its CTEs do not
    # catch); they stay so until a run alone needs the windowed view again (`_ensure_views`)
    _guarded: set[str] = field(default_factory=set)
    _planned: set[str] = field(default_factory=set)  # statements PREPAREd on `_cursor`
    _counts: dict[str, int] = field(default_factory=dict)  # stored rows per table, until the next load

    def __post_init__(self) -> None:
        self._cursor = _utc_cursor(self.backend)
        self._cursor.execute(
            "CREATE OR REPLACE TEMP TABLE __window (generated_from TIMESTAMP, generated_to TIMESTAMP, "
            "ingested_from TIMESTAMP, ingested_to TIMESTAMP)")
        self._cursor.execute("INSERT INTO __window VALUES (NULL, NULL, NULL, NULL)")
        self._catalog = self._cursor.execute("SELECT current_database()").fetchone()[0]
        self._build_views()

    @property
    def cursor(self) -> duckdb.DuckDBPyConnection:
        if self._cursor is None:
            raise RuntimeError("the windowed engine has no cursor yet (prepare it first)")
        return self._cursor

    # -- loading -----------------------------------------------------------
    def load(self, tables: Mapping[str, pa.Table]) -> None:
        """Replace the named tables (as `Backend.load`), reading each row's ingestion time from
        `INGESTION_COLUMN` when present."""
        data, ingestion = _split(tables)
        self.backend.load(data)
        for name in data:
            self._late.pop(name, None)
            self.cursor.execute(f"DROP TABLE IF EXISTS {_late_table(name)}")
        self._keep_late(data, ingestion, offsets=dict.fromkeys(data, 0))
        self._build_views()

    def append(self, tables: Mapping[str, pa.Table]) -> None:
        data, ingestion = _split(tables)
        self._counts.clear()
        offsets = {n: self._count(n) for n in data}
        self.backend.append(data)
        self._keep_late(data, ingestion, offsets=offsets)
        self._build_views()

    def set_ingestion(self, name: str, generated: pa.Array, ingested: pa.Array) -> None:
        """Ingestion times for the first rows of table `name` as loaded (for a table loaded by
        `EmbeddedBackend.load_parts`, its case rows come first): `generated` their TimeGenerated (checked
        against what is stored at those rowids), `ingested` when each reached the workspace."""
        self._keep_late({name: pa.table({"TimeGenerated": generated})}, {name: ingested}, offsets={name: 0})
        self._build_views()

    def _count(self, table: str) -> int:
        if table not in self._counts:  # identifiers quoted by _q
            self._counts[table] = int(self.cursor.execute(f'SELECT count(*) FROM {self._base(table)}').fetchone()[0])  # noqa: S608
        return self._counts[table]

    def _keep_late(self, data: Mapping[str, pa.Table], ingestion: Mapping[str, pa.Array],
                   offsets: Mapping[str, int]) -> None:
        """Remember the rows ingested at another time than their TimeGenerated, by rowid, and check
        that those rowids hold those rows."""
        for name, ingested in ingestion.items():
            generated = data[name].column("TimeGenerated") if "TimeGenerated" in data[name].column_names else None
            if generated is None:
                raise DataError(f"table {name} has an ingestion time but no TimeGenerated to window on")
            late = late_rows(generated, ingested, offsets[name])
            if late.num_rows == 0:
                continue
            target = _late_table(name)
            self.cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {target} (rid BIGINT PRIMARY KEY, generated TIMESTAMP, "
                "ingested TIMESTAMP)")
            keep_late_rows(self.cursor, late, into=target, columns="rid, generated, ingested",
                           stored=self._base(name), table=name)
            entry = self._late.setdefault(name, _Late(name))
            entry.rows += late.num_rows

    # -- the views ---------------------------------------------------------
    def _base(self, table: str) -> str:
        """The stored rows of `table`, in load order (rowid): the table itself, or the storage behind a
        table the backend loaded in parts (read whole: every case and the background)."""
        stored = self.backend.stored(table) if hasattr(self.backend, "stored") else None
        return f"{_q(self._catalog)}.main.{_q(stored or table)}"

    def _defaults(self, table: str) -> str:
        """` CROSS JOIN` the one-row table of defaults (as `d`) for the columns the storage of a table loaded in
        parts does not hold (EmbeddedBackend.stored_defaults), or nothing."""
        defaults = self.backend.stored_defaults(table) if hasattr(self.backend, "stored_defaults") else None
        return f" CROSS JOIN {_q(self._catalog)}.main.{_q(defaults)} AS d" if defaults else ""

    def _columns(self, table: str) -> str:
        """Every column of `table` read from its storage joined as `t` (and its defaults as `d`)."""
        read = getattr(self.backend, "stored_column", None)
        return ", ".join(read(table, c.name, "t", "d") if read else f"t.{_q(c.name)}"
                         for c in self.backend.registry[table].duckdb_columns)

    def _build_views(self) -> None:
        """After a load: which tables are windowed, now; their views, on first use (`_ensure_views`)."""
        self._counts.clear()
        self._guarded.clear()  # every view is built again on first use, shadowed or not
        self.unwindowed = [n for n in self.backend.registry.names() if n not in self.backend.broken
                           and (n in self.not_windowed or self.backend.registry[n].column("TimeGenerated") is None)]
        self._views_stale = True

    def _ensure_views(self) -> None:
        """The views `run` reads (one per windowed table, over `__window`): built once per load, and again for
        the tables `run_many` shadowed since."""
        if not self._views_stale and not self._guarded:
            return
        names = self.backend.registry.names() if self._views_stale else sorted(self._guarded)
        self._views_stale = False
        self._guarded.clear()
        for name in names:
            if name in self.backend.broken:
                continue
            if name in self.unwindowed:
                self.cursor.execute(f"DROP VIEW IF EXISTS temp.main.{_q(name)}")
                self.cursor.execute(f"DROP VIEW IF EXISTS temp.main.{_q(ingested_name(name))}")
                continue
            join, ingested = "", 't."TimeGenerated"'
            if name in self._late:
                join = f" LEFT JOIN {_late_table(name)} AS l ON l.rid = t.rowid"
                ingested = 'COALESCE(l.ingested, t."TimeGenerated")'
            cols = self._columns(name)  # the table's own: no part label
            for view, extra in ((name, ""), (ingested_name(name), f", {ingested} AS {_q(INGESTION_COLUMN)}")):
                self.cursor.execute(  # identifiers quoted by _q
                    f"CREATE OR REPLACE TEMP VIEW {_q(view)} AS SELECT {cols}{extra} FROM {self._base(name)} AS t"  # noqa: S608
                    f"{join}{self._defaults(name)} "
                    "CROSS JOIN __window AS w WHERE "
                    '(w.generated_from IS NULL OR t."TimeGenerated" >= w.generated_from) AND '
                    '(w.generated_to IS NULL OR t."TimeGenerated" < w.generated_to) AND '
                    f"(w.ingested_from IS NULL OR {ingested} >= w.ingested_from) AND "
                    f"(w.ingested_to IS NULL OR {ingested} < w.ingested_to)")

    def _set_window(self, generated: Window, ingested: Window) -> None:
        self.cursor.execute(
            "UPDATE __window SET generated_from = ?, generated_to = ?, ingested_from = ?, ingested_to = ?",
            [_naive(generated.start), _naive(generated.end), _naive(ingested.start), _naive(ingested.end)])

    # -- running -----------------------------------------------------------
    def prepare(self, kql: str, *, now: datetime, check_empty: bool = True) -> Prepared:
        """Translate once (raising EngineError as the backend does), plan it once as a prepared statement
        (DuckDB plans it at PREPARE; each run only binds the clock), and with `check_empty` check, as of
        `now`, whether the query returns rows when every windowed table is empty (a caller that never
        skips an empty window need not pay that run)."""
        self.backend.seal()  # as the backend's own queries: no file, network or setting from here on
        sql = self.backend.translate(kql, now=_PLACEHOLDER_NOW)
        params = dict(getattr(sql, "parameters", {}) or {})
        rebinds = CLOCK_SLOT in params and _aware(params[CLOCK_SLOT]) == _PLACEHOLDER_NOW
        statement = None
        if set(params) <= {CLOCK_SLOT} and all(isinstance(v, datetime) for v in params.values()):
            self._statements += 1
            statement = f"__kql_{self._statements}"  # PREPAREd on its first run alone (`_execute`)
        prepared = Prepared(kql, str(sql), params, rebinds, statement=statement)
        if not check_empty:
            return prepared
        empty = Window(now, now)
        result = self._execute(prepared, now, empty, empty)
        return Prepared(kql, str(sql), params, rebinds, rows_on_empty=bool(result.rows), statement=statement)

    def _prepared_on_cursor(self, prepared: Prepared) -> None:
        """PREPARE *prepared* on the cursor once, when it first runs alone: a detection whose runs all come from
        `run_many` never pays for planning it a second time."""
        if prepared.statement is None or prepared.statement in self._planned:
            return
        self._ensure_views()
        try:
            self.cursor.execute(f"PREPARE {prepared.statement} AS {prepared.sql}")
        except duckdb.Error as exc:
            raise engine_error(exc, prepared.kql) from exc
        self._planned.add(prepared.statement)

    def run_many(self, prepared: Prepared, runs: Sequence[Run], *, row_budget: int = 250_000,
                 parts: Collection[str] | None = None,
                 scopes: Sequence[Collection[str] | None] | None = None) -> list[QueryResult]:
        """Every run's result from one statement: the translation runs in a LATERAL subquery once per run,
        each windowed table it names read through a CTE of that run's window and its clock bound to that run's
        `now`. DuckDB's cost for a detection is in binding and planning its SQL, not in running it, so N runs
        cost about one; DuckDB flattens the correlated subquery exactly (every join, aggregation and window
        gains the run as a key), and the caller checks it (run an unbounded window among *runs* and compare
        with the plain run over everything). Raises a HarnessError where it cannot run as one (the clock is
        not a parameter it can rebind, more than `row_budget` rows read, an unsupported correlation): then
        run them one by one. *parts*: each run sees only the rows of these parts (`EmbeddedBackend.load_parts`
        labels, e.g. `[""]` for the background alone); *scopes*: the parts each run sees, run by run (None: every
        row), so one statement also gives a detection's scopes (`EmbeddedBackend.query_scopes`: unbounded
        windows at the clock). A table loaded whole cannot be narrowed so."""
        if not runs:
            return []
        seen = list(scopes) if scopes is not None else [parts] * len(runs)
        if len(seen) != len(runs):
            raise ValueError("one scope per run")
        narrowed = any(s is not None for s in seen)
        sql = prepared.sql
        params = dict(prepared.parameters)
        if prepared.rebinds_clock:
            if "kqlnow" in prepared.kql.lower() or not _CLOCK_REF.search(sql):
                raise EngineError("the clock cannot be rebound per run in one statement: run them one by one")
            sql = _CLOCK_REF.sub(lambda m: f"__harness_run.{_q('now')}", sql)
            params.pop(CLOCK_SLOT, None)
        lowered = sql.lower()
        names = [n for n in self._windowed if n.lower() in lowered]
        read = self.rows_read_by(prepared, seen)
        if read > row_budget:
            raise EngineError(f"{len(runs)} runs read {read:,} rows in all, more than one statement may "
                              f"({row_budget:,}): run them one by one")
        w = "__harness_run"
        ctes = []
        for name in names:
            cols = self._columns(name)
            join, ingested = "", 't."TimeGenerated"'
            if name in self._late:
                join = f" LEFT JOIN {_late_table(name)} AS l ON l.rid = t.rowid"
                ingested = 'COALESCE(l.ingested, t."TimeGenerated")'
            join += self._defaults(name) + " WHERE" + self._part_condition(name, narrowed, " AND")
            views = [(name, "")]
            if ingested_name(name).lower() in lowered:  # its ingestion-time view (the `ingestion time` desugaring)
                views.append((ingested_name(name), f", {ingested} AS {_q(INGESTION_COLUMN)}"))
            for view, extra in views:
                ctes.append(  # identifiers quoted by _q; the window columns are ours
                    f"{_q(view)} AS (SELECT {cols}{extra} FROM {self._base(name)} AS t{join} "  # noqa: S608
                    f'({w}.gf IS NULL OR t."TimeGenerated" >= {w}.gf) AND '
                    f'({w}.gt IS NULL OR t."TimeGenerated" < {w}.gt) AND '
                    f"({w}.inf IS NULL OR {ingested} >= {w}.inf) AND ({w}.int IS NULL OR {ingested} < {w}.int))")
        for name in self.unwindowed:  # no window applies; a table loaded in parts still shows a run only its parts
            if name.lower() not in lowered or name in self.backend.broken:
                continue
            condition = self._part_condition(name, narrowed, "")
            if self._stored(name):  # read through a CTE, never through the backend's view (whatever its scope)
                if ingested_name(name).lower() in lowered:
                    raise EngineError(f"the ingestion times of {name} (no window applies to it) are not read in "
                                      "one statement: run them one by one")
                ctes.append(f"{_q(name)} AS (SELECT {self._columns(name)} FROM {self._base(name)} AS t"  # noqa: S608
                            f"{self._defaults(name)}{' WHERE' + condition if condition else ''})")
        values = ", ".join(
            f"({i}, {_ts(r.generated.start)}, {_ts(r.generated.end)}, {_ts(r.ingested.start)}, "
            f"{_ts(r.ingested.end)}, {_ts(r.now)}, {self._part_list(s)})" for i, (r, s) in enumerate(zip(runs, seen,
                                                                                                       strict=True)))
        inner = f"SELECT * FROM ({sql}) AS __harness_s"  # noqa: S608 - the engine's own translation
        if ctes:
            inner = f"WITH {', '.join(ctes)} {inner}"
        statement = (f"SELECT __harness_run.no, __harness_q.* FROM (VALUES {values}) AS "  # noqa: S608
                     f"__harness_run(no, gf, gt, inf, int, {_q('now')}, pt), LATERAL ({inner}) AS __harness_q "
                     f"LIMIT {int(self.backend.max_rows) + 1}")
        self.backend.seal()
        cursor = self.cursor
        watchdog = _Watchdog(cursor, self.timeout)
        try:
            for name in names:  # a reference the CTEs do not catch must fail, never read every row
                if name not in self._guarded:
                    for view in (name, ingested_name(name)):
                        cursor.execute(f"CREATE OR REPLACE TEMP VIEW {_q(view)} AS SELECT * FROM {self._base(name)} "  # noqa: S608
                                       "WHERE error('a windowed table is read through its run here') IS NULL")
                    self._guarded.add(name)
            result = cursor.execute(statement, params) if params else cursor.execute(statement)
            description = result.description or []
            types = [kusto_type(d[1]) for d in description]
            raw = result.fetchall()
        except duckdb.OutOfMemoryException as exc:
            raise self.backend.out_of_memory() from exc
        except duckdb.Error as exc:
            if watchdog.fired:
                raise QueryTimeout(f"query ran past its {self.timeout:g} s timeout") from exc
            raise engine_error(exc, prepared.kql) from exc
        finally:
            watchdog.stop()
        if len(raw) > self.backend.max_rows:
            raise EngineError(f"the runs returned more than {self.backend.max_rows:,} rows in all")
        columns = [d[0] for d in description][1:]
        split: list[list[tuple[Any, ...]]] = [[] for _ in runs]
        for row, values in zip(raw, normalise_rows(raw, types, start=1), strict=True):
            split[row[0]].append(values)
        return [QueryResult(columns, types[1:], part) for part in split]

    def rows_read_by(self, prepared: Prepared, scopes: Sequence[Collection[str] | None]) -> int:
        """The stored rows `run_many` counts against its row budget for runs over *scopes* (one per run)."""
        lowered = prepared.sql.lower()
        names = [n for n in self._windowed if n.lower() in lowered]
        return sum(self._rows_seen(n, s) for n in names for s in scopes)

    def rows_read(self, prepared: Prepared) -> int:
        """The stored rows of the windowed tables one run of *prepared* reads (what `run_many`'s budget counts)."""
        lowered = prepared.sql.lower()
        return sum(self._count(n) for n in self._windowed if n.lower() in lowered)

    def _stored(self, table: str) -> bool:
        """Whether *table* was loaded in parts (its rows carry a part number)."""
        stored = getattr(self.backend, "stored", None)
        return stored is not None and stored(table) is not None

    def _part_condition(self, table: str, narrowed: bool, joiner: str) -> str:
        """The condition (then *joiner*) keeping the rows of *table* its run's parts hold; nothing when no run is
        narrowed, or the table is loaded whole and empty. A table loaded whole with rows cannot be narrowed."""
        if not narrowed:
            return ""
        if not self._stored(table):
            if self._count(table):
                raise EngineError(f"table {table} was loaded whole: its rows cannot be narrowed to some parts")
            return ""
        return f" (__harness_run.pt IS NULL OR list_contains(__harness_run.pt, t.{_q(PART_COLUMN)})){joiner}"

    def _part_list(self, parts: Collection[str] | None) -> str:
        """A run's parts as the part numbers of the load (never label text), or NULL: every row."""
        if parts is None:
            return "CAST(NULL AS INTEGER[])"
        return f"[{', '.join(map(str, self.backend.part_numbers(parts)))}]::INTEGER[]"

    def _rows_seen(self, table: str, parts: Collection[str] | None) -> int:
        """The stored rows of *table* a run over *parts* (None: every row) reads."""
        if parts is None or not self._stored(table):
            return self._count(table)
        return self.backend.part_rows(table, parts)

    @property
    def _windowed(self) -> list[str]:
        """The tables each run sees through its window (every loaded table but `unwindowed` and broken ones)."""
        return [n for n in self.backend.registry.names() if n not in self.unwindowed and n not in self.backend.broken]

    def run(self, prepared: Prepared, run: Run) -> QueryResult:
        """The query's result as run `run` sees the data."""
        return self._execute(prepared, run.now, run.generated, run.ingested)

    def _execute(self, prepared: Prepared, now: datetime, generated: Window, ingested: Window) -> QueryResult:
        self.backend.seal()
        params = dict(prepared.parameters)
        if prepared.rebinds_clock:
            params[CLOCK_SLOT] = _naive(now)
        cursor = self.cursor
        watchdog = _Watchdog(cursor, self.timeout)
        try:
            self._ensure_views()
            self._set_window(generated, ingested)
            if prepared.statement is not None:
                self._prepared_on_cursor(prepared)
                bound = ", ".join(f"{name} := TIMESTAMP '{_naive(value):%Y-%m-%d %H:%M:%S.%f}'"
                                  for name, value in params.items())  # our own datetimes, never content text
                cursor.execute(f"EXECUTE {prepared.statement}({bound})" if bound else f"EXECUTE {prepared.statement}")
                description = cursor.description or []
                columns = [d[0] for d in description]
                types = [kusto_type(d[1]) for d in description]
                raw = cursor.fetchmany(self.backend.max_rows + 1)
            else:
                rel = cursor.sql(prepared.sql, params=params or None)
                columns = list(rel.columns)
                types = [kusto_type(t) for t in rel.types]
                raw = rel.limit(self.backend.max_rows + 1).fetchall()
        except duckdb.OutOfMemoryException as exc:
            raise self.backend.out_of_memory() from exc
        except duckdb.Error as exc:
            if watchdog.fired:
                raise QueryTimeout(f"query ran past its {self.timeout:g} s timeout") from exc
            raise engine_error(exc, prepared.kql) from exc
        finally:
            watchdog.stop()
        if len(raw) > self.backend.max_rows:
            raise EngineError(
                f"the query returned more than {self.backend.max_rows:,} rows; a detection result that large is "
                "a runaway join or a missing filter")
        rows = normalise_rows(raw, types)
        return QueryResult(columns, types, rows)

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None


def _utc_cursor(backend: EmbeddedBackend) -> duckdb.DuckDBPyConnection:
    """A cursor of the backend's connection whose session reads UTC."""
    cursor = backend.con.cursor()
    try:
        cursor.execute("SET TimeZone = 'UTC'")  # session settings are per cursor
    except duckdb.Error:  # a locked configuration: fine if it already reads UTC
        zone = cursor.execute("SELECT current_setting('TimeZone')").fetchone()[0]
        if zone not in ("UTC", "Etc/UTC"):  # the same zone under two names
            raise EngineError(f"the engine's time zone is {zone}, not UTC, and cannot be changed") from None
    return cursor


def ingestion_times(table: pa.Table, delays: Iterable[Any]) -> pa.Table:
    """`table` with `INGESTION_COLUMN` set to TimeGenerated + each row's delay (a timedelta or None)."""
    generated = pc.cast(table.column("TimeGenerated"), pa.timestamp("us"))
    delay = pa.array(list(delays), pa.duration("us"))
    ingested = pc.add(generated, pc.fill_null(delay, pa.scalar(0, pa.duration("us"))))
    if INGESTION_COLUMN in table.column_names:
        table = table.drop_columns([INGESTION_COLUMN])
    return table.append_column(INGESTION_COLUMN, ingested)


def _split(tables: Mapping[str, pa.Table]) -> tuple[dict[str, pa.Table], dict[str, pa.Array]]:
    data: dict[str, pa.Table] = {}
    ingestion: dict[str, pa.Array] = {}
    for name, table in tables.items():
        if INGESTION_COLUMN in table.column_names:
            ingestion[name] = table.column(INGESTION_COLUMN).combine_chunks()
            table = table.drop_columns([INGESTION_COLUMN])
        data[name] = table
    return data, ingestion


def _q(name: str) -> str:
    """A quoted SQL identifier (table names come from content: custom table schemas)."""
    return '"' + name.replace('"', '""') + '"'


#: The clock parameter as duckdb-kql's translation writes it.
_CLOCK_REF = re.compile(r"\$" + re.escape(CLOCK_SLOT) + r"\b")


def _ts(t: datetime | None) -> str:
    """A timestamp literal from our own datetimes (never content text)."""
    return "CAST(NULL AS TIMESTAMP)" if t is None else f"TIMESTAMP '{_naive(t):%Y-%m-%d %H:%M:%S.%f}'"


def _late_table(name: str) -> str:
    return "temp.main." + _q("__late_" + name)


def _naive(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def _aware(t: Any) -> Any:
    if isinstance(t, datetime) and t.tzinfo is None:
        return t.replace(tzinfo=UTC)
    return t


class _Watchdog:
    """Interrupts a cursor whose statement runs past *timeout* seconds (DuckDB has no statement timeout).

    Started on creation; `stop()` once the statement ended; `fired` says whether it interrupted.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection, timeout: float) -> None:
        self._cursor, self._timeout = cursor, timeout
        self._timed_out, self._finished = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._fire, name="windowed-timeout", daemon=True)
        self._thread.start()

    def _fire(self) -> None:
        if self._finished.wait(self._timeout):
            return
        self._timed_out.set()
        while not self._finished.wait(0.05):
            self._cursor.interrupt()

    @property
    def fired(self) -> bool:
        return self._timed_out.is_set()

    def stop(self) -> None:
        self._finished.set()
        self._thread.join()
