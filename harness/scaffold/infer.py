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
from harness.kql.diagnostics import check
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
           "!startswith_cs", "!endswith", "!endswith_cs", "!hasprefix", "!hassuffix", "!has_any", "!has_all",
           "!matches regex", "!between"}
REGEX = {"matches regex"}
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
    group: int | None = None  # the `or` it is an alternative of (its position): near-misses change the whole group

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
    groups: list[str] = field(default_factory=list)  # the columns it groups or joins on (first in `keys`)
    same: list[tuple[str, ...]] = field(default_factory=list)  # columns a join matches with each other
    future: list[tuple[str, str]] = field(default_factory=list)  # (table, column) a filter wants after now()
    notes: list[str] = field(default_factory=list)  # what the scaffold assumed (shown as comments)
    window: timedelta | None = None  # the shortest time span the query names (ago, bin, lets, queryPeriod)
    lower_bound: timedelta | None = None  # the shortest `TimeGenerated > ago(X)` in a filter
    aggregated: bool = False
    todos: list[str] = field(default_factory=list)


def _tree(a: Analysis) -> tuple[SyntaxNode, ...]:
    """The syntax tree (infer always asks for it)."""
    return a.tree or ()


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
    group: int | None = None  # start of the outermost `or` above it


def short(text: str, limit: int = 90) -> str:
    """A predicate's text on one line, cut to *limit* characters (for comments and TODOs)."""
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _context(a: Analysis, span: Span) -> _Context:
    ctx = _Context()
    index = _node_at(_tree(a), span)
    if index is None:
        return ctx
    for node in _ancestors(_tree(a), index)[1:]:
        if node.type == "FilterOperator":
            ctx.in_filter = True
        elif node.type in ("ExtendOperator", "SummarizeOperator", "ProjectOperator"):
            if not ctx.in_filter:
                return ctx  # iff()/case() in an extend, countif() in a summarize: not a filter
        elif node.type == "FunctionCallExpression" and node.symbol == "not":
            ctx.negated = not ctx.negated
        elif node.type == "BinaryExpression" and node.symbol == "Or":
            ctx.alternative = True
            ctx.group = node.span.start
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
    return list(dict.fromkeys(
        n.symbol for n in _tree(a)
        if n.symbol_kind == "ColumnSymbol" and n.type == "NameReference" and n.symbol
        and span.start <= n.span.start and n.span.end <= span.end
    ))


def _functions_in(a: Analysis, span: Span) -> set[str]:
    return {
        n.symbol for n in _tree(a)
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
    refused = check(q, context).errors  # Kusto.Language's errors, less the harness's documented exceptions
    if refused:
        first = refused[0]
        where = f" at line {first.span.line}" if first.span else ""
        raise ValueError(f"the query does not analyse cleanly ({first.code}{where}: {first.message})")
    registry = context.registry
    tables = [t for t in a.table_names if registry.get(t) is not None]
    direct = [t.name for t in a.tables if t.via is None and registry.get(t.name) is not None]
    shape = RuleShape(tables=[])
    shape.aggregated = bool(a.aggregations)
    read = _Reader(a, tables, context, shape)

    for c in a.comparisons:
        if c.column.aggregate is None and c.list_index is None:
            read.comparison(c)
    for lst in a.lists:
        read.list(lst)
    read.emptiness()
    read.thresholds()
    read.time()
    read.unread()
    shape.filters = read.filters

    # Which tables to write: those a filter names, and those the query reads directly.
    named = [f.table for f in shape.filters] + [t.argument[0] for t in shape.thresholds if t.argument]
    shape.tables = [t for t in tables if t in named or t in direct]
    if not shape.tables:
        raise ValueError("the query reads no table of the workspace's schemas (an ASIM parser called with "
                         "filter parameters is one: write its source table's rows by hand)")
    if len(shape.tables) > 1 and "UnionOperator" in a.syntax and not a.joins and not read.links:
        # Legs of a union fire on their own: one leg's rows make the case, so each near-miss can stop it.
        first = next((t for t in shape.tables if t in named), shape.tables[0])
        others = [t for t in shape.tables if t != first]
        shape.todos.append(f"the query is a union: the case writes {first} only; the other legs "
                           f"({', '.join(others)}) can each get a case of their own")
        shape.tables = [first]
        shape.filters = [f for f in shape.filters if f.table == first]
        shape.thresholds = [t for t in shape.thresholds if t.argument is None or t.argument[0] == first]

    # Key columns: what the output shows, groups by, or joins on (case-unique values go there).
    keys: list[str] = list(read.links)
    for agg in a.aggregations:
        keys += [e.name for e in agg.by if e.name]
    known = {n for t in tables for n in registry[t].names}
    for join in a.joins:
        for on in join.on:
            cols = _columns_in(a, on)
            # `$left.TI_ipEntity == $right.CallerIpAddress` where `extend TI_ipEntity = iff(isnotempty(NetworkIP),
            # NetworkIP, ...)`: the first table column of the defining extend stands for the computed key.
            sources = [c if c in known else _defined_from(a, c, known) for c in cols]
            unresolved = [c for c, src in zip(cols, sources, strict=True) if src is None]
            if unresolved:
                shape.todos.append(f"`{short(on.text(q))}` (line {on.line}): the join matches on computed values "
                                   f"({', '.join(unresolved)}); make both sides' rows produce the same value by hand")
                keys += [c for c in cols if c in known]
                continue
            keys += [src for src in sources if src]
            if len(set(sources)) > 1:
                shape.same.append(tuple(dict.fromkeys(src for src in sources if src)))
                computed = [c for c in cols if c not in known]
                if computed:
                    shape.notes.append(f"the join key {', '.join(computed)} is computed; the scaffold writes the "
                                       f"same value into {', '.join(dict.fromkeys(s for s in sources if s))}")
    shape.groups = list(dict.fromkeys(keys))
    if a.result is not None:
        keys += a.result.names
    shape.keys = list(dict.fromkeys(keys))
    if a.result is None:
        shape.todos.append("the query's result is not a table; nothing to attribute to the case")
    shape.todos = list(dict.fromkeys(shape.todos))
    return shape


class _Reader:
    """Reads one analysis into filters, thresholds, time limits and TODOs; remembers what it read."""

    def __init__(self, a: Analysis, tables: list[str], context: WorkspaceContext, shape: RuleShape) -> None:
        self.a, self.q, self.tables, self.context, self.shape = a, a.text, tables, context, shape
        self.filters: list[Filter] = []
        self.covered: list[Span] = []  # predicates read (or named in a TODO)
        self.links: list[str] = []  # columns compared with a subquery's values (`Col in (T | ...)`)

    def todo(self, span: Span, text: str) -> None:
        self.covered.append(span)
        self.shape.todos.append(text)

    def comparison(self, c: Comparison) -> None:
        a, q = self.a, self.q
        ctx = _context(a, c.span)
        if not ctx.in_filter or ctx.excluded:
            return
        text = short(c.span.text(q))
        operator = _negate(c.operator) if ctx.negated else c.operator
        origins = [(o.table, o.column) for o in c.column.origins]
        targets = _table_of(c.column.name, self.tables, self.context, origins)
        if not targets:
            self.todo(c.span, f"`{text}` (line {c.span.line}) compares `{c.column.name}`, which is computed in the "
                              "query; write the columns it comes from by hand")
            return
        value = _value(c.literal)
        if value is None and (c.literal.type == "bool" or c.literal.text in ("true", "false")):
            value = c.literal.text.strip().lower() == "true"
        if value is None:
            self.todo(c.span, f"`{text}` (line {c.span.line}): the value it compares with is not a constant")
            return
        self.covered.append(c.span)
        for table, column in targets:
            self.filters.append(Filter(table, column, operator, (value,), text, c.span.line, ctx.alternative,
                                       group=ctx.group))

    def list(self, lst: ListLiteral) -> None:
        a, q = self.a, self.q
        whole = _enclosing(a, lst) or Span(lst.left.start, lst.span.end, lst.left.line, lst.left.column)
        ctx = _context(a, whole)
        if not ctx.in_filter or ctx.excluded:
            return
        text = short(q[lst.left.start:lst.span.end])
        values = tuple(v for lit, _ in lst.items if (v := _value(lit)) is not None)
        if not values and lst.variable:
            values = _packed(a, lst.variable)
        if not values and lst.variable and self._tabular(lst.variable):
            negated = lst.operator.startswith("!") != ctx.negated
            if negated:
                self.todo(whole, f"`{text}` (line {lst.left.line}) drops rows whose value `{lst.variable}` returns; "
                                 "make sure no case's rows (near-misses included) feed it")
            elif lst.operator in ("in", "in~"):
                # `Col in (subquery)`: a key like a join's, met by the case-unique value shared across tables
                self.covered.append(whole)
                self.links += [lst.column.name] if lst.column is not None else _columns_in(a, lst.left)
            else:
                self.todo(whole, f"`{text}` (line {lst.left.line}) compares with the values `{lst.variable}` "
                                 "returns; write one of them by hand")
            return
        if not values:
            if not lst.complete:
                self.todo(whole, f"`{text}` (line {lst.left.line}): the list is not a constant; write a value "
                                 "from it by hand")
            return
        operator = _negate(lst.operator) if ctx.negated else lst.operator
        wrapped = None
        if lst.column is not None:
            origins = [(o.table, o.column) for o in lst.column.origins]
            targets = _table_of(lst.column.name, self.tables, self.context, origins)
            if not targets:
                self.todo(whole, f"`{text}` (line {lst.left.line}) compares `{lst.column.name}`, which is computed "
                                 "in the query; write the columns it comes from by hand")
                return
        else:
            cols = _columns_in(a, lst.left)
            functions = _functions_in(a, lst.left)
            if len(cols) != 1 or not functions <= TRANSPARENT:
                self.todo(whole, f"`{text}` (line {lst.left.line}) compares an expression; write its columns by hand")
                return
            targets = _table_of(cols[0], self.tables, self.context, [])
            wrapped = ", ".join(sorted(functions)) or None
            if not targets:
                return
        self.covered.append(whole)
        for table, column in targets:
            self.filters.append(Filter(table, column, operator, values, text, lst.left.line, ctx.alternative,
                                       wrapped, ctx.group))

    def _tabular(self, name: str) -> bool:
        return any(st.name == name and st.tabular for st in self.a.statements)

    def emptiness(self) -> None:
        """`isempty(Col)` / `isnotempty(Col)` on a table column (the filler fills every column, so only
        `isempty` asks for a value: the empty string)."""
        a = self.a
        for node in _tree(a):
            if node.type != "FunctionCallExpression" or node.symbol not in ("isempty", "isnotempty", "isnull",
                                                                            "isnotnull"):
                continue
            ctx = _context(a, node.span)
            if not ctx.in_filter or ctx.excluded:
                continue
            cols = _columns_in(a, node.span)
            empty = (node.symbol in ("isempty", "isnull")) != ctx.negated
            if not empty:
                self.covered.append(node.span)
                continue
            targets = _table_of(cols[0], self.tables, self.context, []) if len(cols) == 1 else []
            if not targets or node.symbol == "isnull":
                continue
            self.covered.append(node.span)
            for table, column in targets:
                self.filters.append(Filter(table, column, "==", ("",), short(node.span.text(self.q)),
                                           node.span.line, ctx.alternative, group=ctx.group))

    def thresholds(self) -> None:
        """A number compared with an aggregate's output (`summarize c = count() ... | where c > 3`)."""
        a, q, shape = self.a, self.q, self.shape
        for c in a.thresholds:
            ctx = _context(a, c.span)
            if ctx.excluded or not ctx.in_filter:
                continue
            agg = next((g for g in a.aggregations if c.column.aggregate and g.stage == c.column.aggregate.stage),
                       None)
            function, argument = "count", None
            if agg is not None:
                named = list(zip(agg.columns[len(agg.by):], agg.aggregates, strict=False))
                match = next((e for n, e in named if n == c.column.name), None)
                if match is not None:
                    function = match.function or "count"
                    cols = _columns_in(a, match.span)
                    if function.startswith("dcount") and cols:
                        found = _table_of(cols[0], self.tables, self.context, [])
                        argument = found[0] if found else None
            text = short(c.span.text(q))
            if function not in ("count", "dcount", "countif", "dcountif", "count_distinct"):
                self.todo(c.span, f"threshold `{text}` (line {c.span.line}) is over {function}(); set the rows' "
                                  "values so it is met")
                continue
            value = _value(c.literal)
            if not isinstance(value, (int, float)) or ctx.negated:
                continue
            self.covered.append(c.span)
            shape.thresholds.append(Threshold(c.operator, int(value), function, argument, text, c.span.line))

    def time(self) -> None:
        """The shortest span the query names (the rows go inside it), and the filters' `> ago(X)` bound."""
        a, shape = self.a, self.shape
        spans = [w.span_value for w in a.time_windows if w.span_value and w.span_value > timedelta(0)]
        spans += [t.value.value for t in a.timespans
                  if isinstance(t.value.value, timedelta) and t.value.value > timedelta(0)]
        shape.window = min(spans) if spans else None
        bounds = []
        for w in a.time_windows:
            self.covered.append(w.span)
            if w.function != "ago" or not w.span_value or w.span_value <= timedelta(0):
                continue
            ctx = _context(a, w.span)
            if not ctx.in_filter or ctx.excluded or ctx.negated or ctx.alternative:
                continue
            if _parent_operator(a, w.span) in ("GreaterThan", "GreaterThanOrEqual"):
                bounds.append(w.span_value)
        shape.lower_bound = min(bounds) if bounds else None
        # `ExpirationDateTime > now()`: a column that must lie in the future
        tree = _tree(a)
        for w in a.time_windows:
            if w.function != "now" or w.argument is not None:
                continue
            ctx = _context(a, w.span)
            index = _node_at(tree, w.span)
            if not ctx.in_filter or ctx.excluded or ctx.negated or index is None or tree[index].parent < 0:
                continue
            parent = tree[tree[index].parent]
            if parent.type != "BinaryExpression" or parent.symbol not in ("GreaterThan", "GreaterThanOrEqual"):
                continue
            left = _columns_in(a, Span(parent.span.start, w.span.start, parent.span.line, parent.span.column))
            if len(left) == 1 and left[0] != "TimeGenerated":
                shape.future += _table_of(left[0], self.tables, self.context, [])

    def unread(self) -> None:
        """Every `where` conjunct the scaffold did not read becomes a TODO naming it."""
        a, q = self.a, self.q
        for stage in a.stages:
            if stage.condition is None or _in_anti_join(a, stage.condition):
                continue
            index = _node_at(_tree(a), stage.condition)
            if index is None:
                continue
            for leaf in _conjuncts(_tree(a), index):
                span = leaf.span
                if any(span.start <= c.start and c.end <= span.end or c.start <= span.start and span.end <= c.end
                       for c in self.covered):
                    continue
                self.todo(span, f"`{short(span.text(q))}` (line {span.line}): a filter the scaffold could not "
                                "read; make the rows meet it by hand")


def _unquote(text: str) -> str | None:
    """A plain KQL string literal's value ('x', "x", @"x"); None for anything fancier."""
    if text[:1] == "@" and text[1:2] in "'\"" and text[-1:] == text[1:2] and len(text) >= 3:
        return text[2:-1]
    if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0] and "\\" not in text:
        return text[1:-1]
    return None


def _packed(a: Analysis, name: str) -> tuple[Any, ...]:
    """The string literals of `let name = pack_array("a", "b")` (a list the analyzer does not hold as constant)."""
    statement = next((st for st in a.statements if st.name == name and st.value is not None), None)
    if statement is None or statement.value is None:
        return ()
    span = statement.value
    inside = [n for n in _tree(a) if span.start <= n.span.start and n.span.end <= span.end]
    calls = {n.symbol for n in inside if n.type == "FunctionCallExpression"}
    names = [n for n in inside if n.type == "NameReference" and n.symbol_kind != "FunctionSymbol"]
    if calls != {"pack_array"} or names:
        return ()
    values = [_unquote(n.span.text(a.text)) for n in inside if n.type == "LiteralExpression"]
    return tuple(v for v in values if v is not None) if all(v is not None for v in values) else ()


def _defined_from(a: Analysis, name: str, known: set[str]) -> str | None:
    """The first table column in the expression that defines computed column *name* (`extend name = ...`)."""
    tree = _tree(a)
    for node in tree:
        if node.type == "NameDeclaration" and node.symbol == name and node.parent >= 0:
            parent = tree[node.parent]
            if parent.type != "SimpleNamedExpression":
                continue
            found = [c for c in _columns_in(a, parent.span) if c != name and c in known]
            if found:
                return found[0]
    return None


def _conjuncts(tree: tuple[SyntaxNode, ...], index: int) -> list[SyntaxNode]:
    """The `and`-ed parts of a predicate (parentheses opened)."""
    node = tree[index]
    children = [n for n in tree[index + 1:] if n.parent == index]
    if node.type == "BinaryExpression" and node.symbol == "And":
        return [leaf for c in children if c.type != "SyntaxToken" for leaf in _conjuncts(tree, c.index)]
    if node.type in ("ParenthesizedExpression", "SyntaxList", "SeparatedElement") and children:
        inner = [c for c in children if c.type not in ("SyntaxToken",)]
        if len(inner) == 1:
            return _conjuncts(tree, inner[0].index)
    return [node]


def _parent_operator(a: Analysis, span: Span) -> str | None:
    index = _node_at(_tree(a), span)
    if index is None:
        return None
    parent = _tree(a)[_tree(a)[index].parent] if _tree(a)[index].parent >= 0 else None
    if parent is not None and parent.type == "BinaryExpression":
        # `TimeGenerated > ago(1d)`: the ago() is on the right of a greater-than
        return parent.symbol if parent.span.end == span.end else None
    return None


def _enclosing(a: Analysis, lst: ListLiteral) -> Span | None:
    """The `x in (...)` expression node of a list (its left side's parent)."""
    index = _node_at(_tree(a), lst.left)
    if index is None:
        return None
    parent = _tree(a)[index].parent
    return _tree(a)[parent].span if parent >= 0 else None


def _negate(operator: str) -> str:
    if operator.startswith("!"):
        return operator[1:]
    flipped = {"==": "!=", "!=": "==", "=~": "!~", ">": "<=", ">=": "<", "<": ">=", "<=": ">"}
    return flipped.get(operator, "!" + operator)
