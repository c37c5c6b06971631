"""Why a must-fire case did not fire: run the query stage by stage on that case's rows alone.

A verdict only says "0 rows"; a reviewer needs to know *which* operator dropped the case's
rows. We load only the case's telemetry into a fresh embedded engine, cut the user's query at
each stage Microsoft's analyzer finds (harness.kql.analyzer: the pipelines of the query, of every
tabular `let` and of every join/union/lookup subquery, with their spans), run each prefix and count
rows. The query text is never rewritten: every query we run is the original text up to a stage
boundary (subqueries and let bodies run on their own, after the statements that precede them).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from harness.backends.embedded import EmbeddedBackend
from harness.errors import HarnessError
from harness.kql.analyzer import analyze
from harness.kql.model import Analysis, Span, StatementKind
from harness.kql.model import Pipeline as KqlPipeline
from harness.kql.model import Stage as KqlStage
from harness.model import Detection, DetectionKind, Status
from harness.run.runner import RunResult
from harness.workspace.context import WorkspaceContext
from harness.workspace.tables import SchemaRegistry
from synthetic.arrow import merge_tables
from synthetic.context import CaseTelemetry

#: Operators that can turn an empty input into rows (a union's other legs, aggregations of nothing).
_ADDS_ROWS = {"union", "summarize", "count", "fork", "facet", "evaluate", "make-series"}
#: Join kinds that return rows when the left side is empty.
_RIGHT_KINDS = {"rightouter", "fullouter", "rightanti", "rightsemi", "rightantisemi"}
#: Where a subquery sits, by its pipeline's context.
_PART = {"join": "right side", "lookup": "right side"}


# -- running ---------------------------------------------------------------


QueryFn = Callable[[str], int]
#: Where a query line:column is for the reader: "detections/x.yaml:68:5" (the rule file), by default "query 3:5".
Where = Callable[[int, int], str]


def query_where(line: int, column: int) -> str:
    """A position in the query text, for a query read on its own (no rule file around it)."""
    return f"query {line}:{column}"


@dataclass
class StageResult:
    index: int  # 1-based
    text: str
    line: int  # in the query text
    rows: int | None = None
    error: str | None = None
    column: int = 1  # in the query text

    def as_dict(self, where: Where = query_where) -> dict[str, Any]:
        return {"index": self.index, "text": self.text, "line": self.line, "column": self.column,
                "position": where(self.line, self.column), "rows": self.rows, "error": self.error}


@dataclass
class Pipeline:
    name: str  # "query", "let Foo", "query › stage 6 join right side"
    stages: list[StageResult] = field(default_factory=list)
    children: list[Pipeline] = field(default_factory=list)
    stage: int | None = None  # for a subquery: the parent's stage it sits in

    @property
    def dropped_at(self) -> StageResult | None:
        """The first stage after which no rows remain (None if rows survive or nothing ran)."""
        for st in self.stages:
            if st.rows == 0:
                return st
            if st.rows is None:
                return None
        return None

    @property
    def failed_at(self) -> StageResult | None:
        return next((s for s in self.stages if s.error and not s.error.startswith("not run")), None)

    def as_dict(self, where: Where = query_where) -> dict[str, Any]:
        drop = self.dropped_at
        fail = self.failed_at
        return {
            "name": self.name,
            "stages": [s.as_dict(where) for s in self.stages],
            "dropped_at": drop.index if drop else None,
            "failed_at": fail.index if fail else None,
            "subqueries": [c.as_dict(where) for c in self.children],
        }


def short(text: str, limit: int = 90) -> str:
    """One line of a stage, for reports."""
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def trace(query: str, run: QueryFn, context: WorkspaceContext | None = None) -> list[Pipeline]:
    """Run every stage prefix of the query, its tabular lets and its join/union subqueries. The stages
    are the analyzer's (*context*: the workspace to analyse against; the cuts do not depend on it)."""
    try:
        analysis = analyze(query, context)
    except HarnessError:  # too large or too deep to analyse: nothing can be cut safely
        return []
    out: list[Pipeline] = []
    for st in analysis.statements:
        if st.value is None:
            continue
        tracer = _Tracer(analysis, query[: st.span.start], run)
        if st.kind == StatementKind.LET and st.tabular and not st.function:
            out.append(tracer.statement(f"let {st.name}", st.value))
        elif st.kind == StatementKind.QUERY:
            out.append(tracer.statement("query", st.value))
    return out


def _inside(inner: Span, outer: Span) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end


def _position(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


class _Tracer:
    """Runs the stages of the pipelines of one statement, after the statements before it (*prefix*)."""

    def __init__(self, analysis: Analysis, prefix: str, run: QueryFn) -> None:
        self.a, self.prefix, self.run = analysis, prefix, run
        self.text = analysis.text

    def statement(self, name: str, value: Span) -> Pipeline:
        pipe = next((p for p in self.a.pipelines if p.context in ("query", "let") and p.depth == 0
                     and p.span.start == value.start and _inside(p.span, value)), None)
        return self.pipeline(name, pipe, value)

    def pipeline(self, name: str, pipe: KqlPipeline | None, whole: Span, stage: int | None = None) -> Pipeline:
        """Trace *pipe*, or with none the single expression at *whole* (a bare name, `(R)`), as *name*."""
        out = Pipeline(name, stage=stage)
        if pipe is None:
            start, end = whole.start, whole.end
            if self.text[start] == "(" and self.text[end - 1] == ")":
                start, end = start + 1, end - 1
            start += len(self.text[start:end]) - len(self.text[start:end].lstrip())
            end = start + len(self.text[start:end].rstrip())
            cuts: list[tuple[int, int, KqlStage | None]] = [(start, end, None)]
        else:
            start = pipe.source.start
            cuts = [(pipe.source.start, pipe.source.end, None)]
            cuts += [(st.span.start, st.span.end, st) for st in self.a.stages_of(pipe)]
        broken: str | None = None
        for index, (s, e, st) in enumerate(cuts, 1):
            line, column = _position(self.text, s)
            result = StageResult(index, short(self.text[s:e]), line, column=column)
            out.stages.append(result)
            if broken is not None:
                result.error = broken
                continue
            for n, sub in enumerate(st.subqueries if st is not None else (), 1):
                child = next((p for p in self.a.pipelines if st is not None and p.parent_stage == st.id
                              and _inside(p.span, sub)), None)
                part = f"leg {n}" if st.keyword == "union" else "right side" if n == 1 else f"subquery {n}"
                out.children.append(self.pipeline(f"{name} › stage {index} {st.keyword} {part}", child, sub, index))
            try:
                result.rows = self.run(self.prefix + self.text[start:e])
            except HarnessError as exc:
                result.error = exc.reason
                broken = "not run: an earlier stage could not run"
            except Exception as exc:  # noqa: BLE001 - any engine failure must be reported, not raised
                result.error = f"{type(exc).__name__}: {exc}"
                broken = "not run: an earlier stage could not run"
            if result.rows == 0 and not any(self._adds_rows(x) for _, _, x in cuts[index:]):
                broken = "not run: no rows left, and no later stage can add any"
        return out

    def _adds_rows(self, st: KqlStage | None) -> bool:
        """Could this stage turn an empty input into rows? (union, right/full joins, and aggregations.)"""
        if st is None:
            return False
        if st.keyword in _ADDS_ROWS:
            return True
        join = next((j for j in self.a.joins if j.stage == st.id), None)
        return join is not None and join.operator == "join" and join.kind.lower() in _RIGHT_KINDS


class ScopedCounts:
    """Row counts of query texts (stage prefixes) on each of some cases' rows alone, over the run's loaded
    engine (one with scopes, such as the embedded one). With *together* (the engine runs a detection's scopes
    in one statement, EmbeddedBackend.query_scopes, and that statement reproduced the detection's plain run),
    a text is counted for every case at once; else, or where that statement fails, one scope at a time."""

    def __init__(self, backend: Any, cases: list[str], now: datetime, timeout: float, *, together: bool) -> None:
        self.backend, self.cases, self.now, self.timeout = backend, cases, now, timeout
        self.together = together and len(cases) > 1 and hasattr(backend, "query_scopes")
        self._counts: dict[str, dict[str, int]] = {}

    def counter(self, case: str) -> QueryFn:
        def run(kql: str) -> int:
            counts = self._counts.get(kql)
            if counts is None:
                counts = self._counts[kql] = self._together(kql)
            if case in counts:
                return counts[case]
            self.backend.scope([case])  # the error, if any, is the one this case's own run gives
            return len(self.backend.query(kql, now=self.now, timeout=self.timeout).rows)
        return run

    def _together(self, kql: str) -> dict[str, int]:
        if not self.together:
            return {}
        try:
            results = self.backend.query_scopes(kql, [(c,) for c in self.cases], now=self.now, timeout=self.timeout)
        except HarnessError:
            return {}
        return {c: len(r.rows) for c, r in zip(self.cases, results, strict=True)}


# -- one case --------------------------------------------------------------


def explain_case(
    query: str,
    case_rows: dict[str, list[dict[str, Any]]],
    *,
    now: datetime,
    registry: SchemaRegistry | None = None,
    functions: list[str] | None = None,
    timeout: float = 60.0,
    where: Where = query_where,
    delays: Mapping[str, Sequence[timedelta | None]] | None = None,
) -> dict[str, Any]:
    """Trace `query` on one case's rows, loaded alone into a fresh embedded engine. *where* names a
    query position as the reader should see it (the rule file's line:column; by default the query's).
    *delays*: per table, how long after its TimeGenerated each of its rows was ingested (`row_delays`; None
    or absent: at once), which `ingestion_time()` reads as the run's engine does."""
    registry = registry or SchemaRegistry()
    delays = {t: list(d) for t, d in sorted((delays or {}).items()) if any(d)}
    key = _key(query, case_rows, now, functions, registry, delays)
    if key not in _CACHE:
        _CACHE[key] = _explain_case(query, case_rows, now=now, registry=registry, functions=functions,
                                    timeout=timeout, delays=delays)
    loaded, pipelines, load_error = _CACHE[key]
    result: dict[str, Any] = {"engine": "embedded", "loaded": dict(loaded)}
    if load_error is not None:
        result.update(pipelines=[], dropped_at=None, summary=f"could not load the case's rows: {load_error}")
        return result
    result["pipelines"] = [p.as_dict(where) for p in pipelines]
    result["summary"] = summarise(pipelines, where)
    main = next((p for p in pipelines if p.name == "query"), None)
    drop = main.dropped_at if main else None
    result["dropped_at"] = ({"stage": drop.index, "text": drop.text, "line": drop.line, "column": drop.column,
                             "position": where(drop.line, drop.column)} if drop else None)
    return copy.deepcopy(result)


#: Traces are pure functions of (query, rows, clock, functions, tables): reuse them in-process.
_CACHE: dict[str, tuple[dict[str, int], list[Pipeline], str | None]] = {}


def _key(query: str, case_rows: dict[str, list[dict[str, Any]]], now: datetime, functions: list[str] | None,
         registry: SchemaRegistry, delays: Mapping[str, Sequence[timedelta | None]] | None = None) -> str:
    return hashlib.sha256(json.dumps([query, case_rows, now.isoformat(), functions or [], registry.names(),
                                      {t: [str(x) for x in d] for t, d in (delays or {}).items()}],
                                     sort_keys=True, default=str).encode()).hexdigest()


def row_delays(telemetry: CaseTelemetry) -> dict[str, list[timedelta | None]]:
    """Per table of a case's rows, each row's ingestion delay (its step's `ingestion_delay`, None: at once), in
    the order of `telemetry.rows`: what `explain_case` needs to show `ingestion_time()` the run's times."""
    return {t: [telemetry.ingestion.get(id(r)) for r in rows] for t, rows in telemetry.rows.items()}


def trace_loaded(query: str, case_rows: dict[str, list[dict[str, Any]]], run: QueryFn, *, now: datetime,
                 registry: SchemaRegistry, functions: list[str] | None) -> None:
    """Trace *query* with *run* counting on the case's rows alone over the run's loaded engine (a scope of
    them, harness.run.nearmiss), and keep it as explain_case's trace of those rows: the must-fire miss is
    then explained from the statements the near-miss traces already ran, not from a fresh engine."""
    key = _key(query, case_rows, now, functions, registry)
    if key not in _CACHE:
        context = WorkspaceContext(registry=registry, functions=list(functions or []))
        _CACHE[key] = ({t: len(r) for t, r in sorted(case_rows.items())}, trace(query, run, context), None)


def _explain_case(
    query: str,
    case_rows: dict[str, list[dict[str, Any]]],
    *,
    now: datetime,
    registry: SchemaRegistry,
    functions: list[str] | None,
    timeout: float,
    delays: Mapping[str, Sequence[timedelta | None]],
) -> tuple[dict[str, int], list[Pipeline], str | None]:
    """(rows loaded per table, the traced pipelines, why the rows could not be loaded). Tables with late rows
    are loaded in parts (one part: the case) so their ingestion times can be set, as a run sets them."""
    loaded = {t: len(r) for t, r in sorted(case_rows.items())}
    backend = EmbeddedBackend(registry, functions)
    try:
        try:
            tables = merge_tables(registry, [case_rows])
            late = {t: tables[t] for t in delays if t in tables and "TimeGenerated" in tables[t].column_names}
            backend.load({t: data for t, data in tables.items() if t not in late})
            if late:
                backend.load_parts(late, {t: ["case"] * data.num_rows for t, data in late.items()})
            for table, data in sorted(late.items()):
                generated = pc.cast(data.column("TimeGenerated").combine_chunks(), pa.timestamp("us"))
                offsets = pa.array([d or timedelta(0) for d in delays[table]], pa.duration("us"))
                backend.set_ingestion(table, generated, pc.add(generated, offsets))
        except HarnessError as exc:
            return loaded, [], exc.reason

        def run(kql: str) -> int:
            return len(backend.query(kql, now=now, timeout=timeout).rows)

        return loaded, trace(query, run, WorkspaceContext(registry=registry, functions=list(functions or []))), None
    finally:
        backend.close()


def summarise(pipelines: list[Pipeline], where: Where = query_where) -> str:
    """One sentence a reviewer can act on: where the rows went (at *where*'s positions), and what
    dropped them upstream."""
    main = next((p for p in pipelines if p.name == "query"), None)
    if main is None or not main.stages:
        return "the query has no tabular statement to trace"
    counts = " → ".join("-" if s.rows is None else str(s.rows) for s in main.stages)
    drop, fail = main.dropped_at, main.failed_at
    if drop is None and fail is not None:
        return (
            f"stage {fail.index} `{fail.text}` ({where(fail.line, fail.column)}) cannot run on its own: {fail.error}; "
            f"rows per stage: {counts}"
        )
    if drop is None:
        last = main.stages[-1].rows
        return (
            f"{last} row(s) survive every stage on the case's data alone (rows per stage: {counts}); "
            "the trigger does not hold on them, or none carries one of the case's identifiers"
        )
    if drop.index == 1:
        text = f"the source `{drop.text}` has none of the case's rows (rows per stage: {counts})"
    else:
        before = main.stages[drop.index - 2].rows
        text = (
            f"the case's rows are gone after stage {drop.index} `{drop.text}` ({where(drop.line, drop.column)}), "
            f"{before} → 0; rows per stage: {counts}"
        )
    notes = []
    for p in _upstream(main, drop.index) + [x for x in pipelines if x.name.startswith("let ")]:
        d = p.dropped_at
        if d is not None:
            notes.append(f"{p.name}: stage {d.index} `{d.text}` ({where(d.line, d.column)}) leaves 0 rows")
        elif p.failed_at is not None:
            notes.append(f"{p.name}: stage {p.failed_at.index} cannot run on its own: {p.failed_at.error}")
    if notes:
        text += "; upstream: " + "; ".join(notes)
    return text


def _upstream(p: Pipeline, upto: int) -> list[Pipeline]:
    """Subqueries in stages up to `upto`, depth first."""
    out = []
    for child in p.children:
        if child.stage is not None and child.stage <= upto:
            out.append(child)
            out.extend(_upstream(child, len(child.stages)))
    return out


def rule_where(det: Detection) -> Where:
    """Query positions as places in the rule file (`path:line:column`); a converted Sigma rule's KQL is not
    the file's text, so its positions stay the query's, named as such."""

    def where(line: int, column: int) -> str:
        if det.kind == DetectionKind.SIGMA:
            return f"{det.path}, converted KQL {line}:{column}"
        if det.query_origin is None:
            return f"{det.path}, query {line}:{column}"
        file_line, file_column = det.file_position(line, column)
        return f"{det.path}:{file_line}:{file_column}"

    return where


def needs_explanation(verdict: Any) -> bool:
    """A must-fire cell that did not fire (known gaps included); errors explain themselves."""
    return bool(verdict.expectation.fires and not verdict.fired and verdict.status in (Status.FAILED, Status.KNOWN_GAP))


def explain_result(result: RunResult) -> dict[tuple[str, str], dict[str, Any]]:
    """Explanations for every must-fire cell of a run that did not fire, keyed (case, detection), on the
    run's own workspace context (tables, stored functions) and query timeout."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    context, timeout = result.suite.context, result.suite.config.timeout
    dets = {e.key: e.detection for e in result.detections if e.detection is not None}
    for v in result.verdicts:
        if not needs_explanation(v) or v.detection_key not in dets:
            continue
        if (v.case_id, v.detection_key) in result.explained:  # made in the worker process that ran the cell
            out[(v.case_id, v.detection_key)] = result.explained[(v.case_id, v.detection_key)]
            continue
        tel = result.telemetry.get(v.case_id)
        if tel is None:
            out[(v.case_id, v.detection_key)] = {
                "engine": "embedded",
                "loaded": {},
                "pipelines": [],
                "dropped_at": None,
                "summary": "the case produced no telemetry",
            }
            continue
        det = dets[v.detection_key]
        out[(v.case_id, v.detection_key)] = explain_case(
            det.query,
            tel.rows,
            now=result.now,
            registry=context.registry,
            functions=context.stored_functions(),
            timeout=timeout,
            where=rule_where(det),
            delays=row_delays(tel),
        )
    return out
