"""Exactly equivalent forms of a rule for an engine that lacks some KQL syntax (duckdb-kql 1.1.2).

The rule's own text is what is analysed, reported and compared with expectations. The embedded
engine may run another text, made here, when the difference is syntax the engine lacks and never
meaning. Every rewrite is one of the named desugarings below (`DESUGARINGS`), found on Microsoft's
syntax tree (harness.kql.analyzer with tree=True: node types, spans, symbols, result types; no
regular expression reads the query), and applied as edits of exact text spans. After each pass the
desugared text is analysed again and must bind without new errors to the very same result schema
(names, types, order) as the original, with the same binding errors if the rule has any (a rule
with a syntax error is left as it is); if not, that pass is declined (`Desugared.declined` says why)
and the engine runs the text as it stood before it, at worst the rule's own.

Desugarings (each exact; each has tests that run both forms on the engine where both run):

- `outer parentheses`: `(T | where ...) | op` -> `T | where ... | op`. A pipeline is left-associative,
  so the parentheses around a pipeline's source change nothing. Each bracket becomes a space, so
  every other position in the text stays where it was.
- `named arguments`: `F(b = 2, a = 1)` for a stored function F whose signature is declared ->
  `F(1, 2)`, the declared defaults written out for the parameters skipped before the last one given.
  Defaults must be literals (nothing in them can resolve differently at the call site).
- `deprecated alias`: `parsejson` -> `parse_json`, `extractjson` -> `extract_json`, `arraylength` ->
  `array_length`, `columnifexists` -> `column_ifexists` (documented as deprecated aliases of the same
  function); `makeset(x)` -> `make_set(x, 128)` and `makelist(x)` -> `make_list(x, 128)` (the
  deprecated versions' documented default maxSize is 128, the current ones' 1048576).
- `project-reorder`: `| project-reorder ...` -> `| project <every output column, in the order the
  analyzer computes>`; refused when the analyzer cannot list the columns (an open schema).
- `mv-expand name`: `mv-expand todynamic(C)` (or parse_json / parsejson of a column C) ->
  `mv-expand C = todynamic(C)`: Kusto names the expanded column after C and keeps it in C's place.
- `inlined function`: a `let` function (or view) whose body is a tabular pipeline is removed and each
  call replaced by its body in parentheses, each parameter read as a fresh `let __inlinedN_<param> =
  <argument or declared literal default>;` placed before the statement that calls it (a scalar let is
  evaluated once, as an argument is). Only where nothing can resolve differently at the call site:
  every parameter scalar and typed as its argument, no argument reading a column or calling rand() or
  new_guid(), no name the body reads bound again between the definition and the call, no statements
  inside the body, no call from inside another function's body (a later pass inlines those once the
  outer function is inlined), and no view when a wildcard union could read it. Otherwise the function
  is left as written and the engine says what it lacks.
- `bracket path step`: `d.[16].["#text"]` -> `d[16]["#text"]`: a bracketed step after a dot is the same
  element access as the bracket alone (Kusto's dynamic path notation).
- `column_ifexists`: `column_ifexists('c', d)` -> `c` where the analyzer resolves `c` to a column in that
  place, `(d)` where the name resolves to nothing there (Microsoft: "returns the column if it exists,
  otherwise the default"); left as written when the name means something else there.
- `externaldata fixture`: `externaldata(schema)[url, ...] with (...)` -> `datatable(schema) [rows]`, the
  rows read from the local fixture file each URL is mapped to (harness.workspace.externaldata; nothing is
  downloaded), typed by the declared schema and honouring `format` and `ignoreFirstRecord`. A URL with no
  fixture, a cell that is not its column's type, or another `with` property is refused with its reason.
- `parse leading column`: `parse E with C 'lit' ...` (C a column before the first literal, which Kusto
  accepts: "the parse pattern may start with ColumnName") -> `parse strcat("⟦parse⟧", E) with "⟦parse⟧" C
  'lit' ...`. Kusto matches a simple or relaxed pattern from the start of the text (a pattern skips a
  leading part only with `*`), so the same literal written before the text and before the pattern
  changes nothing but gives the column a literal to follow, which duckdb-kql requires. Only for a string
  E (parse converts other types itself) and not for `kind=regex` (not anchored).
- `inlined built-in`: a call of a built-in function the engine lacks, replaced by the KQL expression its
  documentation defines it as, in functions the engine has (harness.kql.inlined: `split` with a
  requested index, `ipv4_is_match`). A call outside the documented domain (a negative index, a prefix
  beyond 32, an argument that is not a literal where one is needed, `rand()` in an argument read twice)
  is left as written and the engine says it lacks the function.
- `ingestion time`: `T | where ... | extend i = ingestion_time() ...` (a table read by name, then only
  `where` and `extend` up to the last operator calling `ingestion_time()`) -> `__harness_ingested__T | where
  ... | extend i = __IngestionTime | project-away __IngestionTime ...`. The engine's view
  `__harness_ingested__T` is the table's rows in the same order with the same columns, then each row's
  ingestion time (`INGESTION_COLUMN`: the time the scenario says the row reached the workspace, by default
  its TimeGenerated; the windowed runs show it through the run's window as the table itself). Kusto's
  `ingestion_time()` "returns the approximate datetime in UTC format indicating when the current record
  was ingested", the same value. The extra column is projected away right after the last operator
  that reads it, so nothing later sees it; an operator in between that reads every column (`*`,
  `pack_all()`) keeps the rule as written. The analyzer confirms the text against a workspace that
  declares each table's view (`ingestion_context`).

Refusals (the engine never runs the rule; the reason is reported): a call to an ASIM parser with a
value for a parameter the harness's parser does not honour (harness.workspace.asim.UNHONOURED), since
ignoring a filter would change the result.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from harness.errors import HarnessError
from harness.kql import inlined
from harness.kql.analyzer import Workspace, analyze
from harness.kql.model import Analysis, FunctionKind, Stage, SyntaxNode
from harness.kql.tree import SyntaxTree
from harness.workspace.asim import UNHONOURED
from harness.workspace.context import WorkspaceContext
from harness.workspace.externaldata import JSON_FORMATS, MANIFEST, PROPERTIES, SEPARATORS, read_rows
from harness.workspace.tables import Column, SchemaRegistry, TableSchema

__all__ = [
    "DESUGARINGS",
    "Applied",
    "ExternalFeed",
    "Desugared",
    "Desugaring",
    "Refusal",
    "desugar",
    "externaldata_feeds",
]

#: The column an ingestion-time view (`ingested_name`) adds after its table's own: each row's ingestion time.
INGESTION_COLUMN = "__IngestionTime"
#: Prefix of a table's ingestion-time view: the table's columns, then INGESTION_COLUMN.
INGESTED_PREFIX = "__harness_ingested__"


def ingested_name(table: str) -> str:
    """The name of *table*'s ingestion-time view on the engines that run the `ingestion time` desugaring."""
    return INGESTED_PREFIX + table


def ingestion_views(registry: SchemaRegistry) -> dict[str, TableSchema]:
    """The ingestion-time view of each table with a TimeGenerated column (the tables a run can window)."""
    return {
        ingested_name(name): TableSchema(ingested_name(name), (*schema.columns, Column(INGESTION_COLUMN, "datetime")))
        for name in registry.names() if INGESTED_PREFIX not in name
        and (schema := registry[name]).column("TimeGenerated") is not None
    }


_INGESTION_CONTEXTS: dict[int, tuple[WorkspaceContext | None, WorkspaceContext]] = {}
_INGESTION_LOCK = threading.Lock()


def ingestion_context(context: WorkspaceContext | None) -> WorkspaceContext:
    """*context* with every table's ingestion-time view declared too (one per context, kept: the analyzer
    declares a workspace once per context object)."""
    with _INGESTION_LOCK:
        cached = _INGESTION_CONTEXTS.get(id(context))
        if cached is not None and cached[0] is context:
            return cached[1]
        base = context if context is not None else WorkspaceContext()
        derived = WorkspaceContext(base.registry.with_tables(ingestion_views(base.registry)), list(base.functions),
                                   dict(base.watchlists), dict(base.externaldata))
        if len(_INGESTION_CONTEXTS) > 16:
            _INGESTION_CONTEXTS.clear()
        _INGESTION_CONTEXTS[id(context)] = (context, derived)
        return derived


#: Rewrite passes at most (one desugaring can expose another: an alias inside parentheses).
MAX_PASSES = 4


@dataclass(frozen=True)
class Applied:
    """One desugaring applied, at a position of the rule's own query text."""

    name: str
    line: int
    column: int
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.name} at {self.line}:{self.column}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Refusal:
    """Why the rule must not run on this engine although its syntax could be desugared."""

    name: str
    line: int | None
    column: int | None
    reason: str

    def __str__(self) -> str:
        where = f" at {self.line}:{self.column}" if self.line is not None else ""
        return f"{self.name}{where}: {self.reason}"


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


class _Offsets:
    """Maps offsets of an edited text back to the text before the edits."""

    def __init__(self, edits: list[_Edit]) -> None:
        self._new_starts: list[int] = []
        self._edits = sorted(edits, key=lambda e: (e.start, e.end))
        delta = 0
        for e in self._edits:
            self._new_starts.append(e.start + delta)
            delta += len(e.text) - (e.end - e.start)

    def back(self, offset: int) -> int:
        i = bisect.bisect_right(self._new_starts, offset) - 1
        if i < 0:
            return offset
        e, new_start = self._edits[i], self._new_starts[i]
        if offset < new_start + len(e.text):
            return e.start + min(offset - new_start, e.end - e.start)
        return e.end + (offset - new_start - len(e.text))


@dataclass(frozen=True)
class Desugared:
    """A rule's query and the text the engine runs. `applied` is empty when nothing was rewritten;
    `refusals` non-empty means the engine must not run the rule at all."""

    original: str
    text: str
    applied: tuple[Applied, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    #: Rewrites found but not made, and why: the desugared text would not have been provably the same
    #: (the engine then runs what was desugared before, at worst the rule's own text).
    declined: tuple[str, ...] = ()
    _passes: tuple[_Offsets, ...] = field(default=(), repr=False, compare=False)

    @property
    def changed(self) -> bool:
        return self.text != self.original

    @property
    def names(self) -> list[str]:
        """The desugarings applied, each name once, in order of first use."""
        return list(dict.fromkeys(a.name for a in self.applied))

    def summary(self) -> str:
        """E.g. "ran with 2 desugarings: outer parentheses, named arguments" ("" when none)."""
        if not self.applied:
            return ""
        n = len(self.applied)
        return f"ran with {n} desugaring{'s' if n != 1 else ''}: {', '.join(self.names)}"

    def original_offset(self, offset: int) -> int:
        """An offset into `text` as an offset into the rule's own query."""
        for offsets in reversed(self._passes):
            offset = offsets.back(offset)
        return offset

    def original_position(self, line: int, column: int) -> tuple[int, int]:
        """A 1-based line:column of `text` as one of the rule's own query."""
        starts = [0] + [i + 1 for i, ch in enumerate(self.text) if ch == "\n"]
        offset = starts[min(max(line, 1), len(starts)) - 1] + max(column, 1) - 1
        return _line_column(self.original, self.original_offset(offset))


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


# -- the tree ---------------------------------------------------------------------------------


class _Tree(SyntaxTree):
    """The syntax tree of one analysis, with the workspace desugarings read schemas from."""

    def __init__(self, analysis: Analysis, context: WorkspaceContext | Workspace | None = None) -> None:
        super().__init__(analysis)
        self.a = analysis
        self.context = context

    def elements(self, node: SyntaxNode) -> list[SyntaxNode]:
        """The elements of a separated list (SyntaxList of SeparatedElement), without separators."""
        out = []
        for k in self.kids(node):
            if k.type == "SeparatedElement":
                out.extend(c for c in self.kids(k) if c.token is None)
            elif k.token is None:
                out.append(k)
        return out

    def descendants(self, node: SyntaxNode) -> Iterable[SyntaxNode]:
        stack = [node.index]
        while stack:
            i = stack.pop()
            yield self.nodes[i]
            stack.extend(reversed(self.children.get(i, [])))

    def position(self, offset: int) -> tuple[int, int]:
        return _line_column(self.text, offset)


@dataclass(frozen=True)
class _Found:
    """A desugaring's finding in one pass: the edits, where to report it, or a refusal."""

    name: str
    at: int  # offset in the pass's text
    edits: tuple[_Edit, ...] = ()
    detail: str = ""
    refusal: str | None = None


Finder = Callable[[_Tree], list[_Found]]


@dataclass(frozen=True)
class Desugaring:
    name: str
    doc: str
    find: Finder


# -- the desugarings ----------------------------------------------------------------------------


_BRACKETS = ("(", ")")


def _outer_parentheses(t: _Tree) -> list[_Found]:
    found = []
    for n in t.of_type("ParenthesizedExpression"):
        parent = t.parent(n)
        if parent is None:
            continue
        if parent.type == "PipeExpression" and t.kids(parent)[0].index == n.index:
            pass  # the source of a pipeline
        elif parent.type == "ExpressionStatement" and t.a.result is not None:
            pass  # a whole tabular query statement
        else:
            continue
        kids = t.kids(n)
        if len(kids) != 3 or (kids[0].token, kids[2].token) != _BRACKETS:
            continue
        edits = (_Edit(kids[0].span.start, kids[0].span.end, " "), _Edit(kids[2].span.start, kids[2].span.end, " "))
        found.append(_Found("outer parentheses", n.span.start, edits))
    return found


def _literal_only(text: str) -> bool:
    """A default value that is a literal: nothing in it can resolve to another name at a call site."""
    try:
        a = analyze(f"print __default = {text}", tree=True)
    except HarnessError:
        return False
    if a.errors or a.tree is None:
        return False
    return not any(n.type == "NameReference" for n in a.tree)


def _named_arguments(t: _Tree) -> list[_Found]:
    found = []
    stored = {
        (f.span.start, f.span.end): f
        for f in t.a.functions
        if f.kind == FunctionKind.STORED and f.via is None and f.parameters is not None
    }
    for n in t.of_type("FunctionCallExpression"):
        call = stored.get((n.span.start, n.span.end))
        if call is None or call.name != n.symbol:
            continue
        params = list(call.parameters or ())
        arglist = next((k for k in t.kids(n) if k.type == "ExpressionList"), None)
        if arglist is None:
            continue
        inner = next((k for k in t.kids(arglist) if k.type == "SyntaxList"), None)
        args = t.elements(inner) if inner is not None else []
        given: dict[int, str] = {}
        named = False
        problem = None
        for i, arg in enumerate(args):
            if arg.type == "SimpleNamedExpression":
                named = True
                kids = [k for k in t.kids(arg) if k.token is None]
                name_node, value = kids[0], kids[-1]
                name = t.source(name_node).strip()
                index = next((j for j, (p, _) in enumerate(params) if p == name), None)
                if index is None or index in given:
                    problem = f"argument {name!r} does not match the declared parameters"
                    break
                given[index] = t.source(value)
            elif named:
                problem = "a positional argument after a named one"
                break
            else:
                given[i] = t.source(arg)
        if problem is None:
            ignored = UNHONOURED.get(call.name, frozenset())
            for index, value in given.items():
                pname, default = params[index] if index < len(params) else (None, None)
                if pname in ignored and value.strip() != (default or "").strip():
                    problem = (
                        f"parameter {pname!r} of {call.name} is not honoured by the harness's parser"
                        " (ignoring it would change the result)"
                    )
                    break
        if problem is not None:
            found.append(_Found("named arguments", n.span.start, refusal=problem))
            continue
        if not named:
            continue
        values = []
        for j in range(max(given) + 1 if given else 0):
            if j in given:
                values.append(given[j].strip())
                continue
            default = params[j][1]
            if default is None or not _literal_only(default):
                problem = f"parameter {params[j][0]!r} has no literal default to write out"
                break
            values.append(default)
        if problem is not None:
            found.append(_Found("named arguments", n.span.start, refusal=problem))
            continue
        edit = _Edit(inner.span.start, inner.span.end, ", ".join(values))
        found.append(_Found("named arguments", n.span.start, (edit,), detail=call.name))
    return found


#: Deprecated name -> (current name, maxSize to write out when the call gives none).
ALIASES: dict[str, tuple[str, int | None]] = {
    "parsejson": ("parse_json", None),
    "extractjson": ("extract_json", None),
    "arraylength": ("array_length", None),
    "columnifexists": ("column_ifexists", None),
    "makeset": ("make_set", 128),
    "makelist": ("make_list", 128),
}


def _deprecated_aliases(t: _Tree) -> list[_Found]:
    found = []
    calls = {
        (f.span.start, f.span.end)
        for f in t.a.functions
        if f.kind in (FunctionKind.BUILTIN, FunctionKind.AGGREGATE) and f.via is None and f.name in ALIASES
    }
    for n in t.of_type("FunctionCallExpression"):
        if (n.span.start, n.span.end) not in calls:
            continue
        name_ref = t.kids(n)[0]
        token = next((d for d in t.descendants(name_ref) if d.token is not None), None)
        if token is None or token.token not in ALIASES:
            continue
        current, max_size = ALIASES[token.token]
        edits = [_Edit(token.span.start, token.span.end, current)]
        if max_size is not None:
            arglist = next((k for k in t.kids(n) if k.type == "ExpressionList"), None)
            inner = next((k for k in t.kids(arglist) if k.type == "SyntaxList"), None) if arglist else None
            args = t.elements(inner) if inner is not None else []
            if len(args) == 1:
                edits.append(_Edit(args[0].span.end, args[0].span.end, f", {max_size}"))
            elif len(args) != 2:
                continue
        found.append(_Found("deprecated alias", n.span.start, tuple(edits), detail=f"{token.token} -> {current}"))
    return found


def _quote_column(name: str) -> str:
    if name.isidentifier() and name.isascii():
        return name
    return "['" + name.replace("\\", "\\\\").replace("'", "\\'") + "']"


def _stage_at(t: _Tree, node: SyntaxNode) -> Stage | None:
    return next((s for s in t.a.stages if (s.span.start, s.span.end) == (node.span.start, node.span.end)), None)


def _project_reorder(t: _Tree) -> list[_Found]:
    found = []
    for n in t.of_type("ProjectReorderOperator"):
        stage = _stage_at(t, n)
        if stage is None or stage.columns is None:
            found.append(_Found("project-reorder", n.span.start, refusal="the analyzer cannot list its columns"))
            continue
        if t.a.result is not None and t.a.result.open:
            found.append(_Found("project-reorder", n.span.start, refusal="the columns are not all known (open schema)"))
            continue
        text = "project " + ", ".join(_quote_column(c.name) for c in stage.columns)
        found.append(_Found("project-reorder", n.span.start, (_Edit(n.span.start, n.span.end, text),)))
    return found


_TO_DYNAMIC = frozenset({"todynamic", "parse_json", "parsejson", "toobject"})


def _mv_expand_name(t: _Tree) -> list[_Found]:
    found = []
    for n in t.of_type("MvExpandExpression"):
        kids = [k for k in t.kids(n) if k.token is None]
        if not kids or kids[0].type != "FunctionCallExpression" or kids[0].symbol not in _TO_DYNAMIC:
            continue
        call = kids[0]
        arglist = next((k for k in t.kids(call) if k.type == "ExpressionList"), None)
        inner = next((k for k in t.kids(arglist) if k.type == "SyntaxList"), None) if arglist else None
        args = t.elements(inner) if inner is not None else []
        if len(args) != 1 or args[0].type != "NameReference" or args[0].symbol_kind != "ColumnSymbol":
            continue
        column = args[0].symbol or ""
        op = t.parent(n)
        while op is not None and op.type != "MvExpandOperator":
            op = t.parent(op)
        stage = _stage_at(t, op) if op is not None else None
        if stage is None or stage.columns is None or column not in [c.name for c in stage.columns]:
            continue  # the analyzer does not confirm the name: leave it to the engine
        edit = _Edit(call.span.start, call.span.start, f"{_quote_column(column)} = ")
        found.append(_Found("mv-expand name", n.span.start, (edit,), detail=column))
    return found


_NUMERIC_WIDENING = {("int", "long")}  # an int argument to a long parameter: the same values
_VOLATILE = frozenset({"rand", "new_guid"})  # evaluated once as an argument, once per use if substituted


@dataclass
class _Function:
    """A tabular `let` function of the query statement list, as declared."""

    name: str
    let: SyntaxNode  # the LetStatement
    semicolon: SyntaxNode | None
    index: int  # its position among the top-level statements
    params: list[tuple[str, str, str | None]]  # (name, type, default text)
    body: SyntaxNode  # the body's expression
    view: bool
    problem: str | None = None


def _is(node: SyntaxNode, token: str) -> bool:
    return node.token == token


def _top_statements(t: _Tree) -> list[tuple[SyntaxNode, SyntaxNode | None]]:
    """The query's top-level statements in order, each with the `;` that ends it (if any)."""
    root = t.nodes[0] if t.nodes else None
    out: list[tuple[SyntaxNode, SyntaxNode | None]] = []
    if root is None:
        return out
    for lst in t.kids(root):
        if lst.type != "SyntaxList":
            continue
        for el in t.kids(lst):
            if el.type != "SeparatedElement":
                continue
            kids = t.kids(el)
            stmt = next((k for k in kids if k.token is None), None)
            semi = next((k for k in kids if _is(k, ";")), None)
            if stmt is not None:
                out.append((stmt, semi))
    return out


def _functions(t: _Tree, statements: list[tuple[SyntaxNode, SyntaxNode | None]]) -> dict[str, _Function]:
    found: dict[str, _Function] = {}
    for index, (stmt, semi) in enumerate(statements):
        if stmt.type != "LetStatement":
            continue
        kids = [k for k in t.kids(stmt) if k.token is None]
        decl = next((k for k in kids if k.type == "FunctionDeclaration"), None)
        name = next((k for k in kids if k.type == "NameDeclaration"), None)
        if decl is None or name is None or name.symbol is None:
            continue
        view = any(_is(k, "view") for k in t.kids(decl))
        params: list[tuple[str, str, str | None]] = []
        problem = None
        body_node = next((k for k in t.kids(decl) if k.type == "FunctionBody"), None)
        plist = next((k for k in t.kids(decl) if k.type == "FunctionParameters"), None)
        for fp in (d for d in t.descendants(plist) if d.type == "FunctionParameter") if plist else ():
            nat = next((k for k in t.kids(fp) if k.type == "NameAndTypeDeclaration"), None)
            pname = next((k for k in t.kids(nat) if k.type == "NameDeclaration"), None) if nat else None
            ptype = next((k for k in t.kids(nat) if k.type.endswith("TypeExpression")), None) if nat else None
            if pname is None or ptype is None or ptype.type != "PrimitiveTypeExpression" or not pname.result_type:
                problem = "a tabular or untyped parameter"
                break
            default = next((k for k in t.kids(fp) if k.type == "DefaultValueDeclaration"), None)
            dtext = None
            if default is not None:
                value = [k for k in t.kids(default) if k.token is None]
                dtext = t.source(value[0]).strip() if value else None
            params.append((pname.symbol or t.source(pname).strip(), pname.result_type, dtext))
        if body_node is None:
            continue
        body_kids = [k for k in t.kids(body_node) if k.token is None]
        inner_lets = [k for k in body_kids if k.type == "SyntaxList" and k.span.length > 0]
        exprs = [k for k in body_kids if k.type != "SyntaxList"]
        if inner_lets or len(exprs) != 1:
            problem = problem or "statements inside the body"
            expr = body_node
        else:
            expr = exprs[0]
            core = expr
            while core.type == "ParenthesizedExpression":
                core = next(k for k in t.kids(core) if k.token is None)
            if core.type != "PipeExpression":
                continue  # a scalar body (duckdb-kql runs those), or not plainly tabular
        found[name.symbol] = _Function(name.symbol, stmt, semi, index, params, expr, view, problem)
    return found


def _statement_of(statements: list[tuple[SyntaxNode, SyntaxNode | None]], node: SyntaxNode) -> int | None:
    for i, (stmt, _) in enumerate(statements):
        if stmt.span.start <= node.span.start and node.span.end <= stmt.span.end:
            return i
    return None


def _inside_function_body(t: _Tree, node: SyntaxNode) -> bool:
    p = t.parent(node)
    while p is not None:
        if p.type == "FunctionBody":
            return True
        p = t.parent(p)
    return False


def _call_arguments(t: _Tree, call: SyntaxNode) -> list[SyntaxNode] | None:
    if call.type != "FunctionCallExpression":
        return []
    arglist = next((k for k in t.kids(call) if k.type == "ExpressionList"), None)
    inner = next((k for k in t.kids(arglist) if k.type == "SyntaxList"), None) if arglist else None
    return t.elements(inner) if inner is not None else []


def _inline_functions(t: _Tree) -> list[_Found]:
    statements = _top_statements(t)
    functions = _functions(t, statements)
    if not functions:
        return []
    wildcard = any(n.type == "WildcardedName" for n in t.nodes)
    names = {n.token for n in t.nodes if n.token}
    counter = 0
    found: list[_Found] = []
    for f in functions.values():
        refs = [
            n for n in t.of_type("FunctionCallExpression", "NameReference")
            if n.symbol == f.name and n.symbol_kind == "FunctionSymbol"
            and not (n.type == "NameReference" and t.parent(n) is not None
                     and t.parent(n).type == "FunctionCallExpression" and t.kids(t.parent(n))[0].index == n.index)
        ]
        why = f.problem
        if why is None and f.view and wildcard:
            why = "a view, and a wildcard union could read it"
        free = {
            n.symbol for n in t.descendants(f.body)
            if n.type == "NameReference" and n.symbol_kind in ("VariableSymbol", "FunctionSymbol")
            and n.symbol is not None
        }
        hoists: dict[int, list[str]] = {}
        calls: list[_Edit] = []
        for ref in refs if why is None else ():
            if _inside_function_body(t, ref):
                why = "called inside another function's body"
                break
            at = _statement_of(statements, ref)
            if at is None or at <= f.index:
                why = "called where its definition is not in scope"
                break
            rebound = [
                s for s, _ in statements[f.index + 1 : at]
                if s.type == "LetStatement" and any(
                    k.type == "NameDeclaration" and k.symbol in free | {f.name} for k in t.kids(s))
            ]
            if rebound:
                why = "a name its body reads is bound again before the call"
                break
            args = _call_arguments(t, ref) or []
            given: dict[str, SyntaxNode] = {}
            for i, arg in enumerate(args):
                if arg.type == "SimpleNamedExpression":
                    kids = [k for k in t.kids(arg) if k.token is None]
                    given[t.source(kids[0]).strip()] = kids[-1]
                elif i < len(f.params):
                    given[f.params[i][0]] = arg
                else:
                    why = "more arguments than parameters"
            if why is not None or set(given) - {p for p, _, _ in f.params}:
                why = why or "an argument names no parameter"
                break
            lets: list[str] = []
            subst: dict[str, str] = {}
            for pname, ptype, default in f.params:
                arg = given.get(pname)
                if arg is None:
                    if default is None or not _literal_only(default):
                        why = f"parameter {pname!r} has no literal default"
                        break
                    value = default
                else:
                    inner = list(t.descendants(arg))
                    if any(d.symbol_kind == "ColumnSymbol" for d in inner):
                        why = "an argument reads a column"
                        break
                    if any(d.type == "FunctionCallExpression" and d.symbol in _VOLATILE for d in inner):
                        why = "an argument is not deterministic"
                        break
                    if arg.result_type != ptype and (arg.result_type, ptype) not in _NUMERIC_WIDENING:
                        why = f"argument {pname!r} is {arg.result_type}, the parameter {ptype}"
                        break
                    value = t.source(arg).strip()
                counter += 1
                fresh = f"__inlined{counter}_{pname}"
                while fresh in names:
                    counter += 1
                    fresh = f"__inlined{counter}_{pname}"
                names.add(fresh)
                lets.append(f"let {fresh} = {value};")
                subst[pname] = fresh
            if why is not None:
                break
            body_edits = [
                _Edit(n.span.start, n.span.end, subst[n.symbol])
                for n in t.descendants(f.body)
                if n.type == "NameReference" and n.symbol_kind == "ParameterSymbol" and n.symbol in subst
            ]
            base = f.body.span.start
            body_text = _apply(
                t.text[base : f.body.span.end], [_Edit(e.start - base, e.end - base, e.text) for e in body_edits]
            )
            wrapped = t.parent(ref) is not None and t.parent(ref).type == "ParenthesizedExpression"
            calls.append(_Edit(ref.span.start, ref.span.end, body_text if wrapped else f"({body_text}\n)"))
            if lets:
                hoists.setdefault(statements[at][0].span.start, []).extend(lets)
        if why is not None:
            continue  # left as written: the engine says what it lacks
        end = f.semicolon.span.end if f.semicolon is not None else f.let.span.end
        edits = [_Edit(f.let.span.start, end, ""), *calls]
        edits += [_Edit(at, at, " ".join(lets) + "\n") for at, lets in sorted(hoists.items())]
        found.append(_Found("inlined function", f.let.span.start, tuple(edits), detail=f.name))
    return found


def _string_value(t: _Tree, node: SyntaxNode) -> str | None:
    """The value of a string literal node, or None when it is not a plain string literal."""
    if node.type != "LiteralExpression" or node.result_type != "string":
        return None
    return _unquote(t.source(node).strip())


def _unquote(text: str) -> str | None:
    """A KQL string literal's value: '...', "...", @'...', @"..." and their h-prefixed (hidden) forms."""
    body = text[1:] if text[:1] in "hH" and text[1:2] in ("'", '"', "@") else text
    verbatim = body.startswith("@")
    body = body[1:] if verbatim else body
    if len(body) < 2 or body[0] not in "'\"" or body[-1] != body[0]:
        return None
    quote, inner = body[0], body[1:-1]
    if verbatim:
        return inner.replace(quote * 2, quote)
    if "\\" not in inner:
        return inner
    try:
        return json.loads('"' + inner.replace('"', '\\"').replace("\\'", "'") + '"') if quote == "'" else json.loads(
            body)
    except ValueError:
        return None


@dataclass(frozen=True)
class ExternalFeed:
    """One URL an `externaldata` operator reads: the declared schema and how the rule reads the file."""

    url: str
    columns: tuple[tuple[str, str], ...]
    format: str
    ignore_first: bool
    #: `with (...)` properties the fixture reading does not honour (the feed is then refused).
    unknown: tuple[str, ...] = ()


def _feeds_at(t: _Tree, n: SyntaxNode) -> list[ExternalFeed] | None:
    """The feeds of one ExternalDataExpression, or None when its schema or URLs are not plain literals."""
    kids = t.kids(n)
    schema = next((k for k in kids if k.type == "RowSchema"), None)
    urls_list = next((k for k in kids if k.type == "SyntaxList" and k.span.length > 0), None)
    with_clause = next((k for k in kids if k.type == "ExternalDataWithClause"), None)
    columns: list[tuple[str, str]] = []
    for decl in (d for d in t.descendants(schema) if d.type == "NameAndTypeDeclaration") if schema else ():
        name = next((k for k in t.kids(decl) if k.type == "NameDeclaration"), None)
        if name is None or not name.symbol or not name.result_type:
            return None
        columns.append((name.symbol, name.result_type))
    urls = [_string_value(t, u) for u in t.elements(urls_list)] if urls_list is not None else []
    if not columns or not urls or any(u is None for u in urls):
        return None
    props: dict[str, str] = {}
    for p in (d for d in t.descendants(with_clause) if d.type == "NamedParameter") if with_clause else ():
        kids_p = [k for k in t.kids(p) if k.token is None]
        key = t.source(kids_p[0]).strip().lower()
        value = kids_p[-1]
        props[key] = (_string_value(t, value) if value.result_type == "string" else t.source(value).strip()) or ""
    unknown = tuple(sorted(set(props) - set(PROPERTIES)))
    ignore_first = props.get("ignorefirstrecord", "false").lower() == "true"
    return [
        ExternalFeed(url.strip(), tuple(columns), (props.get("format") or _format_of(url)).lower(), ignore_first,
                     unknown)
        for url in urls if url is not None
    ]


def externaldata_feeds(query: str) -> list[ExternalFeed]:
    """Every feed the query's `externaldata` operators read with a plain literal schema and URL (for
    `new --rule`, which scaffolds a fixture for each one the workspace has none for)."""
    try:
        a = analyze(query, tree=True)
    except HarnessError:
        return []
    t = _Tree(a)
    out: list[ExternalFeed] = []
    for n in t.of_type("ExternalDataExpression"):
        out += _feeds_at(t, n) or []
    return out


def _externaldata(t: _Tree) -> list[_Found]:
    found: list[_Found] = []
    fixtures = getattr(t.context, "externaldata", None) or {}
    for n in t.of_type("ExternalDataExpression"):
        feeds = _feeds_at(t, n)
        if not feeds:
            found.append(_Found("externaldata fixture", n.span.start,
                                refusal="its schema or URLs are not plain literals the harness can read"))
            continue
        if feeds[0].unknown:
            found.append(_Found("externaldata fixture", n.span.start,
                                refusal=f"with({', '.join(feeds[0].unknown)}) is not honoured when reading fixtures"))
            continue
        columns = list(feeds[0].columns)
        schema_text = ", ".join(f"{c}:{ty}" for c, ty in columns)
        rows: list[list[str]] = []
        problem = None
        for feed in feeds:
            fixture = fixtures.get(feed.url)
            if fixture is None:
                problem = (
                    f"no local fixture for externaldata URL {feed.url} (nothing is downloaded); declare one in an "
                    f"{MANIFEST} manifest of a configured `externaldata` folder, a file with the columns "
                    f"({schema_text}) (`atomic-harness new --rule` scaffolds one)"
                )
                break
            try:
                rows += read_rows(fixture, columns, feed.format, feed.ignore_first)
            except HarnessError as exc:
                where = f"{exc.file}:{exc.line}" if exc.line else str(exc.file)
                problem = f"fixture for {feed.url} ({where}): {exc.reason}"
                break
        if problem is not None:
            found.append(_Found("externaldata fixture", n.span.start, refusal=problem))
            continue
        schema = next(k for k in t.kids(n) if k.type == "RowSchema")
        values = ",\n".join(", ".join(row) for row in rows)
        text = f"datatable({t.source(schema)[1:-1]}) [\n{values}\n]"
        found.append(_Found("externaldata fixture", n.span.start, (_Edit(n.span.start, n.span.end, text),),
                            detail=", ".join(f.url for f in feeds)))
    return found


def _format_of(url: str) -> str:
    """Kusto's default: the format the URL's file extension names, else csv."""
    path = url.split("?", 1)[0].rsplit("/", 1)[-1].lower()
    ext = path.rsplit(".", 1)[-1] if "." in path else ""
    return ext if ext in (*SEPARATORS, *JSON_FORMATS) else "csv"


def _bracket_path_step(t: _Tree) -> list[_Found]:
    found = []
    for n in t.of_type("PathExpression"):
        kids = t.kids(n)
        if len(kids) != 3 or not _is(kids[1], ".") or kids[2].type != "BracketedExpression":
            continue
        dot = kids[1].span
        found.append(_Found("bracket path step", dot.start, (_Edit(dot.start, dot.end, ""),)))
    return found


def _column_ifexists(t: _Tree) -> list[_Found]:
    found: list[_Found] = []
    builtin = {
        (f.span.start, f.span.end) for f in t.a.functions
        if f.name == "column_ifexists" and f.kind == FunctionKind.BUILTIN and f.via is None
    }
    for n in t.of_type("FunctionCallExpression"):
        if (n.span.start, n.span.end) not in builtin:
            continue
        args = _call_arguments(t, n) or []
        name = _string_value(t, args[0]) if len(args) == 2 else None
        if name is None:
            continue
        # Ask the analyzer whether the name is a column in scope here: the call replaced by the bare name.
        probe_text = t.text[: n.span.start] + _quote_column(name) + t.text[n.span.end :]
        try:
            probe = analyze(probe_text, t.context, tree=True)
        except HarnessError:
            continue
        ref = next((m for m in probe.tree or () if m.span.start == n.span.start and m.type == "NameReference"), None)
        if ref is not None and ref.symbol_kind == "ColumnSymbol" and ref.symbol == name:
            text, detail = _quote_column(name), f"{name}: the column"
        elif ref is None or ref.symbol_kind is None:
            text, detail = f"({t.source(args[1]).strip()})", f"{name}: not a column here, the default"
        else:
            continue  # the name means something else here (a variable): leave it to the engine
        found.append(_Found("column_ifexists", n.span.start, (_Edit(n.span.start, n.span.end, text),), detail=detail))
    return found


#: What the engine reads before a leading parse column: a literal no text is expected to hold (Kusto matches
#: the pattern from the start of the text, so any literal is exact there; duckdb-kql searches for it).
PARSE_ANCHOR = "\u27e6parse\u27e7"
_PARSE_KINDS = frozenset({"simple", "relaxed"})


def _parse_leading_column(t: _Tree) -> list[_Found]:
    found: list[_Found] = []
    for n in t.of_type("ParseOperator", "ParseWhereOperator"):
        kids = t.kids(n)
        with_at = next((i for i, k in enumerate(kids) if _is(k, "with")), None)
        if with_at is None or with_at + 1 >= len(kids) or with_at < 1:
            continue
        pattern = [k for k in t.kids(kids[with_at + 1]) if k.token is None]
        if not pattern or pattern[0].type not in ("NameDeclaration", "NameAndTypeDeclaration"):
            continue  # the pattern starts with a literal or `*`: nothing to desugar
        expression = kids[with_at - 1]
        kind = "simple"
        for p in (d for d in t.descendants(n) if d.type == "NamedParameter" and t.parent(d) is not None
                  and t.parent(d).parent == n.index):
            value = [k for k in t.kids(p) if k.token is None]
            if len(value) == 2 and t.source(value[0]).strip().lower() == "kind":
                kind = t.source(value[1]).strip().lower()
        if kind not in _PARSE_KINDS:
            continue  # kind=regex is not anchored: no exact rewrite; the engine says what it lacks
        if expression.result_type != "string":
            continue  # parse converts other types to string itself; strcat's conversion is not shown identical
        anchor = json.dumps(PARSE_ANCHOR, ensure_ascii=False)
        edits = (
            _Edit(expression.span.start, expression.span.start, f"strcat({anchor}, "),
            _Edit(expression.span.end, expression.span.end, ")"),
            _Edit(pattern[0].span.start, pattern[0].span.start, f"{anchor} "),
        )
        found.append(_Found("parse leading column", n.span.start, edits))
    return found


def _arguments(t: _Tree, call: SyntaxNode) -> list[SyntaxNode]:
    return _call_arguments(t, call) or []


def _int_literal(t: _Tree, node: SyntaxNode) -> int | None:
    if node.type != "LiteralExpression" or node.result_type not in ("int", "long"):
        return None
    try:
        return int(t.source(node).strip())
    except ValueError:
        return None


def _volatile(t: _Tree, node: SyntaxNode) -> bool:
    return any(d.type == "FunctionCallExpression" and d.symbol in _VOLATILE for d in t.descendants(node))


def _inlined_builtins(t: _Tree) -> list[_Found]:
    found: list[_Found] = []
    builtin = {
        (f.span.start, f.span.end): f.name for f in t.a.functions
        if f.kind == FunctionKind.BUILTIN and f.via is None and f.name in inlined.INLINED
    }
    for n in t.of_type("FunctionCallExpression"):
        name = builtin.get((n.span.start, n.span.end))
        if name is None or n.symbol != name:
            continue
        args = _arguments(t, n)
        text = [f"({t.source(a).strip()})" for a in args]
        try:
            if name == "split":
                if len(args) != 3:
                    continue  # two arguments: the engine has split
                index = _int_literal(t, args[2])
                if index is None:
                    raise ValueError("requestedIndex is not an integer literal")
                body = inlined.split_at(text[0], text[1], index)
            else:  # ipv4_is_match
                if any(a.result_type != "string" for a in args[:2]) or any(_volatile(t, a) for a in args):
                    raise ValueError("an argument is not a string, or calls rand() or new_guid()")
                prefix = _int_literal(t, args[2]) if len(args) == 3 else None
                if len(args) == 3 and prefix is None:
                    raise ValueError("prefix is not an integer literal")
                body = inlined.ipv4_is_match(text[0], text[1], prefix)
        except ValueError:
            continue  # left as written: the engine says it lacks the function
        found.append(_Found("inlined built-in", n.span.start, (_Edit(n.span.start, n.span.end, body),), detail=name))
    return found


_ROW_OPERATORS = frozenset({"FilterOperator", "ExtendOperator"})
_EVERY_COLUMN = frozenset({"pack_all", "column_ifexists", "columnifexists"})


def _pipe_operator(t: _Tree, node: SyntaxNode) -> SyntaxNode | None:
    """The pipeline operator whose rows *node* is evaluated on: its nearest ancestor in an operator's place."""
    child, parent = node, t.parent(node)
    while parent is not None:
        if parent.type == "PipeExpression" and t.kids(parent)[-1].index == child.index and child is not node:
            return child
        if parent.type in ("FunctionDeclaration", "FunctionBody"):
            return None
        child, parent = parent, t.parent(parent)
    return None


def _row_chain(t: _Tree, op: SyntaxNode) -> tuple[SyntaxNode, list[SyntaxNode]] | None:
    """The table *op*'s rows come from, read by name, and the operators from it to *op*, when each is a
    `where` or an `extend` (they keep the table's rows, so each row is still a record of the table)."""
    chain = [op]
    pipe = t.parent(op)
    while pipe is not None and pipe.type == "PipeExpression":
        source = t.kids(pipe)[0]
        if source.type == "NameReference":
            return (source, chain) if source.symbol_kind == "TableSymbol" else None
        if source.type != "PipeExpression" or t.kids(source)[-1].type not in _ROW_OPERATORS:
            return None
        chain.append(t.kids(source)[-1])
        pipe = source
    return None


def _ingestion_time(t: _Tree) -> list[_Found]:
    registry = t.context.registry if isinstance(t.context, WorkspaceContext) else None
    if registry is None:
        return []
    builtin = {(f.span.start, f.span.end) for f in t.a.functions
               if f.name == "ingestion_time" and f.kind == FunctionKind.BUILTIN and f.via is None}
    groups: dict[int, tuple[SyntaxNode, list[SyntaxNode], list[SyntaxNode]]] = {}
    for call in t.of_type("FunctionCallExpression"):
        if (call.span.start, call.span.end) not in builtin or _call_arguments(t, call):
            continue
        op = _pipe_operator(t, call)
        found = _row_chain(t, op) if op is not None and op.type in _ROW_OPERATORS else None
        if found is None:
            continue
        source, chain = found
        if t.source(source) != source.symbol or registry.get(ingested_name(source.symbol or "")) is None:
            continue  # a quoted or qualified name, or a table without an ingestion-time view
        _, calls, ops = groups.setdefault(source.index, (source, [], []))
        calls.append(call)
        ops.extend(o for o in chain if all(o.index != p.index for p in ops))
    found_all = []
    for source, calls, ops in groups.values():
        reads_all = any(d.type == "StarExpression" or (d.type == "FunctionCallExpression" and d.symbol in _EVERY_COLUMN)
                        for o in ops for d in t.descendants(o))
        if reads_all:
            continue
        top = max(ops, key=lambda o: o.span.end)
        edits = [_Edit(source.span.start, source.span.end, ingested_name(source.symbol or "")),
                 *(_Edit(c.span.start, c.span.end, INGESTION_COLUMN) for c in calls),
                 _Edit(top.span.end, top.span.end, f" | project-away {INGESTION_COLUMN}")]
        found_all.append(_Found("ingestion time", calls[0].span.start, tuple(edits), detail=source.symbol or ""))
    return found_all


DESUGARINGS: tuple[Desugaring, ...] = (
    Desugaring("outer parentheses", "parentheses around a pipeline's source removed", _outer_parentheses),
    Desugaring("named arguments", "named arguments to a declared stored function made positional", _named_arguments),
    Desugaring("deprecated alias", "a deprecated function name replaced by its documented equivalent",
               _deprecated_aliases),
    Desugaring("project-reorder", "project-reorder written as project of the analyzer's column order",
               _project_reorder),
    Desugaring("mv-expand name", "an mv-expand of todynamic(C) named C, as Kusto names it", _mv_expand_name),
    Desugaring("inlined function", "a tabular let function's calls replaced by its body", _inline_functions),
    Desugaring("bracket path step", "`x.[i]` / `x.[\"k\"]` written `x[i]` / `x[\"k\"]`", _bracket_path_step),
    Desugaring("column_ifexists", "column_ifexists resolved by the analyzer: the column, or the default",
               _column_ifexists),
    Desugaring("externaldata fixture", "externaldata read from its declared local fixture, as a datatable",
               _externaldata),
    Desugaring("parse leading column", "a parse pattern's leading column anchored by a literal written before it",
               _parse_leading_column),
    Desugaring("inlined built-in", "a built-in function the engine lacks written as its documented definition",
               _inlined_builtins),
    Desugaring("ingestion time", "ingestion_time() read from the table's ingestion-time view", _ingestion_time),
)


# -- driving -------------------------------------------------------------------------------------


def _apply(text: str, edits: list[_Edit]) -> str:
    out, last = [], 0
    for e in sorted(edits, key=lambda e: (e.start, e.end)):  # an insertion before a replacement at its place
        out.append(text[last : e.start])
        out.append(e.text)
        last = e.end
    out.append(text[last:])
    return "".join(out)


def _overlaps(a: _Edit, taken: list[_Edit]) -> bool:
    return any(a.start < b.end and b.start < a.end or (a.start == a.end == b.start) for b in taken)


def _schema(a: Analysis) -> object:
    return None if a.result is None else (a.result.columns, a.result.open)


def _syntax_error(code: str) -> bool:
    """Kusto.Language's syntax diagnostics are KS0xx; binding ones (unknown name, wrong type) KS1xx on."""
    return code.startswith("KS0")


def _errors(a: Analysis) -> list[tuple[str, str]]:
    """The errors as (code, message), without positions (which desugaring moves)."""
    return sorted((d.code, d.message) for d in a.errors)


def desugar(query: str, context: WorkspaceContext | Workspace | None = None) -> Desugared:
    """The text the embedded engine runs for *query*, with what was desugared or refused.

    Never raises for the query's own content: an analyzer failure leaves the text unchanged."""
    try:
        original = analyze(query, context, tree=True, stage_columns=True)
    except HarnessError:
        return Desugared(query, query)
    if any(_syntax_error(d.code) for d in original.errors):
        return Desugared(query, query)  # the engine's own error, on the rule's own text, says more
    if (context is None or isinstance(context, WorkspaceContext)) and INGESTED_PREFIX not in query and any(
            f.name == "ingestion_time" and f.kind == FunctionKind.BUILTIN for f in original.functions):
        context = ingestion_context(context)  # declares the ingestion-time views the desugaring reads
        try:
            original = analyze(query, context, tree=True, stage_columns=True)
        except HarnessError:
            return Desugared(query, query)
    text, analysis = query, original
    applied: list[Applied] = []
    refusals: list[Refusal] = []
    declined: list[str] = []
    passes: list[_Offsets] = []

    def where(offset: int) -> tuple[int, int]:
        for offsets in reversed(passes):
            offset = offsets.back(offset)
        return _line_column(query, offset)

    excluded: set[str] = set()  # desugarings the analyzer did not confirm here: not tried again

    def verify(edits: list[_Edit]) -> tuple[str, Analysis | None, str | None]:
        new_text = _apply(text, edits)
        try:
            new = analyze(new_text, context, tree=True, stage_columns=True)
        except HarnessError as exc:
            return new_text, None, f"the desugared text cannot be analysed: {exc}"
        if _errors(new) == _errors(original) and _schema(new) == _schema(original):
            return new_text, new, None
        extra = [m for m in _errors(new) if m not in _errors(original)]
        if extra:
            return new_text, None, f"the analyzer then reports {extra[0][1]!r}"
        if _schema(new) != _schema(original):
            return new_text, None, "its result schema differs from the rule's"
        return new_text, None, "the analyzer then reports the rule's own errors differently"

    for _ in range(MAX_PASSES):
        tree = _Tree(analysis, context)
        edits: list[_Edit] = []
        found_now: list[_Found] = []
        for d in DESUGARINGS:
            if d.name in excluded:
                continue
            for f in d.find(tree):
                if f.refusal is not None:
                    line, col = where(f.at)
                    if not any(r.line == line and r.column == col and r.name == f.name for r in refusals):
                        refusals.append(Refusal(f.name, line, col, f.refusal))
                    continue
                if any(_overlaps(e, edits) for e in f.edits):
                    continue  # the next pass sees it again
                edits.extend(f.edits)
                found_now.append(f)
        if refusals or not edits:
            break
        # All of this pass's rewrites, else all but one kind (the last listed first): a rewrite the analyzer
        # does not confirm is declined on its own, not with every other one.
        names = list(dict.fromkeys(f.name for f in found_now))
        attempts = [(found_now, None)] + [
            ([f for f in found_now if f.name != name], name) for name in reversed(names) if len(names) > 1
        ]
        accepted = None
        for kept, dropped in attempts:
            new_text, new, why = verify([e for f in kept for e in f.edits])
            if why is None and new is not None:
                accepted = (kept, new_text, new)
                if dropped is not None:
                    excluded.add(dropped)
                    declined.append(f"not desugared ({dropped}): with it the analyzer does not confirm the text")
                break
            if dropped is None:
                first_why = why
        if accepted is None:
            declined.append(f"not desugared ({', '.join(names)}): {first_why}")
            break
        kept, new_text, new = accepted
        for f in kept:
            line, col = where(f.at)
            applied.append(Applied(f.name, line, col, f.detail))
        passes.append(_Offsets([e for f in kept for e in f.edits]))
        text, analysis = new_text, new
    if refusals:
        return Desugared(query, query, tuple(applied), tuple(refusals), declined=tuple(declined))
    return Desugared(query, text, tuple(applied), (), tuple(declined), tuple(passes))


class DesugarCache:
    """Desugared texts per query for one workspace (an engine translates a rule once per run, but
    the windowed engine and the backend may both ask)."""

    def __init__(self, context: WorkspaceContext | Workspace | None, size: int = 256) -> None:
        self.context = context
        self._size = size
        self._cache: OrderedDict[str, Desugared] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, query: str) -> Desugared:
        with self._lock:
            hit = self._cache.get(query)
            if hit is not None:
                self._cache.move_to_end(query)
                return hit
        result = desugar(query, self.context)
        with self._lock:
            self._cache[query] = result
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return result
