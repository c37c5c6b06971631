"""Which stored functions a query calls: the definitions an engine or the pre-flight must be given.

duckdb-kql parses every definition it is given (about 0.1 s each for the ASIM parsers), so
passing only these keeps a query fast without changing its result. The calls come from
Microsoft's analyzer (harness.kql.analyzer), which follows them into the functions' bodies.
"""

from __future__ import annotations

import re

from harness.errors import HarnessError
from harness.kql.analyzer import analyze
from harness.kql.model import FunctionKind
from harness.workspace.context import WorkspaceContext

__all__ = ["functions_called", "stored_functions_called"]

_DEFINED = re.compile(r"^\s*(?:\.create(?:-or-alter)?\s+)?function\s+(?:with\s*\([^)]*\)\s*)?([A-Za-z_]\w*)", re.I)


def stored_functions_called(query: str, context: WorkspaceContext | None = None) -> set[str] | None:
    """The workspace functions *query* calls, directly or through another one (and the names it calls
    that the analyzer could not resolve, in case a definition it was not given defines them); None when
    the query cannot be analysed (too large or too deep), so the caller must assume any."""
    try:
        analysis = analyze(query, context)
    except HarnessError:
        return None
    return {f.name for f in analysis.functions if f.kind in (FunctionKind.STORED, FunctionKind.UNKNOWN)}


def functions_called(query: str, definitions: list[str], context: WorkspaceContext | None = None) -> list[str]:
    """The stored-function definitions *query* calls, directly or through another one, in their order.
    A definition whose name cannot be read is always passed, and every one when the query cannot be
    analysed. *context*: the workspace the definitions belong to (default: one holding just them)."""
    called = stored_functions_called(query, context or WorkspaceContext(functions=list(definitions)))
    if called is None:
        return list(definitions)
    out = []
    for definition in definitions:
        m = _DEFINED.search(definition)
        if m is None or m.group(1) in called:
            out.append(definition)
    return out
