"""Pre-flight: before the engine runs a detection, ask Microsoft's analyzer (Kusto.Language, through
harness.kql.diagnostics) whether Kusto would accept it, against the workspace's schemas, stored
functions and watchlists. An error Kusto would report (an unknown table, column or function, a type
or arity mistake, a syntax error) is the detection's error at its place in the rule file: the
embedded engine would often report only a bare binder error with no position, or run a query Kusto
refuses. A `_GetWatchlist` alias that names no configured watchlist is one too (Sentinel would
silently return no rows).
"""

from __future__ import annotations

from harness.errors import HarnessError, QuerySyntaxError, SchemaError
from harness.kql.diagnostics import check, unknown_watchlists
from harness.kql.guard import refuse_query
from harness.model import Detection
from harness.workspace.context import WorkspaceContext


def preflight(det: Detection, context: WorkspaceContext) -> HarnessError | None:
    """The first error Kusto would report in *det*'s query (others named after it), or None. A query the
    engines refuse outright (a control command, `set`, ...: harness.kql.guard) is left to them, so it
    is refused with the same words everywhere."""
    try:
        if refuse_query(det.query, context=context) is not None:
            return None
        checked = check(det.query, context)
    except HarnessError as exc:  # past a bound (size, nesting, analysis time or memory), or the analyzer failed
        line, column = det.file_position(exc.line, exc.column)
        return type(exc)(exc.reason, file=det.path, detection=det.key, line=line, column=column)
    problems = [(d.code, d.message, d.span.line if d.span else None, d.span.column if d.span else None, d.syntax)
                for d in checked.errors]
    problems += [("", w.message, w.span.line, w.span.column, False)
                 for w in unknown_watchlists(checked.analysis, context)]
    if not problems:
        return None
    problems.sort(key=lambda p: (p[2] or 0, p[3] or 0, p[0]))
    code, message, line, column, syntax = problems[0]
    reason = f"{message} [{code}]" if code else message
    if len(problems) > 1:
        others = "; ".join(p[1] for p in problems[1:4]) + ("; ..." if len(problems) > 4 else "")
        reason += f" (also: {others})"
    line, column = det.file_position(line, column)
    if syntax:
        return QuerySyntaxError(reason, file=det.path, detection=det.key, span=(line, column))
    return SchemaError(reason, file=det.path, detection=det.key, line=line, column=column)
