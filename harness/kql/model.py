"""Typed results of analysing one query with Kusto.Language (built from harness/kql/walk.js's JSON).

Every position is a `Span` into the query text (Python string indices, end exclusive) with the
1-based line:column of its start *in the query*; mapping that onto a rule file is the caller's
job. Names, types and kinds are Kusto.Language's own: column names keep their exact case,
types are Kusto's (`string`, `long`, `int`, `real`, `decimal`, `bool`, `datetime`, `timespan`,
`guid`, `dynamic`, and `unknown` where the analyzer could not tell).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

__all__ = [
    "Aggregation",
    "AggregateSource",
    "Analysis",
    "ColumnOrigin",
    "ColumnRef",
    "Comparison",
    "Diagnostic",
    "FunctionCall",
    "FunctionKind",
    "Join",
    "ListLiteral",
    "Literal",
    "NamedExpression",
    "Pipeline",
    "ResultColumn",
    "ResultSchema",
    "SortKey",
    "Span",
    "Stage",
    "Statement",
    "StatementKind",
    "SyntaxNode",
    "TableRef",
    "TimeWindow",
    "TimespanLiteral",
]


class StatementKind(StrEnum):
    QUERY = "query"
    LET = "let"
    SET = "set"  # `set option = value;` (query options, e.g. query_now)
    DECLARE = "declare"  # `declare query_parameters(...)`
    ALIAS = "alias"
    PATTERN = "pattern"
    RESTRICT = "restrict"
    COMMAND = "command"  # a control command (`.create ...`, `.show ...`)
    OTHER = "other"


class FunctionKind(StrEnum):
    BUILTIN = "builtin"  # a scalar built-in (strlen, ago, ...)
    AGGREGATE = "aggregate"  # count, dcount, arg_max, ...
    PLUGIN = "plugin"  # `evaluate` plugins (bag_unpack, ...)
    STORED = "stored"  # a workspace function: the user's, an ASIM parser, _GetWatchlist
    LOCAL = "local"  # declared in the query (`let f = (x:string) {...}`)
    UNKNOWN = "unknown"  # the analyzer could not resolve the name (a diagnostic says so)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    line: int
    column: int

    @property
    def length(self) -> int:
        return self.end - self.start

    def text(self, query: str) -> str:
        return query[self.start : self.end]


@dataclass(frozen=True)
class Diagnostic:
    """One of Kusto.Language's diagnostics, e.g. KS106 "The operator '>' is not defined for ..."."""

    code: str
    severity: str  # error | warning | suggestion | information
    category: str
    message: str
    span: Span | None  # None: the diagnostic has no location
    #: From one of Kusto.Language's analyzers (KS5xx advice, analyze(analyzers=True)), not from binding.
    from_analyzer: bool = False
    #: Reported by the parser (the text is not KQL), not by binding (names, types, arity).
    syntax: bool = False

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass(frozen=True)
class ResultColumn:
    name: str
    type: str


@dataclass(frozen=True)
class ResultSchema:
    """The columns a tabular query returns, in order. `open`: the analyzer knows only some of them
    (e.g. after `evaluate bag_unpack`), so other names may appear at run time."""

    columns: tuple[ResultColumn, ...]
    open: bool = False

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ResultColumn | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Statement:
    kind: StatementKind
    span: Span
    name: str | None = None  # the let's name
    value: Span | None = None  # a let's bound expression, or the query expression
    tabular: bool = False  # a let bound to a table
    function: bool = False  # a let bound to a function (`let f = (...) {...}`)


@dataclass(frozen=True)
class TableRef:
    """A database table the query reads; `via`: the stored function (called at `span`) whose body reads it."""

    name: str
    span: Span
    via: str | None = None


@dataclass(frozen=True)
class FunctionCall:
    """A function the query calls; `via`: the stored function (called at `span`) whose body calls it."""

    name: str
    kind: FunctionKind
    span: Span
    via: str | None = None
    #: A stored function called from the query text: its declared parameters in order, as
    #: (name, default value as written or None); None when not a stored function or overloaded.
    parameters: tuple[tuple[str, str | None], ...] | None = None


@dataclass(frozen=True)
class SortKey:
    span: Span
    column: str | None  # None: the key is an expression
    descending: bool
    nulls: str | None = None  # `nulls first` / `nulls last` as written


@dataclass(frozen=True)
class Stage:
    """One `| operator` of a pipeline. Running `prefix` (after the statements before it) gives the
    rows after this stage: the query text is never rewritten."""

    id: int
    pipeline: int
    operator: str  # Kusto.Language's node type: FilterOperator, SummarizeOperator, JoinOperator, ...
    keyword: str  # as written: where, summarize, mv-expand, project-away, ...
    span: Span  # the operator, without the `|`
    prefix: Span  # the pipeline's source up to and including this stage
    condition: Span | None = None  # a where/filter predicate
    subqueries: tuple[Span, ...] = ()  # a join/lookup's right side, a union's legs
    sort: tuple[SortKey, ...] | None = None  # sort/order/top keys
    columns: tuple[ResultColumn, ...] | None = None  # the stage's output (analyze(stage_columns=True))


@dataclass(frozen=True)
class Pipeline:
    """A chain `source | op | op ...`. `context` says where it sits: query (the query statement),
    let / function (a let's value or function body, `name`), join / lookup (a right side) or union
    (a leg) of `parent_stage`, expression (inside another stage's expression), source (the
    parenthesised source of `parent_pipeline`), other."""

    id: int
    span: Span
    source: Span
    stages: tuple[int, ...]
    context: str
    name: str | None
    parent_stage: int | None
    parent_pipeline: int | None
    depth: int  # how many pipelines enclose this one


@dataclass(frozen=True)
class Literal:
    """A constant: `value` is str, int, float, Decimal, bool, timedelta (timespans), or None when
    the analyzer gives no value (datetimes, dynamic values: read `text`)."""

    type: str | None
    text: str
    value: Any = None


@dataclass(frozen=True)
class ColumnOrigin:
    table: str
    column: str


@dataclass(frozen=True)
class AggregateSource:
    """The summarize (or count, make-series, ...) whose output a column is."""

    operator: str
    span: Span
    stage: int | None  # None when the aggregation is inside a stored function's body


@dataclass(frozen=True)
class ColumnRef:
    """A column read in an expression, with the table columns its values come from (through
    renames, joins, unions and stored functions)."""

    name: str
    span: Span
    origins: tuple[ColumnOrigin, ...] = ()
    aggregate: AggregateSource | None = None


@dataclass(frozen=True)
class Comparison:
    """A column compared with a constant: `Col == "x"`, `"x" == Col` (reversed), or one item of
    `Col in ("a", "b")` / `has_any` / `has_all` (`list_index` indexes Analysis.lists)."""

    column: ColumnRef
    operator: str  # as written: ==, =~, !=, in~, has_any, contains, >, matches regex, ...
    literal: Literal
    literal_span: Span
    span: Span
    reversed: bool = False
    list_index: int | None = None

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(o.table for o in self.column.origins))

    @property
    def is_threshold(self) -> bool:
        """A number compared with an aggregate's output (`summarize c = count() ... | where c > 3`)."""
        return self.column.aggregate is not None and isinstance(self.literal.value, (int, float, Decimal))


@dataclass(frozen=True)
class ListLiteral:
    """The list of an `in`, `!in`, `in~`, `has_any`, `has_all`: inline, a `dynamic([...])`, or a
    let-bound dynamic array (`variable`). `complete`: every item is a constant listed here."""

    operator: str
    span: Span
    left: Span
    column: ColumnRef | None
    items: tuple[tuple[Literal, Span], ...]
    complete: bool
    variable: str | None = None


@dataclass(frozen=True)
class TimeWindow:
    """A call to ago() or now() with its argument (`argument.value` a timedelta when constant)."""

    function: str
    span: Span
    argument: Literal | None
    argument_span: Span | None

    @property
    def span_value(self) -> timedelta | None:
        value = self.argument.value if self.argument else None
        return value if isinstance(value, timedelta) else None


@dataclass(frozen=True)
class TimespanLiteral:
    """A timespan literal: `function` names the call it is an argument of (bin, ago, ...),
    `let` the let it is bound to."""

    span: Span
    value: Literal
    function: str | None = None
    let: str | None = None


@dataclass(frozen=True)
class Join:
    stage: int
    operator: str  # join | lookup
    kind: str  # as written, or Kusto's default (innerunique for join, leftouter for lookup)
    explicit: bool
    kind_span: Span | None
    right: Span | None
    on: tuple[Span, ...] = ()
    where: Span | None = None


@dataclass(frozen=True)
class NamedExpression:
    name: str | None  # the output column (by keys always; aggregates when named)
    function: str | None  # the called function (count, dcount, bin, ...)
    span: Span


@dataclass(frozen=True)
class Aggregation:
    stage: int
    aggregates: tuple[NamedExpression, ...]
    by: tuple[NamedExpression, ...]
    columns: tuple[str, ...]  # the summarize's output columns, in order


@dataclass(frozen=True)
class SyntaxNode:
    """One element of the full syntax tree (analyze(tree=True)), in document pre-order."""

    index: int
    type: str  # Kusto.Language's node type (FilterOperator, BinaryExpression, SyntaxToken, ...)
    span: Span
    parent: int  # -1 for the root
    token: str | None  # a token's text
    result_type: str | None  # an expression's Kusto type
    symbol_kind: str | None  # what a name refers to: ColumnSymbol, TableSymbol, FunctionSymbol, ...
    symbol: str | None


@dataclass(frozen=True)
class Analysis:
    """Everything Kusto.Language says about one query, against one workspace."""

    text: str
    kind: str  # Query | Command | Directive (Kusto.Language's code kind)
    diagnostics: tuple[Diagnostic, ...]
    result: ResultSchema | None  # None: the query's result is not a table
    scalar_type: str | None
    statements: tuple[Statement, ...]
    has_command: bool  # a control command appears anywhere in the text
    tables: tuple[TableRef, ...]
    functions: tuple[FunctionCall, ...]
    pipelines: tuple[Pipeline, ...]
    stages: tuple[Stage, ...]
    comparisons: tuple[Comparison, ...]
    lists: tuple[ListLiteral, ...]
    time_windows: tuple[TimeWindow, ...]
    timespans: tuple[TimespanLiteral, ...]
    joins: tuple[Join, ...]
    aggregations: tuple[Aggregation, ...]
    #: Every syntax node type in the query text (ExternalDataExpression, EvaluateOperator, MakeSeriesOperator,
    #: ...), for refusing or counting constructs; stored function bodies are not included.
    syntax: frozenset[str] = frozenset()
    tree: tuple[SyntaxNode, ...] | None = field(default=None, repr=False)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def is_plain_query(self) -> bool:
        """Only query statements (let, query, declare, alias, pattern, restrict): no control
        command and no `set` option. What untrusted content may run."""
        return not self.has_command and all(
            s.kind not in (StatementKind.COMMAND, StatementKind.SET, StatementKind.OTHER) for s in self.statements
        )

    @property
    def table_names(self) -> list[str]:
        """Every table read, directly or through stored functions, in order of first appearance."""
        return list(dict.fromkeys(t.name for t in self.tables))

    def functions_of(self, *kinds: FunctionKind) -> list[str]:
        """Names of the functions called of the given kinds, in order of first appearance."""
        return list(dict.fromkeys(f.name for f in self.functions if f.kind in kinds))

    @property
    def stored_functions(self) -> list[str]:
        """Workspace functions called from the query text itself (not from inside other functions)."""
        return list(dict.fromkeys(f.name for f in self.functions if f.kind == FunctionKind.STORED and f.via is None))

    @property
    def thresholds(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.is_threshold]

    @property
    def ago_windows(self) -> list[TimeWindow]:
        return [w for w in self.time_windows if w.function == "ago"]

    def pipeline(self, context: str = "query") -> Pipeline | None:
        """The outermost pipeline of the given context (default: the query statement's)."""
        return next((p for p in self.pipelines if p.context == context and p.depth == 0), None)

    def stages_of(self, pipeline: Pipeline) -> list[Stage]:
        return [self.stages[i] for i in pipeline.stages]


# -- from walk.js's JSON ------------------------------------------------------------------------


class _Positions:
    """JavaScript offsets (UTF-16 code units) to Python indices, and indices to line:column."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._utf16: list[int] | None = None
        if not text.isascii() and any(ord(ch) > 0xFFFF for ch in text):
            table: list[int] = []
            for i, ch in enumerate(text):
                table.extend([i] * (2 if ord(ch) > 0xFFFF else 1))
            table.append(len(text))
            self._utf16 = table

    def index(self, js_offset: int) -> int:
        if self._utf16 is None:
            return js_offset
        return self._utf16[min(max(js_offset, 0), len(self._utf16) - 1)]

    def span(self, pair: list[int] | None) -> Span | None:
        if pair is None:
            return None
        start, end = self.index(pair[0]), self.index(pair[1])
        line = bisect.bisect_right(self._line_starts, start)
        return Span(start, end, line, start - self._line_starts[line - 1] + 1)


def _literal(raw: dict[str, Any] | None) -> Literal | None:
    if raw is None:
        return None
    type_, value = raw.get("type"), raw.get("value")
    if value is not None:
        try:
            if type_ == "timespan":
                value = timedelta(microseconds=int(value) // 10)
            elif type_ in ("long", "int"):
                value = int(value)
            elif type_ == "real":
                value = float(value)
            elif type_ == "decimal":
                value = Decimal(str(value))
        except (ValueError, ArithmeticError):
            value = None
    return Literal(type_, raw.get("text", ""), value)


def analysis_from_json(text: str, raw: dict[str, Any]) -> Analysis:
    """Build the typed `Analysis` from walk.js's output for *text*."""
    pos = _Positions(text)
    span = pos.span

    def column_ref(c: dict[str, Any] | None) -> ColumnRef | None:
        if c is None:
            return None
        agg = c.get("aggregate")
        return ColumnRef(
            c["column"],
            span(c["span"]),
            tuple(ColumnOrigin(t, n) for t, n in c.get("origins", [])),
            AggregateSource(agg["operator"], span(agg["span"]), agg.get("stage")) if agg else None,
        )

    def named(e: dict[str, Any]) -> NamedExpression:
        return NamedExpression(e.get("name"), e.get("function"), span(e["span"]))

    diagnostics = tuple(
        Diagnostic(
            d["code"],
            (d.get("severity") or "").lower(),
            d.get("category") or "",
            d["message"],
            span([d["start"], d["start"] + d["length"]]) if d.get("start") is not None else None,
            bool(d.get("analyzer")),
            bool(d.get("syntax")),
        )
        for d in raw["diagnostics"]
    )
    result = raw.get("result")
    schema = None
    scalar = None
    if result and result["tabular"]:
        schema = ResultSchema(tuple(ResultColumn(n, t) for n, t in result["columns"]), bool(result["open"]))
    elif result:
        scalar = result.get("type")
    statements = tuple(
        Statement(
            StatementKind(s["kind"]) if s["kind"] in StatementKind._value2member_map_ else StatementKind.OTHER,
            span(s["span"]),
            s.get("name"),
            span(s.get("value")),
            bool(s.get("tabular")),
            bool(s.get("function")),
        )
        for s in raw["statements"]
    )
    stages = tuple(
        Stage(
            s["id"],
            s["pipeline"],
            s["operator"],
            s["keyword"],
            span(s["span"]),
            span(s["prefix"]),
            span(s.get("condition")),
            tuple(span(q) for q in s.get("subqueries", []) if q is not None),
            None
            if s.get("sort") is None
            else tuple(
                SortKey(span(k["span"]), k.get("column"), bool(k["descending"]), k.get("nulls")) for k in s["sort"]
            ),
            None if s.get("columns") is None else tuple(ResultColumn(n, t) for n, t in s["columns"]),
        )
        for s in raw["stages"]
    )
    tree = None
    if raw.get("tree") is not None:
        tree = tuple(
            SyntaxNode(i, n[0], span([n[1], n[2]]), n[3], n[4], n[5], n[6], n[7]) for i, n in enumerate(raw["tree"])
        )
    return Analysis(
        text=text,
        kind=raw["kind"],
        diagnostics=diagnostics,
        result=schema,
        scalar_type=scalar,
        statements=statements,
        has_command=bool(raw["has_command"]),
        tables=tuple(TableRef(t["name"], span(t["span"]), t.get("via")) for t in raw["tables"]),
        functions=tuple(
            FunctionCall(
                f["name"],
                FunctionKind(f["kind"]),
                span(f["span"]),
                f.get("via"),
                None if f.get("parameters") is None else tuple((p[0], p[1]) for p in f["parameters"]),
            )
            for f in raw["functions"]
        ),
        pipelines=tuple(
            Pipeline(
                p["id"],
                span(p["span"]),
                span(p["source"]),
                tuple(p["stages"]),
                p["context"],
                p.get("name"),
                p.get("parent_stage"),
                p.get("parent_pipeline"),
                p["depth"],
            )
            for p in raw["pipelines"]
        ),
        stages=stages,
        comparisons=tuple(
            Comparison(
                column_ref(c["column"]),
                c["operator"],
                _literal(c["literal"]),
                span(c["literal_span"]),
                span(c["span"]),
                bool(c.get("reversed")),
                c.get("list"),
            )
            for c in raw["comparisons"]
        ),
        lists=tuple(
            ListLiteral(
                x["operator"],
                span(x["span"]),
                span(x["left"]),
                column_ref(x.get("column")),
                tuple((_literal(i), span(i["span"])) for i in x["items"]),
                bool(x["complete"]),
                x.get("variable"),
            )
            for x in raw["lists"]
        ),
        time_windows=tuple(
            TimeWindow(w["function"], span(w["span"]), _literal(w.get("argument")), span(w.get("argument_span")))
            for w in raw["time_windows"]
        ),
        timespans=tuple(
            TimespanLiteral(span(t["span"]), _literal(t["value"]), t.get("function"), t.get("let"))
            for t in raw["timespans"]
        ),
        joins=tuple(
            Join(
                j["stage"],
                j["operator"],
                j["kind"],
                bool(j["explicit"]),
                span(j.get("kind_span")),
                span(j.get("right")),
                tuple(span(o) for o in j.get("on", [])),
                span(j.get("where")),
            )
            for j in raw["joins"]
        ),
        aggregations=tuple(
            Aggregation(
                a["stage"],
                tuple(named(e) for e in a["aggregates"]),
                tuple(named(e) for e in a["by"]),
                tuple(a["columns"]),
            )
            for a in raw["aggregations"]
        ),
        syntax=frozenset(raw.get("syntax", ())),
        tree=tree,
    )
