"""Which of Kusto.Language's diagnostics stand against a query, and the result Kusto would return.

`check` is what validation, the run's pre-flight and the corpus ask of a query: Microsoft's errors
(every one, less the documented exceptions below), the warnings promoted to findings by default
(`PROMOTED_WARNINGS`), the rest of the analyzer's warnings and suggestions (shown on request), and
the result schema. Positions are in the query text as written.

Documented departures from, and notes on, Kusto.Language's own verdict:

- **`todynamic()` / `parse_json()` of a dynamic value** (KS107 "A value of type string expected."):
  Kusto.Language declares the argument as string, but the engine accepts a dynamic argument and
  returns it unchanged (parse_json's documentation: "a JSON-formatted value or a dynamic property
  bag"). Sentinel
  rules pass `toscalar(... make_set(...))` this way (corpus rules 67775878, 677da133, b1832f60,
  d804b39c). Accepted, and listed as a note so it is not silent.
- Nothing is needed for `union isfuzzy=true`: Kusto.Language already reports a leg whose table the
  workspace lacks as warning KS205 (Kusto drops the leg and runs the others), which is promoted.
  An error inside a leg whose table exists stands: Kusto's fuzzy resolution covers only the union's
  sources (corpus rule 06c52a66 reads `Type` in its WireData leg after a `summarize` removed it).

Nothing else is overridden: where the old hand-written resolver and Kusto.Language disagreed
(case of column names, `find` output, `count(x)`, project-reorder and make-series column order,
the `_type` suffixes of union columns with clashing types), Kusto.Language is Microsoft's and wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.kql.analyzer import Workspace, analyzer
from harness.kql.model import Analysis, Diagnostic, ResultSchema, Span, SyntaxNode
from harness.workspace.context import WorkspaceContext

__all__ = [
    "ACCEPTED_REASONS", "PROMOTED_WARNINGS", "Accepted", "Checked", "UnknownWatchlist", "check", "unknown_watchlists",
]

#: Kusto.Language warnings reported by default (each changes what a rule matches, silently);
#: every other warning and suggestion (e.g. KS508 join without kind, KS507 deprecated function,
#: KS500 `contains`) only with `validate --kql-warnings`.
PROMOTED_WARNINGS: dict[str, str] = {
    "KS179": "an operator parameter Kusto does not recognise is ignored",
    "KS205": "a fuzzy union source that does not exist is dropped",
    "KS510": "a column with the same name silently replaces a let variable or parameter",
    "KS512": "a called stored function has errors in its definition",
}

ACCEPTED_REASONS: dict[str, str] = {
    "KS107-todynamic": (
        "todynamic()/parse_json() of a dynamic value: Kusto.Language expects a string, but Kusto's engine "
        "accepts a dynamic value and returns it unchanged"
    ),
}

_DYNAMIC_PARSERS = frozenset({"todynamic", "parse_json", "toobject"})


@dataclass(frozen=True)
class Accepted:
    """An error Kusto.Language reports that the harness accepts (see the module docstring)."""

    diagnostic: Diagnostic
    reason: str


@dataclass(frozen=True)
class Checked:
    """Kusto.Language's verdict on one query, with the harness's documented exceptions applied."""

    analysis: Analysis  # of the text as written
    errors: tuple[Diagnostic, ...]
    warnings: tuple[Diagnostic, ...]  # promoted (PROMOTED_WARNINGS)
    other: tuple[Diagnostic, ...]  # every other warning and suggestion
    accepted: tuple[Accepted, ...] = ()

    @property
    def result(self) -> ResultSchema | None:
        """The columns Kusto returns (None: not a table, or the query has errors the analyzer could not type)."""
        return self.analysis.result

    @property
    def ok(self) -> bool:
        return not self.errors


def check(query: str, context: WorkspaceContext | Workspace | None = None, *, analyzers: bool = False) -> Checked:
    """Analyse *query* and apply the documented exceptions. *analyzers*: also Kusto.Language's
    analyzers (KS5xx advice; two of them are promoted warnings)."""
    an = analyzer()
    # The context, not its declared workspace: an analysis kept on disk needs no analyzer (a warm run starts none).
    ws = context
    analysis = an.analyze(query, ws, analyzers=analyzers)
    diagnostics = list(analysis.diagnostics)
    accepted: list[Accepted] = []
    errors = [d for d in diagnostics if d.is_error]
    if any(d.code == "KS107" for d in errors):
        tree = an.analyze(query, ws, tree=True).tree or ()
        for d in [d for d in errors if d.code == "KS107" and _dynamic_parse_argument(d, tree)]:
            errors.remove(d)
            accepted.append(Accepted(d, ACCEPTED_REASONS["KS107-todynamic"]))
    warnings = [d for d in diagnostics if not d.is_error and d.code in PROMOTED_WARNINGS]
    other = [d for d in diagnostics if not d.is_error and d.code not in PROMOTED_WARNINGS]
    return Checked(analysis, tuple(errors), tuple(warnings), tuple(other), tuple(accepted))


# -- todynamic(dynamic) -------------------------------------------------------------------------


def _dynamic_parse_argument(d: Diagnostic, tree: tuple[SyntaxNode, ...]) -> bool:
    """Is *d* about the argument of todynamic()/parse_json(), and is that argument dynamic?"""
    if d.span is None or "string expected" not in d.message:
        return False
    node = next((n for n in tree if n.span.start == d.span.start and n.span.end == d.span.end
                 and n.result_type is not None), None)
    if node is None or node.result_type != "dynamic":
        return False
    chain = []
    parent = node.parent
    while parent >= 0 and len(chain) < 4:
        chain.append(tree[parent])
        parent = tree[parent].parent
    types = [n.type for n in chain]
    if types[:3] != ["SeparatedElement", "SyntaxList", "ExpressionList"] or len(chain) < 4:
        return False
    call = chain[3]
    return call.type == "FunctionCallExpression" and (call.symbol or "").lower() in _DYNAMIC_PARSERS


# -- watchlists -----------------------------------------------------------------------------------

_WATCHLIST_CALL = re.compile(r"""_GetWatchlist\s*\(\s*(?:watchlistAlias\s*=\s*)?(['"])(?P<alias>[^'"]*)\1\s*\)\Z""")


@dataclass(frozen=True)
class UnknownWatchlist:
    """`_GetWatchlist('alias')` naming no configured watchlist: Sentinel returns no rows, silently."""

    alias: str
    span: Span

    @property
    def message(self) -> str:
        return f"unknown watchlist {self.alias!r}: _GetWatchlist returns no rows for it"


def unknown_watchlists(analysis: Analysis, context: WorkspaceContext | None) -> list[UnknownWatchlist]:
    """Calls of `_GetWatchlist` with a literal alias that is not configured (only when some watchlists
    are: without any, every alias is open, as in a workspace the harness knows nothing about)."""
    if context is None or not context.watchlists:
        return []
    out = []
    for call in analysis.functions:
        if call.name != "_GetWatchlist" or call.via is not None:
            continue
        m = _WATCHLIST_CALL.match(call.span.text(analysis.text))
        if m and m.group("alias") not in context.watchlists:
            out.append(UnknownWatchlist(m.group("alias"), call.span))
    return out
