"""Why a must-fire case did not fire: run the query stage by stage on that case's rows alone.

A verdict only says "0 rows"; a reviewer needs to know *which* operator dropped the case's
rows. We load only the case's telemetry into a fresh embedded engine, cut the user's query at
each top-level `|` (and do the same for every tabular `let` and every join/union/lookup
subquery), run each prefix and count rows. The query text is never rewritten: every query we
run is the original text up to a stage boundary (subqueries and let bodies run on their own,
after the statements that precede them).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.backends.embedded import EmbeddedBackend
from harness.errors import HarnessError
from harness.model import Detection, DetectionKind, Status
from harness.run.runner import RunResult
from harness.workspace.tables import SchemaRegistry
from synthetic.arrow import merge_tables

#: Operators whose parenthesised arguments are standalone tabular subqueries.
SUBQUERY_OPERATORS = {"join", "lookup", "union"}
#: First words of a let body that make it tabular even without a pipe.
TABULAR_STARTS = {"union", "datatable", "materialize", "externaldata", "range", "print", "find", "search", "view"}
#: Statements that are neither lets nor the query (kept verbatim in every prefix).
PREAMBLE_STATEMENTS = {"set", "declare", "alias", "pattern", "restrict"}

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$\-]*")


# -- lexing ----------------------------------------------------------------


@dataclass
class Lexed:
    """Where the structure is: separators and brackets outside strings and comments."""

    text: str
    comment: list[bool]  # True inside // comments
    pipes: list[tuple[int, int]] = field(default_factory=list)  # (offset, enclosing group start or -1)
    semis: list[tuple[int, int]] = field(default_factory=list)
    groups: dict[int, tuple[int, str]] = field(default_factory=dict)  # open offset -> (close offset, bracket)
    parent: dict[int, int] = field(default_factory=dict)  # group open offset -> enclosing group open (-1 = top)


def lex(text: str) -> Lexed:
    """Scan KQL once, respecting "..", '..', @"..", h"..", ```..``` strings, // comments and brackets."""
    comment = [False] * len(text)
    out = Lexed(text, comment)
    stack: list[tuple[int, str]] = []
    closing = {")": "(", "]": "[", "}": "{"}
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            comment[i:j] = [True] * (j - i)
            i = j
            continue
        if text.startswith("```", i) or text.startswith("~~~", i):
            fence = text[i : i + 3]
            j = text.find(fence, i + 3)
            i = n if j < 0 else j + 3
            continue
        if ch in "\"'":
            verbatim = i > 0 and text[i - 1] == "@"
            j = i + 1
            while j < n:
                if not verbatim and text[j] == "\\":
                    j += 2
                    continue
                if text[j] == ch:
                    if verbatim and j + 1 < n and text[j + 1] == ch:
                        j += 2
                        continue
                    break
                if text[j] == "\n" and not verbatim:
                    break
                j += 1
            i = min(j + 1, n)
            continue
        top = stack[-1][0] if stack else -1
        if ch in "([{":
            out.parent[i] = top
            stack.append((i, ch))
        elif ch in ")]}":
            if stack and stack[-1][1] == closing[ch]:
                open_at, bracket = stack.pop()
                out.groups[open_at] = (i, bracket)
        elif ch == "|":
            out.pipes.append((i, top))
        elif ch == ";":
            out.semis.append((i, top))
        i += 1
    return out


def _strip_span(lexed: Lexed, start: int, end: int) -> tuple[int, int]:
    """Narrow [start, end) to its first and last characters that are neither blank nor comment."""
    text, comment = lexed.text, lexed.comment
    while start < end and (text[start].isspace() or comment[start]):
        start += 1
    while end > start and (text[end - 1].isspace() or comment[end - 1]):
        end -= 1
    return start, end


@dataclass
class Statement:
    start: int
    end: int
    kind: str  # let | query | preamble
    name: str = ""
    body_start: int = 0  # for lets: where the bound expression starts
    tabular: bool = False


def statements(lexed: Lexed) -> list[Statement]:
    """Top-level `;`-separated statements, classified."""
    out: list[Statement] = []
    bounds = [-1] + [i for i, g in lexed.semis if g == -1] + [len(lexed.text)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        start, end = _strip_span(lexed, a + 1, b)
        if start >= end:
            continue
        m = _IDENT.match(lexed.text, start)
        word = m.group(0).lower() if m else ""
        if word == "let":
            st = _let_statement(lexed, start, end)
        elif word in PREAMBLE_STATEMENTS:
            st = Statement(start, end, "preamble")
        else:
            st = Statement(start, end, "query", body_start=start, tabular=True)
        out.append(st)
    tabular_names = {s.name for s in out if s.kind == "let" and s.tabular}
    for st in out:  # a let body that is just another tabular let's name is tabular too
        if st.kind == "let" and not st.tabular:
            if lexed.text[st.body_start : st.end].strip() in tabular_names:
                st.tabular = True
    return out


def _let_statement(lexed: Lexed, start: int, end: int) -> Statement:
    text = lexed.text
    m = re.compile(r"let\s+([A-Za-z_$][A-Za-z0-9_$]*)\s*=\s*", re.S).match(text, start)
    if not m:
        return Statement(start, end, "preamble")
    body = m.end()
    st = Statement(start, end, "let", name=m.group(1), body_start=body)
    if text.startswith("(", body) and body in lexed.groups:  # a function: let f = (args) { ... }
        close, _ = lexed.groups[body]
        rest = text[close + 1 : end].lstrip()
        if rest.startswith("{"):
            return st
    first = _IDENT.match(text, body)
    word = first.group(0).lower() if first else ""
    has_pipe = any(body <= i < end and g == -1 for i, g in lexed.pipes)
    st.tabular = has_pipe or word in TABULAR_STARTS
    return st


def pipe_stages(lexed: Lexed, start: int, end: int, group: int) -> list[tuple[int, int]]:
    """[start, end) of each stage: the source, then one per `|` that belongs to `group`."""
    cuts = [i for i, g in lexed.pipes if g == group and start <= i < end]
    bounds = [start] + [c + 1 for c in cuts]
    ends = cuts + [end]
    return [_strip_span(lexed, a, b) for a, b in zip(bounds, ends, strict=False)]


def subqueries(lexed: Lexed, start: int, end: int, group: int) -> list[tuple[int, int, int]]:
    """Parenthesised tabular arguments of a join/lookup/union stage: (start, end, group open offset)."""
    m = _IDENT.match(lexed.text, start)
    if not m or m.group(0).lower() not in SUBQUERY_OPERATORS:
        return []
    out = []
    for open_at, (close, bracket) in sorted(lexed.groups.items()):
        if bracket != "(" or not (start <= open_at < end) or lexed.parent.get(open_at) != group:
            continue
        before = open_at - 1
        if before >= 0 and (lexed.text[before].isalnum() or lexed.text[before] == "_"):
            continue  # a function call such as toscalar(...)
        s, e = _strip_span(lexed, open_at + 1, close)
        if s < e:
            out.append((s, e, open_at))
    return out


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


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _column(text: str, offset: int) -> int:
    return offset - (text.rfind("\n", 0, offset) + 1) + 1


def trace(query: str, run: QueryFn) -> list[Pipeline]:
    """Run every stage prefix of the query, its tabular lets and its join/union subqueries."""
    lexed = lex(query)
    sts = statements(lexed)
    out: list[Pipeline] = []
    for st in sts:
        if st.kind == "let" and st.tabular:
            out.append(_trace_pipeline(lexed, f"let {st.name}", query[: st.start], st.body_start, st.end, -1, run))
        elif st.kind == "query":
            out.append(_trace_pipeline(lexed, "query", query[: st.start], st.start, st.end, -1, run))
    return out


def _operator(text: str) -> str:
    m = _IDENT.match(text)
    return m.group(0).lower() if m else ""


_KIND = re.compile(r"\bkind\s*=\s*([A-Za-z]+)", re.I)
#: Join kinds that return rows when the left side is empty.
_RIGHT_KINDS = {"rightouter", "fullouter", "rightanti", "rightsemi", "rightantisemi"}


def _can_add_rows(stage: str) -> bool:
    """Could this stage turn an empty input into rows? (union, right/full joins, and aggregations.)"""
    op = _operator(stage)
    if op == "union" or op in ("summarize", "count", "fork", "facet", "evaluate", "make-series"):
        return True
    if op == "join":
        m = _KIND.search(stage[: stage.find("(")] if "(" in stage else stage)
        return bool(m and m.group(1).lower() in _RIGHT_KINDS)
    return False


def _trace_pipeline(
    lexed: Lexed, name: str, prefix: str, start: int, end: int, group: int, run: QueryFn, stage: int | None = None
) -> Pipeline:
    text = lexed.text
    pipe = Pipeline(name, stage=stage)
    spans = pipe_stages(lexed, start, end, group)
    broken: str | None = None
    for index, (s, e) in enumerate(spans, 1):
        result = StageResult(index, short(text[s:e]), _line(text, s), column=_column(text, s))
        pipe.stages.append(result)
        if broken is not None:
            result.error = broken
            continue
        op = _operator(text[s:e])
        for n, (ss, se, open_at) in enumerate(subqueries(lexed, s, e, group), 1):
            part = f"leg {n}" if op == "union" else "right side" if n == 1 else f"subquery {n}"
            pipe.children.append(
                _trace_pipeline(lexed, f"{name} › stage {index} {op} {part}", prefix, ss, se, open_at, run, stage=index)
            )
        try:
            result.rows = run(prefix + text[start:e])
        except HarnessError as exc:
            result.error = exc.reason
            broken = "not run: an earlier stage could not run"
        except Exception as exc:  # noqa: BLE001 - any engine failure must be reported, not raised
            result.error = f"{type(exc).__name__}: {exc}"
            broken = "not run: an earlier stage could not run"
        if result.rows == 0 and not any(_can_add_rows(text[a:b]) for a, b in spans[index:]):
            broken = "not run: no rows left, and no later stage can add any"
    return pipe


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
) -> dict[str, Any]:
    """Trace `query` on one case's rows, loaded alone into a fresh embedded engine. *where* names a
    query position as the reader should see it (the rule file's line:column; by default the query's)."""
    registry = registry or SchemaRegistry()
    key = hashlib.sha256(
        json.dumps(
            [query, case_rows, now.isoformat(), functions or [], registry.names()], sort_keys=True, default=str
        ).encode()
    ).hexdigest()
    if key not in _CACHE:
        _CACHE[key] = _explain_case(query, case_rows, now=now, registry=registry, functions=functions,
                                    timeout=timeout)
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


def _explain_case(
    query: str,
    case_rows: dict[str, list[dict[str, Any]]],
    *,
    now: datetime,
    registry: SchemaRegistry,
    functions: list[str] | None,
    timeout: float,
) -> tuple[dict[str, int], list[Pipeline], str | None]:
    """(rows loaded per table, the traced pipelines, why the rows could not be loaded)."""
    loaded = {t: len(r) for t, r in sorted(case_rows.items())}
    backend = EmbeddedBackend(registry, functions)
    try:
        try:
            backend.load(merge_tables(registry, [case_rows]))
        except HarnessError as exc:
            return loaded, [], exc.reason

        def run(kql: str) -> int:
            return len(backend.query(kql, now=now, timeout=timeout).rows)

        return loaded, trace(query, run), None
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
        )
    return out
