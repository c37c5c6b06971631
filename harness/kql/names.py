"""Where a name appears in a query, for errors an engine reports without a KQL position.

An engine often names what it could not find (`Referenced column "Subjectt" not found`) but not
where; the place comes from Microsoft's analyzer's syntax tree (harness.kql.analyzer), so a name
inside a string or a comment is never taken for the one the query reads.
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.kql.analyzer import analyze

__all__ = ["locate_name"]


def _bare(token: str) -> str:
    """`['My Col']` and `["x"]` name `My Col` and `x`."""
    if token.startswith("[") and token.endswith("]"):
        inner = token[1:-1].strip()
        if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
            return inner[1:-1]
    return token


def locate_name(query: str, name: str) -> tuple[int | None, int | None]:
    """The 1-based line:column in *query* of the first name token *name* (exactly, else ignoring
    case), or (None, None)."""
    try:
        tree = analyze(query, tree=True).tree or ()
    except HarnessError:
        return None, None
    names = [n for n in tree if n.type == "TokenName" or n.type == "BracketedName"]
    tokens = [(n, _bare(n.span.text(query))) for n in names]
    for same in (lambda t: t == name, lambda t: t.lower() == name.lower()):
        hit = next((n for n, text in tokens if same(text)), None)
        if hit is not None:
            return hit.span.line, hit.span.column
    return None, None
