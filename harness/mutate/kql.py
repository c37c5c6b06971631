"""Mutants of a KQL query, made from Microsoft's syntax tree (harness.kql.analyzer, tree=True).

Each mutant is one edit of exact text spans of the rule's own query (the approach of harness.kql.desugar):
node types, operator tokens and spans come from Kusto.Language, no regular expression reads the query
(only the inside of a regex literal, for its `{n,}` quantifiers). Whether a mutant binds is for the
analyzer to say afterwards (harness.mutate.generate: a mutant it rejects is stillborn).

Edits, in the issue's words: comparison and string operators, `in`/`!in`, numeric constants +-1 (regex
quantifiers too), timespans halved and doubled (`ago()`, `bin()`, windows), list literals minus one item,
`and`/`or`, negation (a filter negated, `not()` removed, `isempty`/`isnotempty`), dropped `where` clauses and
dropped terms of `and`/`or` chains, join kinds, and output columns named by entity mappings and custom
details renamed.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from harness.kql.model import Analysis, SyntaxNode
from harness.kql.tree import SyntaxTree
from harness.mutate.model import Operator
from harness.timespan import parse_timespan

#: Lists longer than this get a seeded sample of item mutants, not one per item.
LONG_LIST = 20
SAMPLE = 8

_COMPARISON = {
    "==": ("!=", "=~"), "!=": ("==",), "=~": ("!~", "=="), "!~": ("=~",),
    ">": (">=", "<"), ">=": (">", "<"), "<": ("<=", ">"), "<=": ("<", ">"),
}  # fmt: skip
_STRING = {
    "has": ("contains", "has_cs", "!has"), "!has": ("has", "!contains"),
    "has_cs": ("has", "contains_cs"), "contains": ("has", "contains_cs", "!contains"),
    "!contains": ("contains", "!has"), "contains_cs": ("contains",),
    "startswith": ("has", "contains", "!startswith"), "!startswith": ("startswith",),
    "endswith": ("contains", "!endswith"), "!endswith": ("endswith",),
    "startswith_cs": ("startswith",), "endswith_cs": ("endswith",), "hasprefix": ("has",),
}  # fmt: skip
_MEMBERSHIP = {
    "in": ("!in", "in~"), "!in": ("in", "!in~"), "in~": ("!in~", "in"), "!in~": ("in~", "!in"),
    "has_any": ("has_all",), "has_all": ("has_any",),
}  # fmt: skip
_LOGIC = {"and": "or", "or": "and"}
_EMPTY = {"isempty": "isnotempty", "isnotempty": "isempty"}
_JOIN_KINDS = {
    "inner": ("innerunique", "leftouter"), "innerunique": ("inner", "leftouter"), "leftouter": ("inner",),
    "leftanti": ("leftsemi",), "leftsemi": ("leftanti",), "rightouter": ("inner",), "fullouter": ("inner",),
    "rightanti": ("rightsemi",), "rightsemi": ("rightanti",), "anti": ("leftsemi",), "semi": ("leftanti",),
}  # fmt: skip
_NUMERIC = ("int", "long", "real", "decimal")
_QUANTIFIER = re.compile(r"\{(\d+)(,(\d*))?\}")
_PIPE = "|"
_NUMBER_TOKEN = re.compile(r"^\d+$")


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class QueryMutant:
    """A mutant of a query, before it has an id: what it changes, the edits, and what it reads as."""

    operator: Operator
    at: int  # offset of the edit in the query
    edits: tuple[Edit, ...]
    before: str
    after: str
    note: str = ""

    def apply(self, text: str) -> str:
        out = text
        for e in sorted(self.edits, key=lambda e: e.start, reverse=True):
            out = out[: e.start] + e.text + out[e.end :]
        return out


class _Tree(SyntaxTree):
    """The syntax tree of one analysis, with the operator-token lookup mutation needs."""

    def token_kid(self, node: SyntaxNode) -> SyntaxNode | None:
        """The operator token of a binary/in expression: its first token child."""
        return next((k for k in self.kids(node) if k.token is not None), None)

    def separated(self, node: SyntaxNode) -> list[SyntaxNode]:
        """The SeparatedElement children of the first SyntaxList under *node*."""
        lists = [k for k in self.kids(node) if k.type == "SyntaxList"]
        return [k for k in self.kids(lists[0]) if k.type == "SeparatedElement"] if lists else []

    def element(self, sep: SyntaxNode) -> SyntaxNode:
        return next(k for k in self.kids(sep) if k.token is None)

    def let_name(self, node: SyntaxNode) -> str:
        """The let variable a (dynamic) expression is bound to, or ""."""
        up = self.parent(node)
        while up is not None and up.type not in ("LetStatement", "FilterOperator", "ExtendOperator"):
            up = self.parent(up)
        if up is None or up.type != "LetStatement":
            return ""
        decl = next((k for k in self.kids(up) if k.type == "NameDeclaration"), None)
        return self.source(decl).strip() if decl is not None else ""


def query_mutants(analysis: Analysis, *, output_columns: Iterable[str] = (), seed: int = 0) -> list[QueryMutant]:
    """Every mutant of *analysis*'s query (its tree must be present), in the order of their places in the
    text (then by operator). *output_columns*: result columns to rename (those an entity mapping or custom
    detail names); *seed* picks the sampled items of long lists."""
    t = _Tree(analysis)
    found: list[QueryMutant] = []
    for finder in (_operators, _numbers, _timespans, _regex_quantifiers, _list_items, _negations, _drops,
                   _join_kinds):
        found += finder(t) if finder is not _list_items else _list_items(t, seed)
    found += _renames(t, analysis, output_columns)
    unique: dict[str, QueryMutant] = {}
    for m in sorted(found, key=lambda m: (m.at, m.operator.value, m.after)):
        unique.setdefault(m.apply(t.text), m)
    return list(unique.values())


def _swap(node: SyntaxNode, to: str, operator: Operator, t: _Tree, whole: SyntaxNode) -> QueryMutant:
    before = t.source(whole)
    after = before[: node.span.start - whole.span.start] + to + before[node.span.end - whole.span.start :]
    return QueryMutant(operator, node.span.start, (Edit(node.span.start, node.span.end, to),), before, after)


def _operators(t: _Tree) -> list[QueryMutant]:
    out = []
    for n in t.of_type("BinaryExpression", "InExpression", "HasAnyExpression", "HasAllExpression"):
        tok = t.token_kid(n)
        if tok is None or tok.token is None:
            continue
        op = tok.token
        low = op.lower()
        if low in _LOGIC:
            out.append(_swap(tok, _LOGIC[low], Operator.LOGIC, t, n))
        for table, kind in ((_COMPARISON, Operator.COMPARISON), (_STRING, Operator.STRING_OPERATOR),
                            (_MEMBERSHIP, Operator.MEMBERSHIP)):
            for to in table.get(low, ()):
                out.append(_swap(tok, to, kind, t, n))
    return out


def _numbers(t: _Tree) -> list[QueryMutant]:
    out = []
    for n in t.of_type("LiteralExpression"):
        if n.result_type not in _NUMERIC:
            continue
        text = t.source(n)
        if not _NUMBER_TOKEN.match(text) or _argument_of(t, n, ("extract", "extract_all")) == 1:
            continue  # a capture group's number is not a constant of the rule's logic
        value = int(text)
        for to in (value + 1, value - 1):
            if to >= 0:
                out.append(QueryMutant(Operator.NUMBER, n.span.start, (Edit(n.span.start, n.span.end, str(to)),),
                                       text, str(to)))
    return out


def _argument_of(t: _Tree, n: SyntaxNode, functions: tuple[str, ...]) -> int | None:
    """The position of *n* among the arguments of a call to one of *functions*, or None."""
    sep = t.parent(n)
    arglist = t.parent(t.parent(sep)) if sep is not None and t.parent(sep) is not None else None
    call = t.parent(arglist) if arglist is not None else None
    if sep is None or sep.type != "SeparatedElement" or call is None or call.type != "FunctionCallExpression":
        return None
    if call.symbol not in functions:
        return None
    return next((i for i, e in enumerate(t.separated(arglist)) if e.index == sep.index), None)


def _format_span(seconds: float) -> str | None:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return None


def _timespans(t: _Tree) -> list[QueryMutant]:
    out = []
    for n in t.of_type("LiteralExpression"):
        if n.result_type != "timespan":
            continue
        text = t.source(n)
        try:
            seconds = parse_timespan(text).total_seconds()
        except ValueError:
            continue
        for factor, how in ((0.5, "halved"), (2, "doubled")):
            to = _format_span(seconds * factor)
            if to and to != text:
                out.append(QueryMutant(Operator.TIMESPAN, n.span.start, (Edit(n.span.start, n.span.end, to),),
                                       text, to, how))
    return out


def _regex_literal(t: _Tree, n: SyntaxNode) -> bool:
    """A string literal read as a regular expression: right of `matches regex`, first argument of extract(),
    or a let-bound string (a pattern variable)."""
    up = t.parent(n)
    if up is None:
        return False
    if up.type == "BinaryExpression":
        tok = t.token_kid(up)
        return tok is not None and (tok.token or "").lower() == "matches regex" and t.kids(up)[-1].index == n.index
    if up.type == "SeparatedElement":
        return _argument_of(t, n, ("extract", "extract_all")) == 0
    return up.type == "LetStatement"


def _regex_quantifiers(t: _Tree) -> list[QueryMutant]:
    out = []
    for n in t.of_type("LiteralExpression"):
        if n.result_type != "string" or not _regex_literal(t, n):
            continue
        text = t.source(n)
        for m in _QUANTIFIER.finditer(text):
            low = int(m.group(1))
            for to in (low + 1, low - 1):
                if to < 0:
                    continue
                start = n.span.start + m.start(1)
                quantifier = "{" + str(to) + (m.group(2) or "") + "}"
                out.append(QueryMutant(Operator.NUMBER, start, (Edit(start, n.span.start + m.end(1), str(to)),),
                                       m.group(0), quantifier, "regex quantifier"))
    return out


def _list_items(t: _Tree, seed: int) -> list[QueryMutant]:
    out = []
    for n in t.of_type("JsonArrayExpression", "InExpression", "HasAnyExpression", "HasAllExpression"):
        holder = n
        if n.type != "JsonArrayExpression":
            holder = next((k for k in t.kids(n) if k.type == "ExpressionList"), None)
            if holder is None:
                continue
        elements = t.separated(holder)
        items = [t.element(e) for e in elements]
        if len(items) < 2 or any(i.type != "LiteralExpression" for i in items):
            continue  # a list variable is mutated where it is defined; a computed item is not a literal list
        name = t.let_name(n) if n.type == "JsonArrayExpression" else ""
        chosen = list(range(len(items)))
        note = f"from {name}" if name else ""
        if len(items) > LONG_LIST:
            rng = random.Random(seed ^ zlib.crc32(f"{name}:{n.span.start}".encode()))  # noqa: S311 - a sample, not a secret
            chosen = sorted(rng.sample(chosen, SAMPLE))
            note = f"{note} (a sample of {SAMPLE} of {len(items)} items)".strip()
        for i in chosen:
            if i < len(items) - 1:
                edit = Edit(elements[i].span.start, elements[i + 1].span.start, "")
            else:
                edit = Edit(items[i - 1].span.end, elements[i].span.end, "")
            out.append(QueryMutant(Operator.LIST_ITEM, items[i].span.start, (edit,), t.source(items[i]),
                                   "(left out)", note))
    return out


def _negations(t: _Tree) -> list[QueryMutant]:
    out = []
    for n in t.of_type("FilterOperator"):
        pred = [k for k in t.kids(n) if k.token is None and k.type != "SyntaxList"]
        if not pred:
            continue
        p = pred[-1]
        before = t.source(p)
        out.append(QueryMutant(Operator.NEGATION, p.span.start,
                               (Edit(p.span.start, p.span.start, "not("), Edit(p.span.end, p.span.end, ")")),
                               f"where {before}", f"where not({before})"))
    for n in t.of_type("FunctionCallExpression"):
        name = t.kids(n)[0]
        if n.symbol == "not":
            args = t.kids(n)[1]
            out.append(QueryMutant(Operator.NEGATION, n.span.start, (Edit(name.span.start, name.span.end, ""),),
                                   t.source(n), t.source(args)))
        elif n.symbol in _EMPTY:
            out.append(_swap(name, _EMPTY[n.symbol], Operator.NEGATION, t, n))
    return out


def _chain(t: _Tree, n: SyntaxNode, op: str) -> list[SyntaxNode]:
    """The terms of a left-deep `a op b op c` chain."""
    kids = [k for k in t.kids(n) if k.token is None]
    tok = t.token_kid(n)
    if n.type != "BinaryExpression" or tok is None or (tok.token or "").lower() != op or len(kids) != 2:
        return [n]
    return _chain(t, kids[0], op) + [kids[1]]


def _drops(t: _Tree) -> list[QueryMutant]:
    out = []
    for n in t.of_type("FilterOperator"):
        parent = t.parent(n)
        if parent is None or parent.type != "PipeExpression":
            continue
        bar = next((k for k in t.kids(parent) if k.token == _PIPE), None)
        if bar is None:
            continue
        out.append(QueryMutant(Operator.DROP_WHERE, n.span.start, (Edit(bar.span.start, n.span.end, ""),),
                               "| " + t.source(n), "(dropped)"))
    for n in t.of_type("BinaryExpression"):
        tok = t.token_kid(n)
        op = (tok.token or "").lower() if tok is not None else ""
        if op not in _LOGIC:
            continue
        up = t.parent(n)
        if up is not None and up.type == "BinaryExpression" and (t.token_kid(up) or n).token == tok.token:
            continue  # not the top of its chain
        terms = _chain(t, n, op)
        for k, term in enumerate(terms):
            if k > 0:
                edit = Edit(terms[k - 1].span.end, term.span.end, "")
            else:
                edit = Edit(term.span.start, terms[1].span.start, "")
            before = f"{op} {t.source(term)}" if k > 0 else f"{t.source(term)} {op}"
            out.append(QueryMutant(Operator.DROP_WHERE, term.span.start, (edit,), before, "(dropped)",
                                   f"a term of an `{op}` chain"))
    return out


def _join_kinds(t: _Tree) -> list[QueryMutant]:
    out = []
    for n in t.of_type("JoinOperator"):
        kind = None
        for p in t.of_type("NamedParameter"):
            if p.parent >= 0 and t.parent(p) is not None and t.parent(t.parent(p)).index == n.index:  # type: ignore[union-attr]
                kids = [k for k in t.kids(p) if k.token is None]
                if kids and t.source(kids[0]).strip() == "kind":
                    kind = kids[-1]
        if kind is None:
            join = t.kids(n)[0]
            out.append(QueryMutant(Operator.JOIN_KIND, join.span.start, (Edit(join.span.end, join.span.end,
                                                                             " kind=inner"),),
                                   "join", "join kind=inner"))
            continue
        for to in _JOIN_KINDS.get(t.source(kind).strip().lower(), ()):
            out.append(_swap(kind, to, Operator.JOIN_KIND, t, kind))
    return out


def _renames(t: _Tree, analysis: Analysis, columns: Iterable[str]) -> list[QueryMutant]:
    if analysis.result is None:
        return []
    have = {c.name for c in analysis.result.columns}
    statements = list(t.of_type("ExpressionStatement"))
    if not statements:
        return []
    end = statements[-1].span.end
    out = []
    for name in dict.fromkeys(columns):
        if name in have:
            to = f"{name}_renamed"
            out.append(QueryMutant(Operator.RENAME_COLUMN, end, (Edit(end, end, f"\n| project-rename {to} = {name}"),),
                                   name, to, "an output column an entity mapping or custom detail names"))
    return out


def literal_lists(analysis: Analysis) -> dict[str, list[str]]:
    """Each list literal of the query (a `dynamic([...])` or an `in (...)` list of constants): its name (the
    let variable, else its place) and its items' texts."""
    t = _Tree(analysis)
    out: dict[str, list[str]] = {}
    for n in t.of_type("JsonArrayExpression"):
        items = [t.element(e) for e in t.separated(n)]
        if items and all(i.type == "LiteralExpression" for i in items):
            name = t.let_name(n) or f"the list at offset {n.span.start}"
            out[name] = [t.source(i) for i in items]
    return out
