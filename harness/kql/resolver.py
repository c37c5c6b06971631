"""Static table and column resolution for KQL, with a KQL line:column for every problem.

The engine reports an unknown column only as a DuckDB binder error with no KQL position,
and refuses whole queries for constructs it cannot translate. Validation must still say
which table and column a rule reads, and where a name is wrong, so this module walks the
parse tree itself (duckdb-kql's ANTLR grammar, which parses far more than the engine
translates) and tracks each relation's columns through the pipeline.

It fails open, never closed, on what it does not model: an operator it cannot follow
marks that branch *unresolved* (reported, with its position) and every name read after
it is accepted. A problem is only reported where the columns are known exactly, so a
valid rule never gets a false error.

Example::

    >>> from harness.workspace.context import WATCHLIST_COLUMNS
from harness.workspace.tables import SchemaRegistry
    >>> r = resolve('EmailEvents | where DeliveryAction == "Delivered" | project Subjectt',
    ...             SchemaRegistry())
    >>> sorted(r.columns_read["EmailEvents"])
    ['DeliveryAction']
    >>> [(p.kind, p.name, p.line, p.column) for p in r.problems]
    [('unknown-column', 'Subjectt', 1, 61)]
"""

from __future__ import annotations

import ast
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any

import duckdb_kql

from harness import timespan
from harness.workspace.context import WATCHLIST_COLUMNS
from harness.workspace.tables import SchemaRegistry

__all__ = [
    "Comparison",
    "OutputColumn",
    "Problem",
    "ResolveReport",
    "Unresolved",
    "WATCHLIST_COLUMNS",
    "parse_timespan",
    "resolve",
]



# ---------------------------------------------------------------------------
# Public report types
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A definite error: the name cannot exist where it is read."""

    kind: str  # unknown-table | unknown-column | unknown-function | syntax
    name: str
    message: str
    line: int
    column: int
    #: "warning" inside a `union isfuzzy=true` leg: Kusto drops a leg it cannot
    #: resolve and runs the rest, reporting a warning rather than failing.
    severity: str = "error"


@dataclass(frozen=True)
class Unresolved:
    """A place where resolution stopped: names read after it are not checked."""

    construct: str
    reason: str
    line: int
    column: int


@dataclass(frozen=True)
class OutputColumn:
    name: str
    type: str | None
    origins: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Comparison:
    """A string literal compared for equality with a column traced to a table column.

    What value lint needs: `DeliveryAction in ("Delivered", "DeliveredToJunk")` gives
    one Comparison per literal with origin ("EmailEvents", "DeliveryAction").
    """

    table: str
    column: str
    operator: str
    value: str
    line: int
    column_number: int


@dataclass(frozen=True)
class AgoWindow:
    """`ago(<timespan>)` with a statically known span."""

    span: timedelta
    line: int
    column: int


@dataclass
class ResolveReport:
    """Everything static resolution learned about one query."""

    tables: list[str] = field(default_factory=list)
    columns_read: dict[str, set[str]] = field(default_factory=dict)
    output: list[OutputColumn] | None = None
    output_open: bool = False
    problems: list[Problem] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    ago_windows: list[AgoWindow] = field(default_factory=list)
    functions_called: list[str] = field(default_factory=list)
    #: Constructs worth naming for engine-support reports (externaldata, named-arguments, ...).
    constructs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def complete(self) -> bool:
        """True when every branch was followed to the end."""
        return not self.unresolved and not self.output_open

    @property
    def output_names(self) -> list[str] | None:
        return None if self.output is None else [c.name for c in self.output]


# ---------------------------------------------------------------------------
# Relations
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    name: str
    type: str | None = None
    origins: frozenset[tuple[str, str]] = frozenset()


@dataclass
class Relation:
    cols: dict[str, Col] = field(default_factory=dict)
    #: More columns may exist than `cols` lists: never report a name as unknown.
    open: bool = False

    def copy(self) -> Relation:
        return Relation(dict(self.cols), self.open)

    @staticmethod
    def unknown() -> Relation:
        return Relation({}, True)


@dataclass
class LetFunction:
    name: str
    params: list[tuple[str, bool]]  # (name, is_tabular)
    body: Any  # LetFunctionBody context
    scope: Scope


@dataclass
class Scope:
    tabular: dict[str, Relation] = field(default_factory=dict)
    scalars: dict[str, Any] = field(default_factory=dict)  # name -> static value or None
    functions: dict[str, LetFunction] = field(default_factory=dict)

    def child(self) -> Scope:
        return Scope(dict(self.tabular), dict(self.scalars), dict(self.functions))


# ---------------------------------------------------------------------------
# Small helpers over the ANTLR tree
# ---------------------------------------------------------------------------


def _cls(node: Any) -> str:
    return type(node).__name__.removesuffix("Context")


def _kids(node: Any) -> list[Any]:
    return list(getattr(node, "children", None) or [])


def _is_rule(node: Any) -> bool:
    return hasattr(node, "getRuleIndex")


def _rule_kids(node: Any) -> list[Any]:
    return [c for c in _kids(node) if _is_rule(c)]


def _collapse(node: Any) -> Any:
    """Skip pass-through rules that wrap exactly one child rule."""
    while True:
        kids = _kids(node)
        if len(kids) == 1 and _is_rule(kids[0]):
            node = kids[0]
        else:
            return node


def _pos(node: Any) -> tuple[int, int]:
    tok = getattr(node, "start", None) or getattr(node, "symbol", None)
    if tok is None:
        return 0, 0
    return tok.line, tok.column + 1


def _tokens(node: Any) -> list[str]:
    return [c.getText() for c in _kids(node) if not _is_rule(c)]


_NAME_NODES = ("IdentifierName", "KeywordName", "ExtendedKeywordName", "EscapedName")


def _name_text(node: Any) -> str | None:
    """The name an identifier-ish subtree spells (`['x y']` gives `x y`)."""
    node = _collapse(node)
    kind = _cls(node)
    if kind == "EscapedName":
        lits = _find(node, "StringLiteralExpression")
        return _string_value(lits[0]) if lits else None
    if kind in _NAME_NODES:
        return node.getText()
    for child in _rule_kids(node):
        if _cls(child) in (
            "IdentifierOrKeywordOrEscapedName",
            "IdentifierOrExtendedKeywordOrEscapedName",
            "IdentifierOrKeywordName",
            "IdentifierOrExtendedKeywordName",
            "SimpleNameReference",
            "ExtendedNameReference",
            "NameReferenceWithDataScope",
            *_NAME_NODES,
        ):
            return _name_text(child)
    return None


def _find(node: Any, kind: str) -> list[Any]:
    out: list[Any] = []
    for child in _rule_kids(node):
        if _cls(child) == kind:
            out.append(child)
        else:
            out.extend(_find(child, kind))
    return out


def _string_value(node: Any) -> str:
    """A string literal's value (concatenated parts, verbatim and escaped forms)."""
    parts = []
    for text in _tokens(node) or [node.getText()]:
        t = text
        if t[:1] in "hH" and len(t) > 1 and t[1] in "@\"'":
            t = t[1:]
        if t.startswith("@"):
            q = t[1]
            parts.append(t[2:-1].replace(q + q, q))
        elif t[:3] in ('"""', "'''") or t.startswith("```"):
            parts.append(t[3:-3])
        else:
            try:
                parts.append(ast.literal_eval(t))
            except (ValueError, SyntaxError):
                parts.append(t[1:-1])
    return "".join(str(p) for p in parts)


def parse_timespan(text: str) -> timedelta | None:
    """A KQL timespan literal (`14d`, `1.5h`, `30min`, `time(1.00:00:00)`), or None."""
    try:
        return timespan.parse_timespan(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# Naming (Kusto's names for unnamed columns)
# ---------------------------------------------------------------------------

_NAME_PRESERVING = frozenset(
    """tostring toint tolong todouble toreal tobool toboolean todatetime totimespan timespan
    toguid todecimal tohex todynamic parse_json split bin bin_at floor ceiling round startofday
    abs sqrt log log10 log2 exp exp2 gamma format_datetime""".split()
)
#: aggregate -> name prefix; None means "the argument's own name".
_AGG_PREFIX: dict[str, str | None] = {
    "count": "count",
    "countif": "countif",
    "dcount": "dcount",
    "dcountif": "dcountif",
    "sum": "sum",
    "sumif": "sumif",
    "avg": "avg",
    "avgif": "avgif",
    "min": "min",
    "max": "max",
    "minif": "minif",
    "maxif": "maxif",
    "stdev": "stdev",
    "stdevif": "stdevif",
    "variance": "variance",
    "varianceif": "varianceif",
    "make_list": "list",
    "make_set": "set",
    "makelist": "list",
    "makeset": "set",
    "make_bag": "bag",
    "make_list_if": "list",
    "make_set_if": "set",
    "make_bag_if": "bag",
    "make_list_with_nulls": "list",
    "any": "any",
    "take_any": None,
    "takeany": None,
    "percentile": "percentile",
    "hll": "hll",
    "tdigest": "tdigest",
}
_AGG_IGNORES_ARGS = frozenset({"count", "countif"})
_AGG_UNCERTAIN = frozenset({"make_bag_if", "make_list_if", "make_set_if", "minif", "maxif", "hll", "tdigest"})
AGGREGATES = frozenset(_AGG_PREFIX) | {"arg_max", "arg_min", "percentiles", "percentiles_array", "anyif", "take_anyif"}


def _call_parts(node: Any) -> tuple[str, list[Any]] | None:
    """(function name, argument nodes) for a plain function call, else None."""
    node = _collapse(node)
    kind = _cls(node)
    if kind == "CountExpression":
        return "count", []
    if kind == "NamedFunctionCallExpression":
        name = _name_text(node.Name) or ""
        return name, [a for a in _rule_kids(node) if a is not node.Name]
    return None


def _simple_ref(node: Any) -> str | None:
    node = _collapse(node)
    if _cls(node) in ("SimpleNameReference", "NameReferenceWithDataScope", "IdentifierOrKeywordOrEscapedName"):
        return _name_text(node)
    if _cls(node) in _NAME_NODES:
        return _name_text(node)
    return None


def _default_name(node: Any) -> str | None:
    """The name Kusto gives an unnamed expression, or None for a positional `ColumnN`."""
    node = _collapse(node)
    ref = _simple_ref(node)
    if ref is not None:
        return ref
    kind = _cls(node)
    if kind == "FunctionCallOrPathPathExpression":
        kids = _rule_kids(node)
        base = _default_name(kids[0]) if kids else None
        parts = [base] if base else []
        for op in kids[1:]:
            op = _collapse(op)
            if _cls(op) == "FunctionCallOrPathPathOperation":
                parts.append(_name_text(op) or "")
            elif _cls(op) == "FunctionCallOrPathElementOperation":
                inner = _collapse(_rule_kids(op)[0]) if _rule_kids(op) else None
                if inner is not None and _cls(inner) == "StringLiteralExpression":
                    parts.append(_string_value(inner))
                elif inner is not None and _cls(inner) in ("LongLiteralExpression", "IntLiteralExpression"):
                    parts.append(inner.getText().replace("-", "_"))
                else:
                    return None
            else:
                return None
        return "_".join(parts)
    call = _call_parts(node)
    if call is None:
        return None
    name, args = call
    lname = name.lower()
    if lname in _AGG_PREFIX:
        prefix = _AGG_PREFIX[lname]
        if prefix is None:
            return _default_name(args[0]) if args else None
        if lname in _AGG_IGNORES_ARGS or not args:
            return f"{prefix}_"
        out = f"{prefix}_{_default_name(args[0]) or ''}"
        if lname == "percentile" and len(args) > 1:
            out = f"{out}_{_collapse(args[1]).getText()}"
        return out
    if not args:
        return None
    if lname in _NAME_PRESERVING:
        return _default_name(args[0])
    if lname == "strlen":
        return f"strlen_{_default_name(args[0]) or ''}"
    if lname == "gettype":
        return f"type_{_default_name(args[0]) or ''}"
    return None


class _Namer:
    """Kusto's assignment of names: repeated names get 1, 2, ...; positional ColumnN."""

    def __init__(self, skip: Iterable[str] = ()) -> None:
        self.taken: set[str] = set()
        self.skip = set(skip)
        self.positional = 0

    def take(self, base: str | None) -> str:
        if base is None:
            self.positional += 1
            while f"Column{self.positional}" in self.skip:
                self.positional += 1
            base = f"Column{self.positional}"
        name, n = base, 0
        while name in self.taken:
            n += 1
            name = f"{base}{n}"
        self.taken.add(name)
        return name


# ---------------------------------------------------------------------------
# The resolver
# ---------------------------------------------------------------------------

_EQ_OPS = {"==", "!=", "=~", "!~", "in", "!in", "in~", "!in~", "has_any", "has_all"}
_ENUM_OPS = {"==", "!=", "=~", "!~", "in", "!in", "in~", "!in~"}
_TYPES_OF_LITERAL = {
    "StringLiteralExpression": "string",
    "LongLiteralExpression": "long",
    "IntLiteralExpression": "int",
    "RealLiteralExpression": "real",
    "DecimalLiteralExpression": "decimal",
    "BooleanLiteralExpression": "bool",
    "DateTimeLiteralExpression": "datetime",
    "TimeSpanLiteralExpression": "timespan",
    "GuidLiteralExpression": "guid",
    "DynamicLiteralExpression": "dynamic",
}
_FUNC_TYPES = {
    "tostring": "string",
    "strcat": "string",
    "tolower": "string",
    "toupper": "string",
    "toint": "int",
    "tolong": "long",
    "todouble": "real",
    "toreal": "real",
    "tobool": "bool",
    "todatetime": "datetime",
    "totimespan": "timespan",
    "todynamic": "dynamic",
    "parse_json": "dynamic",
    "count": "long",
    "dcount": "long",
    "countif": "long",
    "make_set": "dynamic",
    "make_list": "dynamic",
    "now": "datetime",
    "ago": "datetime",
}


class _Resolver:
    def __init__(
        self,
        kql: str,
        registry: SchemaRegistry,
        functions: dict[str, Any],
        watchlists: dict[str, Sequence[str]] | None,
    ) -> None:
        self.kql = kql
        self.registry = registry
        self.stored = functions
        self.watchlists = watchlists
        self.report = ResolveReport()
        self._tables: dict[str, None] = {}
        self._depth = 0
        self._fuzzy = 0

    # -- bookkeeping -----------------------------------------------------
    def problem(self, kind: str, name: str, message: str, node: Any) -> None:
        line, col = _pos(node)
        if self._fuzzy:
            p = Problem(
                kind, name, message + " (in a `union isfuzzy=true` leg, which Kusto drops)", line, col, "warning"
            )
        else:
            p = Problem(kind, name, message, line, col)
        if p not in self.report.problems:
            self.report.problems.append(p)

    def unresolved(self, construct: str, reason: str, node: Any) -> Relation:
        line, col = _pos(node)
        self.report.unresolved.append(Unresolved(construct, reason, line, col))
        return Relation.unknown()

    def construct(self, name: str) -> None:
        if name not in self.report.constructs:
            self.report.constructs.append(name)

    def read(self, col: Col) -> None:
        for table, column in col.origins:
            self.report.columns_read.setdefault(table, set()).add(column)

    # -- statements ------------------------------------------------------
    def run(self, tree: Any) -> ResolveReport:
        scope = Scope()
        last: Relation | None = None
        query = _find(tree, "Query")
        root = query[0] if query else tree
        for stmt in _rule_kids(root):
            node = _collapse(stmt)
            kind = _cls(node)
            if kind in ("LetVariableDeclaration", "LetMaterializeDeclaration"):
                self.let_variable(node, scope)
            elif kind in ("LetFunctionDeclaration", "LetViewDeclaration"):
                name = _name_text(node.Name) or ""
                scope.functions[name] = LetFunction(name, self.params(node.ParameterList), node.Body, scope.child())
            elif kind == "LetStatement":
                self.unresolved("let", "unmodelled let form", node)
            elif kind in ("SetStatement", "DeclareQueryParametersStatement", "AliasDatabaseStatement"):
                if kind == "DeclareQueryParametersStatement":
                    for p in _find(node, "DeclareQueryParametersStatementParameter"):
                        scope.scalars[_name_text(p) or ""] = None
                continue
            elif kind in ("RestrictAccessStatement", "DeclarePatternStatement"):
                self.unresolved(kind, "statement not modelled", node)
            else:
                last = self.tabular(node, scope)
        self.report.tables = list(self._tables)
        if last is not None:
            self.report.output = [OutputColumn(c.name, c.type, c.origins) for c in last.cols.values()]
            self.report.output_open = last.open
        return self.report

    def params(self, plist: Any) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        if plist is None:
            return out
        for p in _rule_kids(plist):
            p = _collapse(p)
            if _cls(p) == "ScalarParameter":
                out.append((_name_text(p.Name) or "", False))
            elif _cls(p) == "TabularParameter":
                out.append((_name_text(p.Name) or "", True))
        return out

    def let_variable(self, node: Any, scope: Scope) -> None:
        name = _name_text(node.Name) or ""
        expr = node.Expression
        if _cls(node) == "LetMaterializeDeclaration" or self.is_tabular(expr, scope):
            scope.tabular[name] = self.tabular(expr, scope)
            scope.scalars.pop(name, None)
        else:
            self.expr(expr, Relation.unknown(), scope)
            scope.scalars[name] = self.static_value(expr, scope)
            scope.tabular.pop(name, None)

    def static_value(self, node: Any, scope: Scope) -> Any:
        """A let's value when it is a literal: timespan, string, or list of strings."""
        node = _collapse(node)
        kind = _cls(node)
        if kind == "TimeSpanLiteralExpression":
            return parse_timespan(node.getText())
        if kind == "StringLiteralExpression":
            return _string_value(node)
        if kind == "DynamicLiteralExpression":
            arr = _find(node, "JsonArray")
            if arr:
                return [s.getText()[1:-1] for s in _find(arr[0], "JsonString")]
            return None
        ref = _simple_ref(node)
        if ref is not None and ref in scope.scalars:
            return scope.scalars[ref]
        call = _call_parts(node)
        if call and call[0].lower() in ("totimespan", "timespan") and call[1]:
            return self.static_value(call[1][0], scope)
        return None

    # -- is this expression a table? ----------------------------------------
    def is_tabular(self, node: Any, scope: Scope) -> bool:
        node = _collapse(node)
        kind = _cls(node)
        if kind == "PipeExpression":
            return True
        if kind in (
            "UnionOperator",
            "PrintOperator",
            "RangeExpression",
            "DataTableExpression",
            "ExternalDataExpression",
            "FindOperator",
            "SearchOperator",
            "EvaluateOperator",
            "ContextualDataTableExpression",
            "MaterializedViewCombineExpression",
            "ToTableExpression",
        ):
            return True
        if kind in ("ParenthesizedExpression", "BeforePipeExpression", "BeforeOrAfterPipeOperator"):
            kids = _rule_kids(node)
            return len(kids) == 1 and self.is_tabular(kids[0], scope)
        ref = _simple_ref(node)
        if ref is not None:
            if ref in scope.scalars:
                return False
            return ref in scope.tabular or ref in self.registry
        call = _call_parts(node)
        if call is not None:
            name = call[0]
            if name in scope.functions:
                return self.function_is_tabular(scope.functions[name])
            if name in self.stored:
                return True
            return name in ("_GetWatchlist", "materialize", "table", "view", "externaldata", "datatable", "union")
        return False

    def function_is_tabular(self, fn: LetFunction) -> bool:
        kids = _rule_kids(fn.body)
        if not kids:
            return False
        scope = fn.scope.child()
        for name, is_tab in fn.params:
            if is_tab:
                scope.tabular[name] = Relation.unknown()
            else:
                scope.scalars[name] = None
        return self.is_tabular(kids[-1], scope) if _cls(_collapse(kids[-1])) != "LetStatement" else False

    # -- tabular expressions ---------------------------------------------------
    def tabular(self, node: Any, scope: Scope) -> Relation:
        self._depth += 1
        try:
            if self._depth > 60:
                return self.unresolved("nesting", "query nested too deeply to follow", node)
            return self._tabular(_collapse(node), scope)
        finally:
            self._depth -= 1

    def _tabular(self, node: Any, scope: Scope) -> Relation:
        kind = _cls(node)
        if kind == "PipeExpression":
            kids = _rule_kids(node)
            if _cls(_collapse(kids[0])) == "ParenthesizedExpression":
                self.construct("parenthesised-source")
            rel = self.tabular(kids[0], scope)
            for piped in kids[1:]:
                op = _collapse(piped.Operator) if hasattr(piped, "Operator") and piped.Operator else _collapse(piped)
                rel = self.operator(op, rel, scope)
            return rel
        if kind == "ParenthesizedExpression":
            kids = _rule_kids(node)
            return self.tabular(kids[0], scope) if kids else Relation.unknown()
        ref = _simple_ref(node)
        if ref is not None:
            return self.source_name(ref, node, scope)
        if kind == "UnionOperator":
            return self.union(node, None, scope)
        if kind == "DataTableExpression":
            return self.row_schema(node.Schema, "datatable")
        if kind == "ExternalDataExpression":
            self.construct("externaldata")
            return self.row_schema(node.Schema, "externaldata")
        if kind == "PrintOperator":
            out = Relation()
            for i, ne in enumerate(self.named_exprs(node)):
                info = self.expr(self.value_of(ne), Relation(), scope)
                for n in self.name_clause(ne) or [f"print_{i}"]:
                    out.cols[n] = Col(n, info.type)
            return out
        if kind == "RangeExpression":
            name = _name_text(node.Expression) or "Column1"
            for part in (node.FromExpression, node.ToExpression, node.StepExpression):
                if part is not None:
                    self.expr(part, Relation.unknown(), scope)
            return Relation({name: Col(name, None)})
        if kind == "NamedFunctionCallExpression":
            return self.call_source(node, scope)
        if kind == "EvaluateOperator":
            return self.unresolved("evaluate", "plugin output not modelled", node)
        if kind in ("FindOperator", "SearchOperator"):
            return self.unresolved(kind.removesuffix("Operator").lower(), "operator not modelled", node)
        if kind == "FunctionCallOrPathPathExpression":
            return self.unresolved("qualified-source", "cluster()/database() references are not resolved", node)
        if kind == "ToTableExpression":
            kids = _rule_kids(node)
            return self.tabular(kids[-1], scope) if kids else Relation.unknown()
        return self.unresolved(kind, "source not modelled", node)

    def row_schema(self, schema: Any, what: str) -> Relation:
        cols: dict[str, Col] = {}
        if schema is None:
            return Relation.unknown()
        for decl in _find(schema, "RowSchemaColumnDeclaration"):
            name = _name_text(decl.Name) or ""
            cols[name] = Col(name, decl.Type.getText().lower() if decl.Type is not None else None)
        return Relation(cols)

    def table_relation(self, name: str) -> Relation:
        schema = self.registry[name]
        self._tables.setdefault(name, None)
        return Relation({c.name: Col(c.name, c.type, frozenset({(name, c.name)})) for c in schema.columns})

    def source_name(self, name: str, node: Any, scope: Scope) -> Relation:
        if name in scope.tabular:
            return scope.tabular[name].copy()
        if name in self.registry:
            return self.table_relation(name)
        if name in scope.functions or name in self.stored:
            return self.invoke(name, [], node, scope)
        if name in scope.scalars:
            return self.unresolved(name, "a scalar used as a table", node)
        self.problem("unknown-table", name, f"unknown table {name!r}", node)
        return Relation.unknown()

    def call_source(self, node: Any, scope: Scope) -> Relation:
        name, args = _call_parts(node) or ("", [])
        if name == "_GetWatchlist":
            self.report.functions_called.append(name)
            alias = None
            if args and _cls(_collapse(args[0])) == "StringLiteralExpression":
                alias = _string_value(_collapse(args[0]))
            if self.watchlists is not None and alias is not None:
                if alias not in self.watchlists:
                    self.problem("unknown-table", alias, f"unknown watchlist {alias!r}", args[0])
                    return Relation.unknown()
                names = list(WATCHLIST_COLUMNS) + [c for c in self.watchlists[alias] if c not in WATCHLIST_COLUMNS]
                return Relation({n: Col(n, None) for n in names})
            return self.unresolved("_GetWatchlist", "no watchlists configured", node)
        if name in ("materialize", "view") and args:
            return self.tabular(args[0], scope)
        if name == "table" and args and _cls(_collapse(args[0])) == "StringLiteralExpression":
            return self.source_name(_string_value(_collapse(args[0])), args[0], scope)
        if name in scope.functions or name in self.stored:
            return self.invoke(name, args, node, scope)
        self.report.functions_called.append(name)
        self.problem("unknown-function", name, f"unknown function {name!r} (not a table, let or stored function)", node)
        return Relation.unknown()

    def invoke(self, name: str, args: list[Any], node: Any, scope: Scope) -> Relation:
        self.report.functions_called.append(name)
        named = [a for a in args if _cls(_collapse(a)) == "NamedExpression"]
        if named:
            self.construct("named-arguments")
        for a in args:
            inner = _collapse(a)
            if _cls(inner) == "NamedExpression":
                inner = inner.Expression
            if self.is_tabular(inner, scope):
                self.tabular(inner, scope)
            else:
                self.expr(inner, Relation.unknown(), scope)
        if name in scope.functions:
            fn = scope.functions[name]
        else:
            fn = self.stored_function(name)
            if fn is None:
                return self.unresolved(name, "stored function not parsed", node)
        if self._depth > 30:
            return self.unresolved(name, "recursive function", node)
        inner_scope = fn.scope.child()
        for pname, is_tab in fn.params:
            if is_tab:
                inner_scope.tabular[pname] = Relation.unknown()
            else:
                inner_scope.scalars[pname] = None
                inner_scope.tabular.pop(pname, None)
        return self.body(fn.body, inner_scope, name)

    def stored_function(self, name: str) -> LetFunction | None:
        decl = self.stored.get(name)
        if decl is None:
            return None
        return LetFunction(name, self.params(decl.ParameterList), decl.Body, Scope())

    def body(self, body: Any, scope: Scope, name: str) -> Relation:
        # Positions inside a stored function's body are not the caller's: collect
        # nothing but the shape, so a problem there is never reported at a bogus place.
        outer = self.report
        stored = name in self.stored and name not in scope.functions
        if stored:
            self.report = ResolveReport()
        try:
            last: Relation | None = None
            for stmt in _rule_kids(body):
                node = _collapse(stmt)
                kind = _cls(node)
                if kind in ("LetVariableDeclaration", "LetMaterializeDeclaration"):
                    self.let_variable(node, scope)
                elif kind in ("LetFunctionDeclaration", "LetViewDeclaration"):
                    fname = _name_text(node.Name) or ""
                    scope.functions[fname] = LetFunction(
                        fname, self.params(node.ParameterList), node.Body, scope.child()
                    )
                elif kind in ("LetFunctionBodyStatement", "LetStatement"):
                    for sub in _rule_kids(node):
                        s = _collapse(sub)
                        if _cls(s) in ("LetVariableDeclaration", "LetMaterializeDeclaration"):
                            self.let_variable(s, scope)
                else:
                    last = self.tabular(node, scope) if self.is_tabular(node, scope) else None
            inner = self.report
        finally:
            self.report = outer
        if stored:
            # Tables a stored function reads are still read by the query.
            for t in inner.tables:
                self._tables.setdefault(t, None)
            for t, cols in inner.columns_read.items():
                self.report.columns_read.setdefault(t, set()).update(cols)
            if inner.unresolved or inner.problems:
                return self.unresolved(name, "stored function body not fully resolved", body)
        if last is None:
            return self.unresolved(name, "function does not return a table", body)
        return last

    # -- operators ---------------------------------------------------------------
    def operator(self, op: Any, rel: Relation, scope: Scope) -> Relation:
        kind = _cls(op)
        handler = getattr(self, "op_" + kind, None)
        if handler is None:
            return self.unresolved(kind.removesuffix("Operator").lower(), "operator not modelled", op)
        return handler(op, rel, scope)

    def op_WhereOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        self.expr(op.Predicate, rel, scope)
        return rel

    def op_ExtendOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        return self.extend_like(op, rel, scope, project=False)

    def op_ProjectOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        return self.extend_like(op, rel, scope, project=True)

    def op_SerializeOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        return self.extend_like(op, rel, scope, project=False)

    def named_exprs(self, op: Any) -> list[Any]:
        return [c for c in _rule_kids(op) if _cls(c) in ("NamedExpression",)] or [
            c
            for c in _rule_kids(op)
            if _cls(c) not in ("StrictQueryOperatorParameter", "RelaxedQueryOperatorParameter")
        ]

    def name_clause(self, ne: Any) -> list[str] | None:
        ne = _collapse(ne)
        if _cls(ne) != "NamedExpression" or ne.Name is None:
            return None
        clause = ne.Name
        if clause.NameList is not None:
            return [_name_text(n) or "" for n in _rule_kids(clause.NameList)]
        return [_name_text(clause.Name) or ""]

    def value_of(self, ne: Any) -> Any:
        """The expression of `name = expr`, or the node itself (uncollapsed, so a bare
        column reference is still recognisable as one)."""
        c = _collapse(ne)
        return c.Expression if _cls(c) == "NamedExpression" else ne

    def extend_like(self, op: Any, rel: Relation, scope: Scope, project: bool) -> Relation:
        out = Relation({}, rel.open) if project else rel.copy()
        namer = _Namer(skip=() if project else rel.cols)
        for ne in self.named_exprs(op):
            value = self.value_of(ne)
            names = self.name_clause(ne)
            info = self.expr(value, rel, scope)
            if names is None:
                base = _default_name(value)
                names = [namer.take(base) if project else (base or namer.take(None))]
            for n in names:
                origins = info.origins if info.ref else frozenset()
                out.cols[n] = Col(n, info.type, origins)
        return out

    def op_ProjectAwayOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        out = rel.copy()
        for pattern, node in self.name_patterns(op):
            hits = [n for n in out.cols if fnmatch.fnmatchcase(n, pattern)]
            if not hits and "*" not in pattern and not rel.open:
                self.problem("unknown-column", pattern, f"unknown column {pattern!r}", node)
            for n in hits:
                del out.cols[n]
        return out

    def op_ProjectKeepOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        keep: set[str] = set()
        for pattern, node in self.name_patterns(op):
            hits = [n for n in rel.cols if fnmatch.fnmatchcase(n, pattern)]
            if not hits and "*" not in pattern and not rel.open:
                self.problem("unknown-column", pattern, f"unknown column {pattern!r}", node)
            keep.update(hits)
            for n in hits:
                self.read(rel.cols[n])
        return Relation({n: c for n, c in rel.cols.items() if n in keep}, rel.open)

    def op_ProjectReorderOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        return rel

    def name_patterns(self, op: Any) -> list[tuple[str, Any]]:
        out = []
        for child in _rule_kids(op):
            c = _collapse(child)
            if _cls(c) in ("WildcardedName", "WildcardedNameReference"):
                out.append((c.getText(), c))
            else:
                n = _name_text(c)
                if n is not None:
                    out.append((n, c))
        return out

    def op_ProjectRenameOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        out = Relation({}, rel.open)
        renames: dict[str, str] = {}
        for ne in self.named_exprs(op):
            names = self.name_clause(ne) or []
            old = _simple_ref(self.value_of(ne))
            if old is None or not names:
                return self.unresolved("project-rename", "unexpected rename form", op)
            if old not in rel.cols and not rel.open:
                self.problem("unknown-column", old, f"unknown column {old!r}", self.value_of(ne))
            renames[old] = names[0]
        for n, c in rel.cols.items():
            new = renames.get(n, n)
            out.cols[new] = Col(new, c.type, c.origins)
        for old, new in renames.items():
            if old not in rel.cols:
                out.cols[new] = Col(new, None)
        return out

    def op_SummarizeOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        out = Relation()
        by = op.ByClause
        by_items = [c for c in _rule_kids(by) if _cls(c) == "NamedExpression"] if by is not None else []
        if by is not None and not by_items:
            by_items = [c for c in _rule_kids(by)]
        namer = _Namer()
        for ne in by_items:
            value = self.value_of(ne)
            info = self.expr(value, rel, scope)
            names = self.name_clause(ne) or [namer.take(_default_name(value))]
            for n in names:
                namer.taken.add(n)
                out.cols[n] = Col(n, info.type, info.origins if info.ref else frozenset())
        for ne in [c for c in _rule_kids(op) if _cls(c) == "NamedExpression" and c is not by]:
            value = self.value_of(ne)
            names = self.name_clause(ne)
            call = _call_parts(value)
            fname = call[0].lower() if call else ""
            if fname in ("arg_max", "arg_min") and call is not None:
                args = call[1]
                infos = [self.expr(a, rel, scope) for a in args]
                star = any(_cls(_collapse(a)) == "StarExpression" for a in args)
                if star:
                    if names:
                        out.open = True
                    first = _default_name(args[0]) if args else None
                    if first is None:
                        out.open = True
                    elif first not in out.cols:
                        out.cols[first] = rel.cols.get(first, Col(first, infos[0].type))
                    for n, c in rel.cols.items():
                        if n not in out.cols:
                            out.cols[n] = c
                    out.open = out.open or rel.open
                    continue
                gen = [(_default_name(a), i) for a, i in zip(args, infos, strict=False)]
                if names and len(names) == len(gen):
                    gen = [(n, i) for n, (_, i) in zip(names, gen, strict=False)]
                for n, i in gen:
                    if n is None:
                        out.open = True
                        continue
                    out.cols[n] = Col(n, i.type, i.origins if i.ref else frozenset())
                continue
            info = self.expr(value, rel, scope)
            if names is None:
                if fname in _AGG_UNCERTAIN or fname in ("percentiles", "percentiles_array"):
                    out.open = True
                    continue
                names = [namer.take(_default_name(value))]
            for n in names:
                namer.taken.add(n)
                out.cols[n] = Col(n, info.type or _FUNC_TYPES.get(fname), frozenset())
        return out

    def op_DistinctOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        if op.Star is not None:
            return rel
        return self.extend_like(op.ColumnList, rel, scope, project=True)

    def op_CountOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        name = "Count"
        for p in _rule_kids(op):
            if _cls(p) == "CountOperatorAsClause":
                name = _name_text(p) or name
        return Relation({name: Col(name, "long")})

    def op_GetSchemaOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        names = ("ColumnName", "ColumnOrdinal", "DataType", "ColumnType")
        return Relation({n: Col(n, None) for n in names})

    def _passthrough(self, op: Any, rel: Relation, scope: Scope) -> Relation:
        for child in _rule_kids(op):
            if _cls(child) not in ("StrictQueryOperatorParameter", "RelaxedQueryOperatorParameter"):
                self.expr(child, rel, scope)
        return rel

    op_TakeOperator = _passthrough
    op_SortOperator = _passthrough
    op_TopOperator = _passthrough
    op_SampleOperator = _passthrough

    def op_RenderOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        return rel

    def op_AsOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        if op.Name is not None:
            scope.tabular[_name_text(op.Name) or ""] = rel.copy()
        return rel

    def op_SampleDistinctOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        info = self.expr(op.OfExpression, rel, scope) if op.OfExpression is not None else None
        name = _default_name(op.OfExpression) if op.OfExpression is not None else None
        if name is None:
            return Relation.unknown()
        return Relation({name: Col(name, info.type if info else None)})

    def op_MvexpandOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        out = rel.copy()
        for p in _rule_kids(op):
            if _cls(p) == "StrictQueryOperatorParameter" and p.getText().lower().startswith("with_itemindex"):
                n = _name_text(p)
                if n:
                    out.cols[n] = Col(n, "long")
        for target in _rule_kids(op):
            if _cls(target) != "MvexpandOperatorExpression":
                continue
            ne = target.Expression
            value = self.value_of(ne)
            info = self.expr(value, rel, scope)
            names = self.name_clause(ne) or [_default_name(value)]
            to_type = None
            if target.ToClause is not None:
                m = re.search(r"typeof\((\w+)\)", target.ToClause.getText())
                to_type = m.group(1).lower() if m else None
            for n in names:
                if n is None:
                    out.open = True
                    continue
                out.cols[n] = Col(n, to_type or "dynamic", info.origins if info.ref else frozenset())
        return out

    def op_MvapplyOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        inner = rel.copy()
        for target in _rule_kids(op):
            if _cls(target) != "MvapplyOperatorExpression":
                continue
            ne = target.Expression
            value = self.value_of(ne)
            info = self.expr(value, rel, scope)
            for n in self.name_clause(ne) or [_default_name(value)]:
                if n is None:
                    inner.open = True
                else:
                    inner.cols[n] = Col(n, "dynamic", info.origins if info.ref else frozenset())
        sub = op.OnExpression
        if sub is None:
            return self.unresolved("mv-apply", "no subquery", op)
        result = inner
        for piped in _rule_kids(_collapse(sub)):
            c = _collapse(piped)
            if _cls(c) == "PipedOperator":
                c = _collapse(c.Operator)
            result = self.operator(c, result, scope)
        # mv-apply's subquery sees the row's columns; what it returns joins them back.
        out = rel.copy()
        out.cols.update(result.cols)
        out.open = out.open or result.open
        return out

    def parse_like(self, op: Any, rel: Relation, scope: Scope) -> Relation:
        self.expr(op.Expression, rel, scope)
        out = rel.copy()
        for nt in _find(op.Pattern, "ParseOperatorNameAndOptionalType") if op.Pattern is not None else []:
            n = _name_text(nt.Name) or ""
            out.cols[n] = Col(n, nt.Type.getText().lower() if nt.Type is not None else "string")
        return out

    op_ParseOperator = parse_like
    op_ParseWhereOperator = parse_like

    def op_EvaluateOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        call = _call_parts(op.PlugInCall) if op.PlugInCall is not None else None
        if call and call[0] == "bag_unpack" and call[1]:
            info = self.expr(call[1][0], rel, scope)
            out = rel.copy()
            ref = _simple_ref(call[1][0])
            if ref and ref in out.cols and info.ref:
                del out.cols[ref]
            out.open = True
            return out
        return self.unresolved("evaluate", f"plugin {call[0] if call else '?'} output not modelled", op)

    def op_MakeSeriesOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        out = Relation()
        if op.ByClause is not None:
            for ne in _rule_kids(op.ByClause):
                value = self.value_of(ne)
                info = self.expr(value, rel, scope)
                for n in self.name_clause(ne) or [_default_name(value)]:
                    if n is None:
                        out.open = True
                    else:
                        out.cols[n] = Col(n, info.type, info.origins if info.ref else frozenset())
        if op.OnClause is not None:
            kids = _rule_kids(op.OnClause)
            if kids:
                self.expr(kids[0], rel, scope)
                n = _default_name(kids[0])
                if n:
                    out.cols[n] = Col(n, "dynamic")
        for part in (op.InRangeClause, op.FromToStepClause):
            if part is not None:
                for k in _rule_kids(part):
                    self.expr(k, rel, scope)
        for agg in _rule_kids(op):
            if _cls(agg) != "MakeSeriesOperatorAggregation":
                continue
            ne = _collapse(agg.Expression)
            value = self.value_of(ne)
            self.expr(value, rel, scope)
            for n in self.name_clause(ne) or [_default_name(value)]:
                if n is None:
                    out.open = True
                else:
                    out.cols[n] = Col(n, "dynamic")
        return out

    def join_keys(self, clause: Any, left: Relation, right: Relation, scope: Scope) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        if clause is None:
            return keys
        for item in _rule_kids(clause):
            self._join_terms(_collapse(item), left, right, keys)
        return keys

    def _join_terms(self, node: Any, left: Relation, right: Relation, keys: list[tuple[str, str]]) -> None:
        kind = _cls(node)
        ref = _simple_ref(node)
        if ref is not None:
            self.check(ref, left, node, "left side of join")
            self.check(ref, right, node, "right side of join")
            keys.append((ref, ref))
            return
        if kind == "FunctionCallOrPathPathExpression":
            kids = _rule_kids(node)
            side = _name_text(kids[0]) if kids else None
            if side in ("$left", "$right") and len(kids) == 2:
                col = _name_text(kids[1]) or ""
                rel = left if side == "$left" else right
                name_node = _find(kids[1], "IdentifierOrKeywordOrEscapedName") or [kids[1]]
                self.check(col, rel, name_node[0], f"{side} side of join")
                keys.append((col, "") if side == "$left" else ("", col))
            return
        for child in _rule_kids(node):
            self._join_terms(_collapse(child), left, right, keys)

    def check(self, name: str, rel: Relation, node: Any, where: str) -> None:
        col = rel.cols.get(name)
        if col is not None:
            self.read(col)
        elif not rel.open:
            self.problem("unknown-column", name, f"unknown column {name!r} on the {where}", node)

    def kind_param(self, op: Any, default: str) -> str:
        for p in _rule_kids(op):
            if _cls(p) == "RelaxedQueryOperatorParameter" and p.getText().lower().startswith("kind"):
                return p.getText().split("=", 1)[1].lower()
        return default

    def op_JoinOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        right = self.tabular(op.Table, scope)
        kind = self.kind_param(op, "innerunique")
        self.join_keys(op.OnClause, rel, right, scope)
        if op.WhereClause is not None:
            return self.unresolved("join-where", "join ... where not modelled", op.WhereClause)
        if kind in ("leftsemi", "leftanti", "leftantisemi", "anti"):
            return rel.copy()
        if kind in ("rightsemi", "rightanti", "rightantisemi"):
            return right.copy()
        return _merged(rel, right, skip=set())

    def op_LookupOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        right = self.tabular(op.Table, scope)
        keys = self.join_keys(op.OnClause, rel, right, scope)
        return _merged(rel, right, skip={r for _, r in keys})

    def op_UnionOperator(self, op: Any, rel: Relation, scope: Scope) -> Relation:  # noqa: N802
        return self.union(op, rel, scope)

    def union(self, op: Any, first: Relation | None, scope: Scope) -> Relation:
        params = {
            p.getText().split("=", 1)[0].lower(): p.getText().split("=", 1)[1]
            for p in _rule_kids(op)
            if _cls(p) == "RelaxedQueryOperatorParameter" and "=" in p.getText()
        }
        fuzzy = params.get("isfuzzy", "").lower() == "true"
        branches: list[Relation] = [first] if first is not None else []
        for child in _rule_kids(op):
            c = _collapse(child)
            if _cls(c) == "RelaxedQueryOperatorParameter":
                continue
            if (
                _cls(c) in ("WildcardedName", "WildcardedNameReference")
                or "*" in c.getText()
                and _simple_ref(c) is None
            ):
                pattern = c.getText()
                matched = [n for n in self.registry.names() if fnmatch.fnmatchcase(n, pattern)]
                matched += [n for n in scope.tabular if fnmatch.fnmatchcase(n, pattern)]
                if not matched:
                    branches.append(Relation.unknown())
                for n in matched:
                    branches.append(self.source_name(n, c, scope))
                continue
            ref = _simple_ref(c)
            if ref is not None and fuzzy and ref not in scope.tabular and ref not in self.registry:
                if ref not in scope.functions and ref not in self.stored:
                    continue
            self._fuzzy += fuzzy
            try:
                branches.append(self.tabular(c, scope))
            finally:
                self._fuzzy -= fuzzy
        out = Relation()
        if params.get("kind", "outer").lower() == "inner" and branches:
            common = [n for n in branches[0].cols if all(n in b.cols for b in branches[1:])]
            out.cols = {n: branches[0].cols[n] for n in common}
            out.open = any(b.open for b in branches)
            return out
        if "withsource" in params:
            n = params["withsource"].strip()
            out.cols[n] = Col(n, "string")
        for b in branches:
            for n, c in b.cols.items():
                if n not in out.cols:
                    out.cols[n] = c
                elif out.cols[n].origins != c.origins:
                    prev = out.cols[n]
                    out.cols[n] = Col(n, prev.type if prev.type == c.type else None, prev.origins | c.origins)
            out.open = out.open or b.open
        if not branches:
            out.open = True
        return out

    # -- scalar expressions --------------------------------------------------------
    def expr(self, node: Any, rel: Relation, scope: Scope) -> _Info:
        """Check every name an expression reads; return what it is, as far as known."""
        if node is None:
            return _Info()
        is_ref = False
        while True:
            if _cls(node) in ("SimpleNameReference", "NameReferenceWithDataScope"):
                is_ref = True
            kids = _kids(node)
            if len(kids) == 1 and _is_rule(kids[0]):
                node = kids[0]
            else:
                break
        kind = _cls(node)
        if is_ref:
            return self.name_ref(_name_text(node) or "", node, rel, scope)
        if kind in _TYPES_OF_LITERAL:
            return _Info(type=_TYPES_OF_LITERAL[kind])
        if kind in ("UnsignedLiteralExpression", "LiteralExpression", "TypeLiteralExpression"):
            return _Info()
        if kind == "StarExpression":
            return _Info()
        if kind == "PipeExpression" or kind == "ToScalarExpression" or kind == "ToTableExpression":
            kids = _rule_kids(node)
            if kind != "PipeExpression" and kids:
                self.tabular(kids[-1], scope)
            else:
                self.tabular(node, scope)
            return _Info()
        if kind == "FunctionCallOrPathPathExpression":
            kids = _rule_kids(node)
            base = self.expr(kids[0], rel, scope) if kids else _Info()
            for opnode in kids[1:]:
                o = _collapse(opnode)
                if _cls(o) == "FunctionCallOrPathElementOperation":
                    for k in _rule_kids(o):
                        self.expr(k, rel, scope)
                elif _cls(o) != "FunctionCallOrPathPathOperation":
                    for k in _rule_kids(o):
                        self.expr(k, rel, scope)
            return _Info(type="dynamic" if base.type == "dynamic" else None)
        if kind in ("NamedFunctionCallExpression", "CountExpression"):
            name, args = _call_parts(node) or ("", [])
            return self.call(name, args, node, rel, scope)
        if kind == "EqualityExpression":
            return self.equality(node, rel, scope)
        if kind == "NamedExpression":
            return self.expr(node.Expression, rel, scope)
        for child in _rule_kids(node):
            self.expr(child, rel, scope)
        return _Info(type="bool" if kind in ("LogicalAndExpression", "LogicalOrExpression") else None)

    def name_ref(self, name: str, node: Any, rel: Relation, scope: Scope) -> _Info:
        col = rel.cols.get(name)
        if col is not None:
            self.read(col)
            return _Info(type=col.type, origins=col.origins, ref=True, name=name)
        if name in scope.scalars:
            return _Info(value=scope.scalars[name])
        if name in scope.tabular or name in self.registry or name in scope.functions or name in self.stored:
            if name in self.registry:
                self._tables.setdefault(name, None)
            return _Info()
        if name in ("$left", "$right"):
            return _Info()
        if not rel.open:
            self.problem("unknown-column", name, f"unknown column {name!r}", node)
        return _Info()

    def call(self, name: str, args: list[Any], node: Any, rel: Relation, scope: Scope) -> _Info:
        lname = name.lower()
        if lname == "ago" and len(args) == 1:
            value = self.static_value(args[0], scope)
            if isinstance(value, timedelta):
                line, col = _pos(node)
                self.report.ago_windows.append(AgoWindow(value, line, col))
        if name in scope.functions or name in self.stored:
            # A user's scalar function: its arguments are read here; the body is its own scope.
            for a in args:
                self.expr(a, rel, scope)
            return _Info()
        if lname in ("column_ifexists", "columnifexists"):
            for a in args[1:]:
                self.expr(a, rel, scope)
            return _Info()
        infos = [self.expr(a, rel, scope) for a in args]
        if lname in ("coalesce", "iff", "iif", "case", "min_of", "max_of") and infos:
            types = {i.type for i in infos[1:] if i.type}
            return _Info(type=types.pop() if len(types) == 1 else None)
        return _Info(type=_FUNC_TYPES.get(lname))

    def equality(self, node: Any, rel: Relation, scope: Scope) -> _Info:
        left = node.Left
        tail = node.Tail
        linfo = self.expr(left, rel, scope)
        if tail is None:
            return _Info(type="bool")
        tail_c = _collapse(tail)
        op_tokens = [t for t in _tokens(tail_c)]
        op = "".join(t for t in op_tokens if t not in ("(", ")", ",")).lower()
        items = [c for c in _rule_kids(tail_c)]
        literals: list[tuple[str, Any]] = []
        for it in items:
            c = _collapse(it)
            info = self.expr(it, rel, scope)
            if _cls(c) == "StringLiteralExpression":
                literals.append((_string_value(c), c))
            elif isinstance(info.value, str):
                literals.append((info.value, c))
            elif isinstance(info.value, list):
                literals.extend((v, c) for v in info.value if isinstance(v, str))
        if op in _ENUM_OPS and linfo.ref:
            for table, column in linfo.origins:
                for value, lit in literals:
                    line, col = _pos(lit)
                    self.report.comparisons.append(Comparison(table, column, op, value, line, col))
        return _Info(type="bool")


@dataclass(frozen=True)
class _Info:
    type: str | None = None
    origins: frozenset[tuple[str, str]] = frozenset()
    ref: bool = False
    name: str | None = None
    value: Any = None


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _parse(kql: str) -> Any:
    """Two-stage ANTLR parse: SLL (fast) first, full LL with diagnostics only if SLL fails.

    An SLL parse that succeeds is the LL parse; one that fails may still be valid KQL, so
    the failure is only believed from duckdb-kql's own (LL) parser.
    """
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.atn.PredictionMode import PredictionMode
    from antlr4.error.ErrorStrategy import BailErrorStrategy
    from duckdb_kql._antlr.KqlLexer import KqlLexer
    from duckdb_kql._antlr.KqlParser import KqlParser
    from duckdb_kql.control import is_control_command

    if not is_control_command(kql):
        lexer = KqlLexer(InputStream(kql))
        lexer.removeErrorListeners()
        parser = KqlParser(CommonTokenStream(lexer))
        parser.removeErrorListeners()
        parser._interp.predictionMode = PredictionMode.SLL
        parser._errHandler = BailErrorStrategy()
        try:
            return duckdb_kql.ParseResult(parser.top(), [], kql)
        except Exception:  # noqa: S110 - ParseCancellationException, or a lexer error: fall back to LL
            pass
    return duckdb_kql.parse(kql)


def _stored_declarations(functions: Sequence[str] | None) -> dict[str, Any]:
    if not functions:
        return {}
    from duckdb_kql.stored_functions import parse_functions

    parsed = parse_functions(list(functions)) or {}
    out: dict[str, Any] = {}
    for name, fn in parsed.get(None, {}).items():
        decl = fn.declaration
        decls = [decl] if _cls(decl) in ("LetFunctionDeclaration",) else _find(decl, "LetFunctionDeclaration")
        if decls:
            out[name] = decls[0]
    return out


@lru_cache(maxsize=8)
def _stored_cached(functions: tuple[str, ...]) -> dict[str, Any]:
    return _stored_declarations(functions)


def resolve(
    kql: str,
    registry: SchemaRegistry | None = None,
    functions: Sequence[str] | None = None,
    watchlists: dict[str, Sequence[str]] | None = None,
) -> ResolveReport:
    """Resolve every table and column *kql* reads against *registry*.

    *functions* are stored function definitions (duckdb-kql's `functions=` form, e.g.
    the ASIM parsers); *watchlists* maps a `_GetWatchlist` alias to its CSV columns
    (None: watchlists unknown, so their columns are not checked). A syntax error is
    reported as a single `syntax` problem with its position. Never raises on KQL input.
    """
    registry = registry or SchemaRegistry()
    try:
        tree = _parse(kql).tree
    except duckdb_kql.KqlSyntaxError as exc:
        report = ResolveReport()
        d = exc.diagnostics[0] if getattr(exc, "diagnostics", None) else None
        line, col = (d.span.line, d.span.column + 1) if d else (1, 1)
        msg = d.message if d else str(exc)
        report.problems.append(Problem("syntax", "", f"syntax error: {msg}", line, col))
        return report
    stored = _stored_cached(tuple(functions or ()))
    if tree is None:
        report = ResolveReport()
        report.unresolved.append(Unresolved("control-command", "control commands are not queries", 1, 1))
        return report
    return _Resolver(kql, registry, stored, watchlists).run(tree)


def _merged(left: Relation, right: Relation, *, skip: set[str]) -> Relation:
    """Left's columns, then right's (minus `skip`), renamed Name1, Name2... on collision, as Kusto does."""
    out = left.copy()
    for n, c in right.cols.items():
        if n in skip:
            continue
        name, i = n, 0
        while name in out.cols:
            i += 1
            name = f"{n}{i}"
        out.cols[name] = Col(name, c.type, c.origins)
    out.open = left.open or right.open
    return out
