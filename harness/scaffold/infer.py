"""What a rule's query asks of its rows, read from Microsoft's analysis (harness.kql.analyzer), never evaluated.

The scaffold needs to know which tables to write, which literal each filter compares a column with
(and with which operator), which aggregate thresholds the rows must cross, and which time windows
they must sit in. All of it comes from Kusto.Language's analysis of the unchanged query: its
comparisons, list literals, aggregations, ago() windows and timespan literals, and the syntax tree
to see whether a filter sits under `not(...)`, an `or`, or an anti-join (where meeting it would
*stop* the rule). Nothing here decides whether rows match: the harness runs the real query for that.
Whatever cannot be read this way becomes a `todo` the scaffold shows in its files and on the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from harness.kql.analyzer import analyze
from harness.kql.model import Analysis, Comparison, ListLiteral, Span, SyntaxNode
from harness.model import Detection
from harness.workspace.context import WorkspaceContext

__all__ = ["Filter", "Threshold", "RuleShape", "infer"]

#: Operators a value meets by being (or containing) the literal; `!`-forms are their negations.
EXACT = {"==", "=~", "in", "in~"}
CONTAINS = {"has", "has_cs", "contains", "contains_cs", "has_any", "has_all", "hasprefix", "hasprefix_cs",
            "hassuffix", "hassuffix_cs", "startswith", "startswith_cs", "endswith", "endswith_cs"}
ORDER = {">", ">=", "<", "<="}
NEGATED = {"!=", "!~", "!in", "!in~", "!has", "!has_cs", "!contains", "!contains_cs", "!startswith",
           "!startswith_cs", "!endswith", "!endswith_cs", "!hasprefix", "!hassuffix"}
#: Functions that only change case or type: `tolower(Col) in ("a")` is met by writing `a` into Col.
TRANSPARENT = {"tolower", "toupper", "tostring", "trim", "trim_start", "trim_end", "toint", "tolong"}


@dataclass(frozen=True)
class Filter:
    """One `where` predicate on a table column: `column operator literal(s)`."""

    table: str
    column: str
    operator: str
    values: tuple[Any, ...]  # the literal, or every item of a list (in, has_any, ...)
    text: str  # the predicate as written
    line: int  # in the query
    alternative: bool = False  # under an `or`: another branch may let rows through without it
    wrapped: str | None = None  # `tolower` in `tolower(Col) in (...)`

    @property
    def negated(self) -> bool:
        return self.operator in NEGATED


@dataclass(frozen=True)
class Threshold:
    """`where <aggregate> <op> N` after a summarize: how many rows (or distinct values) must be counted."""

    operator: str
    value: int
    function: str  # count, dcount, countif, ...
    argument: tuple[str, str] | None  # (table, column) a dcount counts
    text: str
    line: int


@dataclass
class RuleShape:
    """Everything the scaffold writes from: per table the filters, the thresholds, the time limits."""

    tables: list[str]
    filters: list[Filter] = field(default_factory=list)
    thresholds: list[Threshold] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # columns whose value the output shows or groups/joins on
    window: timedelta | None = None  # the shortest time span the query names (ago, bin, lets, queryPeriod)
    lower_bound: timedelta | None = None  # the shortest `TimeGenerated > ago(X)` in a filter
    aggregated: bool = False
    todos: list[str] = field(default_factory=list)


def _ancestors(tree: tuple[SyntaxNode, ...], index: int) -> list[SyntaxNode]:
    out = []
    while index >= 0:
        node = tree[index]
        out.append(node)
        index = node.parent
    return out


def _node_at(tree: tuple[SyntaxNode, ...], span: Span) -> int | None:
    """The outermost node covering exactly *span* (None if the tree has none)."""
    best = None
    for node in tree:
        if node.span.start == span.start and node.span.end == span.end and node.type != "SyntaxToken":
            if best is None:
                best = node.index
    return best


@dataclass
class _Context:
    """Where a predicate sits: in a where filter; under not(); under or; in an anti-join's right side."""

    in_filter: bool = False
    negated: bool = False
    alternative: bool = False
    excluded: bool = False


def _context(a: Analysis, span: Span) -> _Context:
    assert a.tree is not None
    ctx = _Context()
    index = _node_at(a.tree, span)
    if index is None:
        return ctx
    for node in _ancestors(a.tree, index)[1:]:
        if node.type == "FilterOperator":
            ctx.in_filter = True
        elif node.type in ("ExtendOperator", "SummarizeOperator", "ProjectOperator"):
            if not ctx.in_filter:
                return ctx  # iff()/case() in an extend, countif() in a summarize: not a filter
        elif node.type == "FunctionCallExpression" and node.symbol == "not":
            ctx.negated = not ctx.negated
        elif node.type == "BinaryExpression" and node.symbol == "Or":
            ctx.alternative = True
    ctx.excluded = _in_anti_join(a, span)
    return ctx


def _in_anti_join(a: Analysis, span: Span) -> bool:
    """Inside the right side of a `join kind=leftanti` (or `!in (subquery)`): meeting it removes rows."""
    for join in a.joins:
        if join.right is not None and join.right.start <= span.start and span.end <= join.right.end:
            if "anti" in join.kind:
                return True
    return False


def _columns_in(a: Analysis, span: Span) -> list[str]:
    assert a.tree is not None
    return list(dict.fromkeys(
        n.symbol for n in a.tree
        if n.symbol_kind == "ColumnSymbol" and n.type == "NameReference" and n.symbol
        and span.start <= n.span.start and n.span.end <= span.end
    ))


def _functions_in(a: Analysis, span: Span) -> set[str]:
    assert a.tree is not None
    return {
        n.symbol for n in a.tree
        if n.type == "FunctionCallExpression" and n.symbol and span.start <= n.span.start and n.span.end <= span.end
    }


def _value(lit: Any) -> Any:
    value = lit.value
    if isinstance(value, Decimal):
        return float(value)
    return value


def _table_of(column: str, tables: list[str], context: WorkspaceContext, origins: list[tuple[str, str]]) -> list[
        tuple[str, str]]:
    if origins:
        return [(t, c) for t, c in origins if context.registry.get(t) is not None]
    return [(t, column) for t in tables if (s := context.registry.get(t)) is not None and s.column(column)]


def infer(detection: Detection, context: WorkspaceContext) -> RuleShape:
    """The shape of the rows *detection*'s query asks for, from Kusto.Language's analysis."""
    q = detection.query
    a = analyze(q, context, tree=True)
    if a.errors:
        first = a.errors[0]
        where = f" at line {first.span.line}" if first.span else ""
        raise ValueError(f"the query does not analyse cleanly ({first.code}{where}: {first.message})")
    registry = context.registry
    tables = [t for t in a.table_names if registry.get(t) is not None]
    direct = [t.name for t in a.tables if t.via is None and registry.get(t.name) is not None]
    shape = RuleShape(tables=[])
    shape.aggregated = bool(a.aggregations)
    line = lambda s: s.line  # noqa: E731

    filters: list[Filter] = []
    # Comparisons (one per list item for lists; taken once per list below).
    seen_lists: set[int] = set()
    for c in a.comparisons:
        if c.column.aggregate is not None:
            continue
        if c.list_index is not None:
            seen_lists.add(c.list_index)
            continue
        _add_comparison(a, c, tables, context, filters, shape)
    for i, lst in enumerate(a.lists):
        _add_list(a, i, lst, tables, context, filters, shape)
    shape.filters = filters

    # Thresholds: a number compared with an aggregate's output.
    for c in a.thresholds:
        ctx = _context(a, c.span)
        if ctx.excluded or not ctx.in_filter:
            continue
        agg = next((g for g in a.aggregations if g.stage == c.column.aggregate.stage), None) if c.column.aggregate \
            else None
        function, argument = "count", None
        if agg is not None:
            named = list(zip(agg.columns[len(agg.by):], agg.aggregates, strict=False))
            match = next((e for n, e in named if n == c.column.name), None)
            if match is not None:
                function = match.function or "count"
                cols = _columns_in(a, match.span)
                if function.startswith("dcount") and cols:
                    found = _table_of(cols[0], tables, context, [])
                    argument = found[0] if found else None
        if function not in ("count", "dcount", "countif", "dcountif", "count_distinct"):
            shape.todos.append(f"threshold `{c.span.text(q)}` (line {c.span.line}) counts with {function}(); "
                               "set the rows' values so it is met")
            continue
        value = _value(c.literal)
        if not isinstance(value, (int, float)) or ctx.negated:
            continue
        shape.thresholds.append(Threshold(c.operator, int(value), function, argument, c.span.text(q), line(c.span)))

    # Which tables to write: those a filter names, and those the query reads directly.
    named = [f.table for f in filters] + [t.argument[0] for t in shape.thresholds if t.argument]
    shape.tables = [t for t in tables if t in named or t in direct]
    if not shape.tables:
        raise ValueError("the query reads no table of the workspace's schemas")

    # Key columns: what the output shows, groups by, or joins on (case-unique values go there).
    keys: list[str] = []
    if a.result is not None:
        keys += a.result.names
    for agg in a.aggregations:
        keys += [e.name for e in agg.by if e.name]
    for join in a.joins:
        for on in join.on:
            keys += _columns_in(a, on)
    shape.keys = list(dict.fromkeys(keys))
    if a.result is None:
        shape.todos.append("the query's result is not a table; nothing to attribute to the case")

    # Time: the shortest span the query names (the rows go inside it), and the filter's lower bound.
    spans = [w.span_value for w in a.time_windows if w.span_value and w.span_value > timedelta(0)]
    spans += [t.value.value for t in a.timespans
              if isinstance(t.value.value, timedelta) and t.value.value > timedelta(0)]
    if detection.query_period:
        spans.append(detection.query_period)
    shape.window = min(spans) if spans else None
    bounds = []
    for w in a.ago_windows:
        if not w.span_value or w.span_value <= timedelta(0):
            continue
        ctx = _context(a, w.span)
        if not ctx.in_filter or ctx.excluded or ctx.negated or ctx.alternative:
            continue
        parent = _parent_operator(a, w.span)
        if parent in ("GreaterThan", "GreaterThanOrEqual"):
            bounds.append(w.span_value)
    shape.lower_bound = min(bounds) if bounds else None
    return shape


def _parent_operator(a: Analysis, span: Span) -> str | None:
    assert a.tree is not None
    index = _node_at(a.tree, span)
    if index is None:
        return None
    parent = a.tree[a.tree[index].parent] if a.tree[index].parent >= 0 else None
    if parent is not None and parent.type == "BinaryExpression":
        # `TimeGenerated > ago(1d)`: the ago() is on the right of a greater-than
        return parent.symbol if parent.span.end == span.end else None
    return None


def _add_comparison(a: Analysis, c: Comparison, tables: list[str], context: WorkspaceContext,
                    filters: list[Filter], shape: RuleShape) -> None:
    q = a.text
    ctx = _context(a, c.span)
    if not ctx.in_filter or ctx.excluded:
        return
    operator = _negate(c.operator) if ctx.negated else c.operator
    if operator in ("matches regex",) or operator.startswith("!matches"):
        shape.todos.append(f"`{c.span.text(q)}` (line {c.span.line}): a regular expression; write a value it "
                           "matches by hand")
        return
    origins = [(o.table, o.column) for o in c.column.origins]
    targets = _table_of(c.column.name, tables, context, origins)
    if not targets:
        shape.todos.append(f"`{c.span.text(q)}` (line {c.span.line}) compares `{c.column.name}`, which is computed "
                           "in the query; write the columns it comes from by hand")
        return
    if not origins and c.column.name not in [n for t in tables if (s := context.registry.get(t)) for n in s.names]:
        return
    value = _value(c.literal)
    if value is None:
        shape.todos.append(f"`{c.span.text(q)}` (line {c.span.line}): the literal has no plain value")
        return
    for table, column in targets:
        filters.append(Filter(table, column, operator, (value,), c.span.text(q), c.span.line, ctx.alternative))


def _add_list(a: Analysis, index: int, lst: ListLiteral, tables: list[str], context: WorkspaceContext,
              filters: list[Filter], shape: RuleShape) -> None:
    q = a.text
    whole = Span(lst.left.start, lst.span.end, lst.left.line, lst.left.column)
    ctx = _context(a, _enclosing(a, lst) or whole)
    if not ctx.in_filter or ctx.excluded:
        return
    text = q[lst.left.start:lst.span.end]
    values = tuple(v for lit, _ in lst.items if (v := _value(lit)) is not None)
    if not values:
        if not lst.complete:
            shape.todos.append(f"`{text}` (line {lst.left.line}): the list is not a constant; write a value from it")
        return
    operator = _negate(lst.operator) if ctx.negated else lst.operator
    wrapped = None
    if lst.column is not None:
        origins = [(o.table, o.column) for o in lst.column.origins]
        targets = _table_of(lst.column.name, tables, context, origins)
        if not targets:
            shape.todos.append(f"`{text}` (line {lst.left.line}) compares `{lst.column.name}`, which is computed in "
                               "the query; write the columns it comes from by hand")
            return
    else:
        cols = _columns_in(a, lst.left)
        functions = _functions_in(a, lst.left)
        if len(cols) != 1 or not functions <= TRANSPARENT:
            shape.todos.append(f"`{text}` (line {lst.left.line}) compares an expression; write its columns by hand")
            return
        targets = _table_of(cols[0], tables, context, [])
        wrapped = ", ".join(sorted(functions)) or None
        if not targets:
            return
    for table, column in targets:
        filters.append(Filter(table, column, operator, values, text, lst.left.line, ctx.alternative, wrapped))


def _enclosing(a: Analysis, lst: ListLiteral) -> Span | None:
    """The `x in (...)` expression node of a list (its left side's parent)."""
    assert a.tree is not None
    index = _node_at(a.tree, lst.left)
    if index is None:
        return None
    parent = a.tree[index].parent
    return a.tree[parent].span if parent >= 0 else None


def _negate(operator: str) -> str:
    if operator.startswith("!"):
        return operator[1:]
    return {"==": "!=", "!=": "==", "=~": "!~", ">": "<=", ">=": "<", "<": ">=", "<=": ">"}.get(operator, "!" + operator)
